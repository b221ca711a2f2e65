"""Credit records as the dictionaries pages, APIs and reports show: department, public and version views.

:func:`record_view` (department view, IDs masked), :func:`public_record_view` (what the public portal may show),
:func:`version_view`, :func:`subject_records_view` (a subject's public records on a day) and
:func:`mark_objections` (marks records under an open objection, asking the open-objection providers in ``core.hooks``). Serialisation
only: the rows come from ``records.queries``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from xinyong.catalog.fields import generic_kinds, standards
from xinyong.catalog.rules import PartyKind
from xinyong.core import hooks
from xinyong.identifiers.masking import mask_name
from xinyong.records import packing, publicity, versions
from xinyong.records.models import CreditRecord, RecordVersion, dictionary_loader
from xinyong.records.queries import RecordRow, facts, rules
from xinyong.subjects.models import Subject

_GENERIC = frozenset(generic_kinds())


def mark_objections(session: Session, views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Set ``objection`` to "异议处理中" on the views of records with an open objection (``None`` otherwise).

    Asks the open-objection providers (``core.hooks``; the cases domain, one query per 1,000 records); cases
    changes records only through this service.
    """
    open_ids = {
        i for kind, i in hooks.open_objection_targets(session, record_ids=[v["id"] for v in views]) if kind == "record"
    }
    for v in views:
        v["objection"] = hooks.OBJECTION_MARKER if v["id"] in open_ids else None
    return views


def record_view(row: RecordRow) -> dict[str, Any]:
    """The department view of a record (IDs of persons masked; never the clear number)."""
    r, s = row.record, row.subject
    return {
        "id": r.id,
        "kind": r.kind,
        "doc_no": r.doc_no,
        "doc_no_norm": r.doc_no_norm,
        "authority": r.authority,
        "authority_uscc": r.authority_uscc,
        "decision_date": r.decision_date,
        "severity": r.severity,
        "penalty_types": list(r.penalty_types or []),
        "fine_yuan": str(r.fine_yuan) if r.fine_yuan is not None else None,
        "licence_valid_from": r.licence_valid_from,
        "licence_valid_to": r.licence_valid_to,
        "party_kind": r.party_kind,
        "party_name": r.party_name,
        "subject": {"id": s.id, "name": s.name, "uscc": s.uscc, "resident_id": s.resident_id_masked},
        "department_id": r.department_id,
        "current_version_id": r.current_version_id,
        "versions": r.version_count,
        "received_at": r.received_at,
        "workdays_late": r.workdays_late,
        "late": r.late,
        "withdrawn_at": r.withdrawn_at,
        "withdrawn_reason": r.withdrawn_reason,
        "ended_on": r.ended_on,
        "public": row.public,
        "status": row.status,
        "status_reason": row.reason,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
    }


def public_record_view(row: RecordRow) -> dict[str, Any]:
    """What the public sees: the decision, and the party with a person's name and ID masked."""
    r, s = row.record, row.subject
    person = r.party_kind == PartyKind.NATURAL_PERSON.value
    return {
        "id": r.id,
        "kind": r.kind,
        "doc_no": r.doc_no,
        "authority": r.authority,
        "decision_date": r.decision_date,
        "penalty_types": list(r.penalty_types or []),
        "fine_yuan": str(r.fine_yuan) if r.fine_yuan is not None else None,
        "licence_valid_from": r.licence_valid_from,
        "licence_valid_to": r.licence_valid_to,
        "party_kind": r.party_kind,
        "party_name": mask_name(r.party_name) if person else r.party_name,
        "party_uscc": None if person else s.uscc,
        "party_id": s.resident_id_masked if person else None,
        "status_reason": row.reason,
    }


