"""The subject profile read model (issue #14): one place that decides what of a subject each audience sees.

:func:`build_profile` returns a :class:`SubjectProfile` — basics, the 双公示 records (licences, penalties), the list
entries, the credit commitments and the evaluation grades, each item marked "异议处理中" while an objection is open —
for one :class:`Audience`:

- ``PUBLIC`` (the portal's subject page, an organisation's credit report): records public today (in their
  publicity window), list entries by the one public rule (``lists.queries.public_entries``: counting today, on
  active lists whose catalog class is public, natural persons only where the class allows, masked), public
  commitments, grades only under models whose catalog class is public, a person's name masked;
- ``OWN`` (a natural person's own report): everything still in effect, published or not;
- ``ADMIN`` (``xinyong subjects show``): everything, records with their versions and publicity, every list entry
  with its status;
- ``BANK`` (信易贷: ``financing.service.subject_profile``, a bank the subject authorised): the records in the
  department view, every list entry, the government view of commitments (``viewer``), grades under the models a
  bank may see; the authorisation's scope (which classes) stays with ``financing``, which asks only for those
  sections;
The government file (政务共享: shared classes, look-back, history) is its own read, ``reports.government_file``.

Consumers: ``web.portal.subject_context``, ``reports.service.generate_report``, ``xinyong subjects show`` (through
``core.hooks.subject_profile``, filled by ``xinyong.wiring``: ``subjects`` sits below the domains that hold the
data), ``financing.service`` (the bank's profile). The consumers keep their presentation (HTML, PDF sections, JSON); what is *in* a profile is decided here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypedDict

from sqlalchemy.orm import Session

from xinyong.auth.roles import Principal, Role
from xinyong.catalog.fields import generic_kinds, standards
from xinyong.commitments.service import subject_commitments_view
from xinyong.evaluation.service import current_grades, subject_results
from xinyong.identifiers.masking import mask_name
from xinyong.lists import queries as lists_queries
from xinyong.records import publicity
from xinyong.records import queries as records_queries
from xinyong.records import views as records_views
from xinyong.records.inputs import RecordKind
from xinyong.subjects.models import KIND_LABELS, Subject, SubjectKind
from xinyong.subjects.service import SubjectView, public_view, subject_view


class Audience(StrEnum):
    PUBLIC = "public"
    OWN = "own"
    ADMIN = "admin"
    BANK = "bank"


class Section(StrEnum):
    BASICS = "basics"
    RECORDS = "records"
    LIST_ENTRIES = "list_entries"
    COMMITMENTS = "commitments"
    EVALUATIONS = "evaluations"


ALL_SECTIONS: frozenset[Section] = frozenset(Section)

#: A record as ``records.views`` shapes it (public view for PUBLIC/OWN, with ``public``; the department view with
#: versions for ADMIN, without them for BANK); ``objection`` is "异议处理中" or ``None``.
RecordItem = dict[str, Any]
#: A commitment as ``commitments.service.subject_commitments_view`` shapes it.
CommitmentItem = dict[str, Any]
#: A grade as ``evaluation.service.subject_results`` shapes it.
GradeItem = dict[str, Any]


class PublicListEntry(TypedDict):
    """A list entry as the public sees it (``lists.queries.public_entries``)."""

    id: int
    list_code: str
    list_name: str
    kind: str
    party_kind: str | None
    party_name: str
    party_code: str | None
    authority: str | None
    reason: str
    legal_basis: str | None
    decision_no: str | None
    listed_on: dt.date
    term_end: dt.date | None
    objection: str | None


#: The fields of a list entry that every answer built on a profile names (the portal's subject page adds
#: ``objection``; a bank's profile adds the entry's history and status too).
ENTRY_FIELDS = (
    "id",
    "list_code",
    "list_name",
    "kind",
    "reason",
    "legal_basis",
    "decision_no",
    "authority",
    "listed_on",
    "term_end",
)


_GENERIC = frozenset(generic_kinds())


@dataclass
class SubjectProfile:
    subject: Subject
    audience: Audience
    today: dt.date
    #: PUBLIC: ``subjects.public_view`` (an individual business's operator masked) with ``kind_label``; otherwise
    #: ``subjects.subject_view`` without history. ``None`` when the section was not asked for.
    basics: SubjectView | None = None
    #: Licences then penalties (PUBLIC/OWN: up to ``record_limit`` of each); ADMIN: all, newest decision first.
    records: list[RecordItem] = field(default_factory=list)
    #: PUBLIC: :class:`PublicListEntry`; OWN: the department view of entries counting today; ADMIN: every entry.
    list_entries: list[dict[str, Any]] = field(default_factory=list)
    commitments: list[CommitmentItem] = field(default_factory=list)
    grades: list[GradeItem] = field(default_factory=list)

    @property
    def licences(self) -> list[RecordItem]:
        return [r for r in self.records if r["kind"] == RecordKind.LICENCE]

    @property
    def penalties(self) -> list[RecordItem]:
        return [r for r in self.records if r["kind"] == RecordKind.PENALTY]

    @property
    def other_classes(self) -> list[dict[str, Any]]:
        """The records of the other information classes (issue #18) by class, in catalog order: ``code``,
        ``name`` and ``rows`` (each with its class's ``fields``); classes without records are left out."""
        by_kind: dict[str, list[RecordItem]] = {}
        for r in self.records:
            if r["kind"] in _GENERIC:
                by_kind.setdefault(r["kind"], []).append(r)
        return [
            {"code": code, "name": standards()[code].name_zh, "rows": by_kind[code]}
            for code in generic_kinds()
            if code in by_kind
        ]

    def objection_marks(self) -> dict[str, list[int]]:
        """Ids of the records and list entries shown with "异议处理中"."""
        return {
            "records": [r["id"] for r in self.records if r.get("objection") and "id" in r],
            "list_entries": [e["id"] for e in self.list_entries if e.get("objection")],
        }


def _basics(subject: Subject, audience: Audience) -> SubjectView:
    if audience is not Audience.PUBLIC:
        return subject_view(subject, include_history=False)
    basic = public_view(subject)
    if subject.kind == SubjectKind.INDIVIDUAL_BUSINESS.value and basic["legal_rep"]:
        basic["legal_rep"] = mask_name(basic["legal_rep"])  # 经营者 is a person
    basic["kind_label"] = KIND_LABELS[SubjectKind(subject.kind)]
    return basic


def _records(
    session: Session,
    subject: Subject,
    kind: str | None,
    today: dt.date,
    audience: Audience,
    limit: int,
    kinds: tuple[str, ...] | None = None,
) -> list[RecordItem]:
    """PUBLIC: the records' public view, public today; OWN: the same view of everything still in effect.
    ``kinds`` (with ``kind`` None): several classes in one statement."""
    if audience is Audience.PUBLIC:
        rows = records_queries.list_records(
            session, subject_id=subject.id, kind=kind, kinds=kinds, public_only=True, today=today, limit=limit
        )
    else:
        rows = [
            r
            for r in records_queries.list_records(
                session, subject_id=subject.id, kind=kind, kinds=kinds, public_only=False, today=today, limit=10 * limit
            )
            if r.status in (publicity.STATUS_PUBLIC, publicity.STATUS_NOT_PUBLIC)
        ][:limit]
    views = records_views.mark_objections(session, [records_views.public_record_view(r) for r in rows])
    for view, row in zip(views, rows, strict=True):
        view["public"] = row.public
    return views


def _public_records(
    session: Session, subject: Subject, kinds: tuple[str, ...], today: dt.date, limit: int
) -> list[RecordItem]:
    """PUBLIC: what :func:`_records` gives for each kind in turn, read in one statement."""
    by_kind = records_queries.subject_public_records(session, subject.id, kinds, today=today, limit=limit)
    rows = [row for kind in kinds for row in by_kind[kind]]
    views = records_views.mark_objections(session, [records_views.public_record_view(r) for r in rows])
    for view, row in zip(views, rows, strict=True):
        view["public"] = row.public
    return views


def public_list_entries(
    session: Session, subject: Subject, today: dt.date, limit: int | None = None
) -> list[dict[str, Any]]:
    """The subject's list entries the public sees: the one public rule (``lists.queries.public_entries``)."""
    return lists_queries.public_entries(session, today=today, subject_id=subject.id, limit=limit)


def build_profile(
    session: Session,
    subject: Subject,
    *,
    audience: Audience,
    today: dt.date,
    sections: Iterable[Section] = ALL_SECTIONS,
    record_limit: int = 500,
    entry_limit: int | None = None,
    record_kinds: Iterable[str] = ("licence", "penalty"),
    viewer: Principal | None = None,
    other_classes: bool = True,
) -> SubjectProfile:
    """What ``audience`` may see of ``subject`` on ``today``; only the ``sections`` asked for are read.

    ``record_limit``: records per kind (newest decision first; ADMIN: no limit); ``record_kinds``: which of them
    (PUBLIC/OWN/BANK); ``entry_limit``: list entries (PUBLIC only; ``None``: all); ``viewer``: who reads the
    commitments (BANK)."""
    wanted = frozenset(sections)
    profile = SubjectProfile(subject=subject, audience=audience, today=today)
    if Section.BASICS in wanted:
        profile.basics = _basics(subject, audience)
    if Section.RECORDS in wanted:
        if audience is Audience.ADMIN:
            profile.records = records_views.subject_records_view(session, subject, today)
        elif audience is Audience.BANK:
            profile.records = [
                records_views.record_view(r)
                for kind in record_kinds
                for r in records_queries.list_records(
                    session, subject_id=subject.id, kind=kind, public_only=False, today=today, limit=record_limit
                )
            ]
        elif audience is Audience.PUBLIC:
            # every kind asked for, and the other classes with a data standard (issue #18), in one statement (the
            # subject page: docs/performance.md), up to ``record_limit`` of each
            main = tuple(record_kinds)
            views = _public_records(
                session, subject, (*main, *(generic_kinds() if other_classes else ())), today, record_limit
            )
            profile.records = [v for v in views if v["kind"] in main]
            others = [v for v in views if v["kind"] not in main]
            records_views.attach_class_fields(session, others, public=True)
            profile.records.extend(others)
        else:
            profile.records = [
                view
                for kind in record_kinds
                for view in _records(session, subject, kind, today, audience, record_limit)
            ]
            if other_classes:  # every other class with a data standard (issue #18), in one statement
                others = _records(session, subject, None, today, audience, record_limit, kinds=generic_kinds())
                records_views.attach_class_fields(session, others, public=False)
                profile.records.extend(others)
    if Section.LIST_ENTRIES in wanted:
        if audience is Audience.PUBLIC:
            profile.list_entries = public_list_entries(session, subject, today, entry_limit)
        else:
            entries = lists_queries.subject_entries_view(session, subject, today)
            profile.list_entries = [e for e in entries if e["counts"]] if audience is Audience.OWN else entries
    if Section.COMMITMENTS in wanted:
        profile.commitments = subject_commitments_view(
            session,
            subject,
            today,
            public=audience is Audience.PUBLIC,
            viewer=viewer if audience is Audience.BANK else None,
        )
    if Section.EVALUATIONS in wanted:
        if audience is Audience.BANK:
            profile.grades = current_grades(
                session, [subject.id], role=Role.BANK.value, kinds={subject.id: subject.kind}
            ).get(subject.id, [])
        elif audience is Audience.ADMIN:
            profile.grades = subject_results(session, subject, role="admin", history=False)
        else:
            profile.grades = subject_results(session, subject, role=None, history=False, explain_lines=False)
    return profile


def subject_profile(session: Session, subject: Subject, today: dt.date) -> dict[str, Any]:
    """For ``xinyong subjects show``: ``records``, ``list_entries`` and ``evaluations`` of the ADMIN profile."""
    profile = build_profile(
        session,
        subject,
        audience=Audience.ADMIN,
        today=today,
        sections=(Section.RECORDS, Section.LIST_ENTRIES, Section.EVALUATIONS),
    )
    return {"records": profile.records, "list_entries": profile.list_entries, "evaluations": profile.grades}
