"""The government credit file (政务共享, issue #15 point 1): what a department may use about a subject.

``GET /api/v1/subjects/{code}/file?purpose=…`` and ``xinyong reports file CODE --purpose …`` answer with every
record and list entry of every department whose information class the catalog lets departments share, plus the
subject's commitments with their fulfilment, its current grades and the open objections (marked "异议处理中").

The rules (docs/sharing.md, "政务共享: the government credit file"):

- **Which classes.** A class is shared when its catalog attribute for the subject's kind (``public_attribute``; for
  a natural person ``natural_person_attribute``) is ``public``, ``conditional`` or ``shared`` — 无条件共享 and
  有条件共享 of standards.md §8; ``restricted`` (不予共享) stays with the owning department and is left out.
- **How long.** Publicity is not use: a record stays in the file while it is public, and after that for the class's
  look-back (``catalog_classes.share_lookback_years``, default :data:`DEFAULT_LOOKBACK_YEARS`) counted from the
  decision date for a penalty, from the end of validity for a licence; a list entry while in force and for the
  look-back of its list's class after its term ended or it was removed.
- **Never.** A withdrawn record (撤回: the decision was revoked, changed or found unlawful), a list entry removed
  because the listing was revoked, cancelled by the court or never made, and superseded (corrected-away) versions
  of a record: the file shows each record's current version only.
- **Repaired** penalties (credit repair ended their publicity: ``ended_on``) stay within the look-back, marked
  ``repaired``.
- **Purpose and log.** ``purpose`` is required and one of :data:`PURPOSES`; every answer about a known subject, and
  every refusal (purpose missing or unknown, a natural person asked for by a role that may not see persons), is a
  row of the subject's access log (``subjects.access_log``) naming the principal, department and purpose.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.auth.roles import Principal, Role
from xinyong.auth.service import SOURCE_PROVINCE, external_department_ids
from xinyong.catalog.fields import record_kinds, standards
from xinyong.catalog.models import InfoClass
from xinyong.catalog.rules import OPENNESS, PUBLIC_ATTRIBUTE_LABELS, PublicAttribute
from xinyong.catalog.service import prime_publicity_rules
from xinyong.commitments.service import subject_commitments_view
from xinyong.core import clock
from xinyong.core.errors import Forbidden, NotFound, XinyongError
from xinyong.evaluation.service import subject_results
from xinyong.lists.models import ListType
from xinyong.lists.queries import entry_histories, event_view, subject_entries_view
from xinyong.lists.rules import EffectiveStatus
from xinyong.records import publicity
from xinyong.records import queries as records_queries
from xinyong.records import views as records_views
from xinyong.records.inputs import RecordKind
from xinyong.subjects import access_log
from xinyong.subjects.models import Subject, SubjectKind
from xinyong.subjects.service import find_subject

ENDPOINT = "GET /api/v1/subjects/{code}/file"
ACTION = "reports.government_file"
DEFAULT_LOOKBACK_YEARS = 5
#: Records read per file (newest first); a subject with more is told so (``truncated``).
MAX_RECORDS = 1000
#: The file's 查询事由 (``other`` needs a text), from ``reports/data/file_purposes.yaml``.
PURPOSES_PATH = Path(__file__).parent / "data" / "file_purposes.yaml"
PURPOSES: dict[str, str] = {str(k): str(v) for k, v in yaml.safe_load(PURPOSES_PATH.read_text("utf-8")).items()}
#: Roles that may ask for the file; the admin may too.
FILE_ROLES = (Role.DEPT_OPERATOR, Role.DEPT_VIEWER, Role.BUSINESS_SYSTEM)
#: Roles that may see a natural person's file (as ``GET /api/v1/subjects/{code}``: not business systems).
PERSON_ROLES = frozenset({Role.ADMIN, Role.DEPT_OPERATOR, Role.DEPT_VIEWER})
#: List removals that undo the listing itself: such an entry never appears.
VOID_REMOVALS = frozenset({"revoked", "court_cancelled", "not_listed"})


class FileRefused(access_log.ReadRefused):
    """A refused file request about a known subject (logged in its access log before it is answered)."""

    endpoint = ENDPOINT
    action = ACTION


def shareable(attribute: str) -> bool:
    """政务共享 allowed: public, conditional or shared; never restricted."""
    return OPENNESS[PublicAttribute(attribute)] >= OPENNESS[PublicAttribute.SHARED]


def years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def parse_purpose(purpose: str | None, text: str | None) -> tuple[str, str]:
    """``(code, as logged)``; :class:`ValidationFailed` for a missing or unknown purpose, or ``other`` without text."""
    code, label = access_log.parse_purpose(purpose, text, PURPOSES, file="政府信用档案")
    return code, f"政务共享（{label}）"


def _attribute(cls: InfoClass, subject: Subject) -> str:
    return cls.natural_person_attribute if subject.kind == SubjectKind.NATURAL_PERSON.value else cls.public_attribute


def _lookback(cls: InfoClass | None) -> int:
    """The catalog's look-back of the class; else its data standard's (issue #18); else the platform default."""
    if cls is None:
        return DEFAULT_LOOKBACK_YEARS
    if cls.share_lookback_years is None:
        standard = standards().get(cls.code)
        if standard is not None and standard.publicity.lookback_years is not None:
            return standard.publicity.lookback_years
        return DEFAULT_LOOKBACK_YEARS
    return cls.share_lookback_years


def read_file(
    session: Session,
    *,
    actor: Principal,
    code: str,
    purpose: str | None,
    purpose_text: str | None = None,
    today: dt.date | None = None,
    reader: Session | None = None,
) -> dict[str, Any]:
    """The subject's government credit file, logged. A refusal about a known subject raises :class:`FileRefused`
    (log it with :func:`log_refusal` in the same transaction); an unknown subject :class:`NotFound`.

    ``reader``: a session on the read replica (``core.db.Database.read_session``) that the file is read from;
    the access log is written in ``session`` (the primary) all the same. Without it both are ``session``."""
    rs = reader if reader is not None else session
    subject = find_subject(rs, code)
    if subject is None:
        raise NotFound("未找到该信用主体", code="subject_not_found")
    logged_purpose = f"政务共享（{(purpose or '未说明')[:40]}）"
    try:
        if actor.role not in (Role.ADMIN, *FILE_ROLES):
            raise Forbidden("政府信用档案只向政府部门及其业务系统提供", code="role_not_allowed")
        _code, logged_purpose = parse_purpose(purpose, purpose_text)
        if subject.kind == SubjectKind.NATURAL_PERSON.value and actor.role not in PERSON_ROLES:
            raise Forbidden("该角色不能查询自然人的信用档案", code="person_not_allowed")
    except XinyongError as exc:
        raise FileRefused(exc, subject_id=subject.id, purpose=logged_purpose) from None
    today = today or clock.today()
    classes = {c.code: c for c in rs.scalars(select(InfoClass))}
    # the records' publicity rules come from these classes: not read again (records.queries.rules)
    prime_publicity_rules(rs, [classes[c] for c in record_kinds() if c in classes])
    shared = {c for c, cls in classes.items() if shareable(_attribute(cls, subject))}
    records, truncated = _records(rs, subject, classes, shared, today)
    lists = _lists(rs, subject, classes, shared, today)
    commitments = _commitments(rs, subject, actor, today) if "commitment" in shared else []
    grades = _grades(rs, subject, actor) if "evaluation" in shared else []
    read = sorted(
        {"registration"} & shared
        | {r["info_class"] for r in records}
        | {e["info_class"] for e in lists}
        | ({"commitment"} if commitments else set())
        | ({"evaluation"} if grades else set())
    )
    access_log.record(
        session,
        actor=actor,
        subject_id=subject.id,
        purpose=logged_purpose,
        endpoint=ENDPOINT,
        scope=read,
        action=ACTION,
        extra={"purpose_code": _code},
    )
    objections = sum(1 for v in [*records, *lists] if v.get("objection"))
    return {
        "subject": _subject_head(subject),
        "purpose": _code,
        "purpose_label": logged_purpose,
        "as_of": today,
        "classes": [
            {
                "code": c,
                "name": classes[c].name_zh,
                "attribute": _attribute(classes[c], subject),
                "attribute_label": PUBLIC_ATTRIBUTE_LABELS[PublicAttribute(_attribute(classes[c], subject))],
                "lookback_years": _lookback(classes[c]),
            }
            for c in sorted(shared)
        ],
        "not_shared": sorted(set(classes) - shared),
        "records": records,
        "records_truncated": truncated,
        "lists": lists,
        "commitments": commitments,
        "grades": grades,
        "open_objections": objections,
    }


#: Log a refused read in the subject's access log (``subjects.access_log.log_refusal``).
log_refusal = access_log.log_refusal


def _subject_head(subject: Subject) -> dict[str, Any]:
    person = subject.kind == SubjectKind.NATURAL_PERSON.value
    return {
        "id": subject.id,
        "kind": subject.kind,
        "name": subject.name,
        "uscc": None if person else subject.uscc,
        "resident_id": subject.resident_id_masked if person else None,
    }


def _records(
    session: Session, subject: Subject, classes: dict[str, InfoClass], shared: set[str], today: dt.date
) -> tuple[list[dict[str, Any]], bool]:
    rows = records_queries.list_records(
        session, subject_id=subject.id, public_only=False, today=today, limit=MAX_RECORDS + 1
    )
    truncated = len(rows) > MAX_RECORDS
    external = external_department_ids(session)
    out = []
    for row in rows[:MAX_RECORDS]:
        r = row.record
        class_code = r.kind  # every record's kind is its catalog class's code (issue #18)
        if class_code not in shared or r.withdrawn_at is not None:
            continue
        cutoff = years_before(today, _lookback(classes.get(class_code)))
        cls = classes.get(class_code)
        if r.kind == RecordKind.LICENCE or (cls is not None and (cls.publicity or {}).get("mode") == "while_valid"):
            end = r.licence_valid_to or r.ended_on
            keep = row.public or end is None or end >= cutoff
        else:
            keep = row.public or r.decision_date >= cutoff
        if not keep:
            continue
        view = records_views.record_view(row)
        view["info_class"] = class_code
        if r.kind not in (RecordKind.LICENCE, RecordKind.PENALTY):
            view["class_name"] = cls.name_zh if cls is not None else class_code
        view["repaired"] = publicity.repaired(r.kind, r.ended_on, today)
        view["share_label"] = "已信用修复" if view["repaired"] else "公示中" if row.public else "公示期满（回溯期内）"
        if r.department_id in external:  # forwarded by the provincial platform (docs/exchange.md §7)
            view["source"] = SOURCE_PROVINCE
        out.append(view)
    records_views.attach_class_fields(session, out, public=False)  # the other classes' fields (issue #18)
    return records_views.mark_objections(session, out), truncated


def _lists(
    session: Session, subject: Subject, classes: dict[str, InfoClass], shared: set[str], today: dt.date
) -> list[dict[str, Any]]:
    list_classes = dict(session.execute(select(ListType.code, ListType.info_class)).all())
    external = external_department_ids(session)
    out = []
    for e in subject_entries_view(session, subject, today):
        class_code = list_classes.get(e["list_code"])
        if (
            class_code not in shared
            or e["removal_reason"] in VOID_REMOVALS
            or e["effective_status"] == EffectiveStatus.NOTIFIED
        ):
            continue
        if not e["counts"]:
            ended = e["removed_on"] or e["term_end"]
            if ended is None or ended < years_before(today, _lookback(classes.get(class_code))):
                continue
        e["info_class"] = class_code
        if e.get("department_id") in external:
            e["source"] = SOURCE_PROVINCE
        out.append(e)
    histories = entry_histories(session, [e["id"] for e in out])  # one query, not one per entry
    for e in out:
        e["history"] = [event_view(ev) for ev in histories[e["id"]]]
    return out


def _commitments(session: Session, subject: Subject, actor: Principal, today: dt.date) -> list[dict[str, Any]]:
    return subject_commitments_view(session, subject, today, public=False, viewer=actor)


def _grades(session: Session, subject: Subject, actor: Principal) -> list[dict[str, Any]]:
    return subject_results(session, subject, role=actor.role.value if actor.role else None, history=False)