#: Roles whose value the record's own columns show (party, authority): not repeated among a class's fields.
_SHOWN_ROLES = frozenset(
    {
        "party_name",
        "party_kind",
        "party_uscc",
        "party_id_type",
        "party_id_no",
        "legal_rep",
        "authority",
        "authority_uscc",
    }
)


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "、".join(str(v) for v in value)
    if isinstance(value, bool):
        return "是" if value else "否"
    return "" if value is None else str(value)


def attach_class_fields(session: Session, views: list[dict[str, Any]], *, public: bool = True) -> list[dict[str, Any]]:
    """Give the views of records of the other information classes (issue #18) their class's fields, from the
    current version's data, as ``fields`` (``[{key, label, value}]``, in the standard's order) and the class's
    name as ``class_name``. ``public``: only the fields the standard marks public (what the portal and the public
    report may show); personal numbers are never public (the standard refuses it) and are stored masked anyway.
    One statement for all the views."""
    wanted = [v for v in views if v.get("kind") in _GENERIC]
    if not wanted:
        return views
    data: dict[int, dict[str, Any]] = {}
    c = CreditRecord
    ids = [v["id"] for v in wanted]
    for start in range(0, len(ids), 900):
        stmt = (
            select(c.id, RecordVersion.version_no, RecordVersion.content, RecordVersion.data, RecordVersion.packed)
            .join(RecordVersion, RecordVersion.id == c.current_version_id)
            .where(c.id.in_(ids[start : start + 900]))
        )
        data.update(
            (rid, packing.full(session, n, content, d, [], packed).data)
            for rid, n, content, d, packed in session.execute(stmt)
        )
    for v in wanted:
        standard = standards()[v["kind"]]
        values = data.get(v["id"], {})
        v["class_name"] = standard.name_zh
        v["fields"] = [
            {"key": f.key, "label": f.label, "value": _text(values.get(f.key))}
            for f in standard.fields
            if (f.public or not public)
            and not f.personal
            and f.role not in _SHOWN_ROLES
            and values.get(f.key) not in (None, "", [])
        ]
    return views


def version_view(v: RecordVersion) -> dict[str, Any]:
    """A version in full (``records.versions``), whether or not ``v`` was expanded already."""
    packed = v.packed if v.content is None else None  # else loaded: expanded already (records.models)
    session = object_session(v)
    load = dictionary_loader(session) if session is not None else None
    whole = versions.full(v.version_no, v.content, v.data, v.changed_fields, packed, load)
    return {
        "id": v.id,
        "version_no": v.version_no,
        "content_hash": v.content_hash,
        "content": whole.content,
        "data": whole.data,
        "extra": v.extra,
        "flags": v.flags,
        "changed_fields": whole.changed_fields,
        "batch_id": v.batch_id,
        "source_row": v.source_row,
        "department_id": v.department_id,
        "received_at": v.received_at,
        "actor": v.actor,
    }


def subject_records_view(session: Session, subject: Subject, today: dt.date) -> list[dict[str, Any]]:
    """A subject's records, each with its versions and whether it is public on ``today`` (for ``subjects show``)."""
    records = list(
        session.scalars(
            select(CreditRecord)
            .where(CreditRecord.subject_id == subject.id)
            .order_by(CreditRecord.decision_date.desc(), CreditRecord.id.desc())
        )
    )
    if not records:
        return []
    kind_rules = rules(session)
    versions: dict[int, list[RecordVersion]] = {}
    if records:
        for v in session.scalars(
            select(RecordVersion)
            .where(RecordVersion.record_id.in_([r.id for r in records]))
            .order_by(RecordVersion.record_id, RecordVersion.version_no)
        ):
            versions.setdefault(v.record_id, []).append(v)
    out = []
    for r in records:
        label, reason = publicity.status_label(kind_rules[r.kind], facts(r), today)
        view = record_view(RecordRow(r, subject, label == publicity.STATUS_PUBLIC, label, reason))
        view["history"] = [version_view(v) for v in versions.get(r.id, [])]
        out.append(view)
    return mark_objections(session, out)
