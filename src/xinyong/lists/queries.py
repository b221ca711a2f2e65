"""List entries, read side: the department's list, one entry with its history, the public lists, the views.

:func:`list_entries` filters by type, subject and status on a day (the status derived from the dates in SQL,
never stored), limited to what the viewer may see (:func:`_visible`: public types, or the viewer's department's);
:func:`get_entry` and :func:`entry_history` read one entry; :func:`public_entries`, :func:`list_sizes` and
:func:`subject_entries_view` serve the public portal; :func:`entry_view`, :func:`event_view` and
:func:`mark_objections` (open objections, asked of the providers in ``core.hooks``) shape what pages and APIs show.
Nothing here changes the database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Date, Select, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from xinyong.auth import service as auth_service
from xinyong.auth.roles import Principal
from xinyong.catalog.models import InfoClass
from xinyong.core import clock, hooks
from xinyong.core.db import IN_CHUNK
from xinyong.core.errors import NotFound, ValidationFailed
from xinyong.identifiers.masking import mask_name
from xinyong.lists.models import EntryStatus, ListEntry, ListEntryEvent, ListType
from xinyong.lists.rules import (
    REMOVAL_REASON_LABELS,
    STATUS_LABELS,
    EffectiveStatus,
    effective_status,
    in_force,
    in_force_clause,
)
from xinyong.lists.service import resolve_subject
from xinyong.lists.types import get_list_type, list_types
from xinyong.subjects.models import Subject, SubjectKind
from xinyong.subjects.service import find_subject

EFFECTIVE_STATUSES = tuple(EffectiveStatus)


def _status_clause(status: str, on: dt.date) -> Any:
    e = ListEntry
    removed = and_(e.removed_on.is_not(None), e.removed_on <= on)
    not_removed = or_(e.removed_on.is_(None), e.removed_on > on)
    if status == EffectiveStatus.ACTIVE:
        return in_force_clause(e, on)
    if status == EffectiveStatus.REMOVED:
        return removed
    if status == EffectiveStatus.NOTIFIED:
        return and_(not_removed, or_(e.status == EntryStatus.NOTIFIED, e.listed_on.is_(None), e.listed_on > on))
    if status == EffectiveStatus.EXPIRED:
        return and_(
            not_removed, e.status != EntryStatus.NOTIFIED, e.listed_on <= on, e.term_end.is_not(None), e.term_end < on
        )
    raise ValidationFailed(
        f"未知的状态 {status!r}（notified / active / expired / removed）",
        code="unknown_status",
        details={"allowed": list(EFFECTIVE_STATUSES)},
    )


def public_type_ids(session: Session) -> list[int]:
    """Types whose catalog class is public (公开属性 public)."""
    return list(
        session.scalars(
            select(ListType.id)
            .join(InfoClass, InfoClass.code == ListType.info_class)
            .where(InfoClass.public_attribute == "public")
        )
    )


def _visible(session: Session, viewer: Principal | None) -> Any:
    """Department roles see their own department's entries and those of public-attribute lists."""
    if viewer is None or viewer.is_admin:
        return None
    public_ids = public_type_ids(session)
    own = ListEntry.department_id == viewer.department_id if viewer.department_id is not None else None
    clauses = [c for c in (own, ListEntry.list_type_id.in_(public_ids) if public_ids else None) if c is not None]
    return or_(*clauses) if clauses else ListEntry.id.is_(None)


@dataclass
class EntryRow:
    entry: ListEntry
    list_type: ListType
    subject: Subject | None


@dataclass(frozen=True)
class EntryFilter:
    """Which list entries, named as the API and the CLI take them: the list type, the subject and the department
    by code, the status as of the day ``on``."""

    list_code: str | None
    subject: str | None
    department: str | None
    status: str
    on: dt.date


def entries_by_codes(
    session: Session, which: EntryFilter, *, viewer: Principal | None = None, limit: int = 50, offset: int = 0
) -> list[EntryRow]:
    """:func:`list_entries` for an :class:`EntryFilter`."""
    department_id = auth_service.get_department(session, ref=which.department).id if which.department else None
    return list_entries(
        session,
        list_code=which.list_code,
        subject_id=subject_id_for(session, which.subject),
        department_id=department_id,
        status=which.status,
        on=which.on,
        viewer=viewer,
        limit=limit,
        offset=offset,
    )


def list_entries(
    session: Session,
    *,
    list_code: str | None = None,
    subject_id: int | None = None,
    department_id: int | None = None,
    status: str | None = None,
    on: dt.date | None = None,
    viewer: Principal | None = None,
    search: str | None = None,
    limit: int = 50,
    offset: int = 0,
    total: list[int] | None = None,
) -> list[EntryRow]:
    """Entries by filters, newest first; ``status`` is the effective status on ``on`` (default today).

    ``search`` (the console's list page): the party's name contains it, or its code (or the subject's USCC) is it.
    ``total``: a list that receives the number of matching entries (the pager's 共 N 条)."""
    on = on or clock.today()
    stmt = (
        select(ListEntry, ListType, Subject)
        .join(ListType, ListType.id == ListEntry.list_type_id)
        .outerjoin(Subject, Subject.id == ListEntry.subject_id)
    )
    if list_code:
        stmt = stmt.where(ListEntry.list_type_id == get_list_type(session, list_code).id)
    if subject_id is not None:
        stmt = stmt.where(ListEntry.subject_id == subject_id)
    if department_id is not None:
        stmt = stmt.where(ListEntry.department_id == department_id)
    if status and status != "all":
        stmt = stmt.where(_status_clause(status, on))
    visible = _visible(session, viewer)
    if visible is not None:
        stmt = stmt.where(visible)
    if search:
        stmt = stmt.where(
            or_(
                ListEntry.party_name.contains(search, autoescape=True),
                ListEntry.party_code == search.upper(),
                Subject.uscc == search.upper(),
            )
        )
    if total is not None:
        total.append(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    stmt = stmt.order_by(ListEntry.id.desc()).limit(limit).offset(offset)
    return [EntryRow(e, t, s) for e, t, s in session.execute(stmt).all()]


def get_entry(session: Session, entry_id: int, *, viewer: Principal | None = None) -> EntryRow:
    """One entry (:class:`NotFound` also when a department may not see it)."""
    stmt = (
        select(ListEntry, ListType, Subject)
        .join(ListType, ListType.id == ListEntry.list_type_id)
        .outerjoin(Subject, Subject.id == ListEntry.subject_id)
        .where(ListEntry.id == entry_id)
        .execution_options(populate_existing=True)
    )
    visible = _visible(session, viewer)
    if visible is not None:
        stmt = stmt.where(visible)
    found = session.execute(stmt).first()
    if found is None:
        raise NotFound(f"名单条目 {entry_id} 不存在", code="entry_not_found")
    return EntryRow(*found)


def entry_histories(session: Session, entry_ids: list[int]) -> dict[int, list[ListEntryEvent]]:
    """The events of several entries, oldest first each, in one query per ``IN_CHUNK`` ids."""
    out: dict[int, list[ListEntryEvent]] = {i: [] for i in entry_ids}
    for start in range(0, len(entry_ids), IN_CHUNK):
        chunk = entry_ids[start : start + IN_CHUNK]
        for ev in session.scalars(
            select(ListEntryEvent).where(ListEntryEvent.entry_id.in_(chunk)).order_by(ListEntryEvent.id)
        ):
            out[ev.entry_id].append(ev)
    return out


def entry_history(session: Session, entry_id: int) -> list[ListEntryEvent]:
    return list(
        session.scalars(select(ListEntryEvent).where(ListEntryEvent.entry_id == entry_id).order_by(ListEntryEvent.id))
    )


def event_view(ev: ListEntryEvent) -> dict[str, Any]:
    return {
        "id": ev.id,
        "action": ev.action,
        "actor": ev.actor,
        "reason": ev.reason,
        "before": ev.before,
        "after": ev.after,
        "sync_id": ev.sync_id,
        "at": ev.at,
    }


def entry_view(row: EntryRow, on: dt.date, *, history: Iterable[ListEntryEvent] | None = None) -> dict[str, Any]:
    """The department view (a person's ID only masked)."""
    e, t, s = row.entry, row.list_type, row.subject
    status = effective_status(e, on)
    view: dict[str, Any] = {
        "id": e.id,
        "list_code": t.code,
        "list_name": t.name,
        "kind": t.kind,
        "entry_key": e.entry_key,
        "subject": None
        if s is None
        else {
            "id": s.id,
            "name": s.name,
            "kind": s.kind,
            "uscc": s.uscc,
            "resident_id": s.resident_id_masked if s.kind == SubjectKind.NATURAL_PERSON.value else None,
        },
        "party_name": e.party_name,
        "party_code": e.party_code,
        "party_kind": e.party_kind,
        "reason": e.reason,
        "facts": e.facts,
        "legal_basis": e.legal_basis,
        "decision_no": e.decision_no,
        "authority": e.authority,
        "department_id": e.department_id,
        "status": e.status,
        "effective_status": status,
        "status_label": STATUS_LABELS[status],
        "counts": in_force(e, on),
        "as_of": on,
        "notice_given_on": e.notice_given_on,
        "notice_until": e.notice_until,
        "listed_on": e.listed_on,
        "term_end": e.term_end,
        "removed_on": e.removed_on,
        "removal_reason": e.removal_reason,
        "removal_reason_label": REMOVAL_REASON_LABELS.get(e.removal_reason) if e.removal_reason else None,
        "removal_note": e.removal_note,
        "source": e.source,
        "match_status": e.match_status,
        "revision": e.revision,
        "created_at": e.created_at,
        "updated_at": e.updated_at,
    }
    if history is not None:
        view["history"] = [event_view(ev) for ev in history]
    return view


def open_objections(session: Session, entry_ids: list[int]) -> set[int]:
    """Entries with an open objection (they show "异议处理中" wherever displayed); asks the open-objection
    providers (``core.hooks``: the cases domain)."""
    return {i for kind, i in hooks.open_objection_targets(session, entry_ids=entry_ids) if kind == "list_entry"}


def mark_objections(session: Session, views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Set ``objection`` on entry views (``"异议处理中"`` while an objection is open, else ``None``)."""
    open_ids = open_objections(session, [v["id"] for v in views])
    for v in views:
        v["objection"] = hooks.OBJECTION_MARKER if v["id"] in open_ids else None
    return views


def subject_entries_view(session: Session, subject: Subject, today: dt.date) -> list[dict[str, Any]]:
    """A subject's entries on every list, each with its effective status and whether it counts ``today``."""
    rows = session.execute(
        select(ListEntry, ListType)
        .join(ListType, ListType.id == ListEntry.list_type_id)
        .where(ListEntry.subject_id == subject.id)
        .order_by(ListEntry.listed_on.desc(), ListEntry.id.desc())
    ).all()
    return mark_objections(session, [entry_view(EntryRow(e, t, subject), today) for e, t in rows])


def public_entries(
    session: Session,
    *,
    today: dt.date,
    list_code: str | None = None,
    subject_code: str | None = None,
    subject_id: int | None = None,
    kinds: tuple[str, ...] | None = None,
    listed_from: dt.date | None = None,
    listed_to: dt.date | None = None,
    entry_ids: Select[Any] | None = None,
    search: str | None = None,
    limit: int | None = 20,
    offset: int = 0,
    total: list[int] | None = None,
) -> list[dict[str, Any]]:
    """Entries counting ``today`` on lists whose catalog class is public; natural persons only where the class
    makes them public, with name and ID masked; searching by a person's ID never confirms a person.

    This is *the* public rule for list entries: the portal's lists, the public API and — by ``subject_id`` — every
    public subject profile (``reports.profile.build_profile``: the portal's subject page and the credit report) and
    the 红黑榜 releases (``publications.releases``: ``kinds``, listed in ``listed_from``..``listed_to``, or the
    ``entry_ids`` a release published, as a subquery). ``limit=None``: all of them.

    ``search`` (the portal's list pages): organisations whose name contains it or whose code is it; a person's entry
    never matches (a search must not confirm that a named person is listed). ``total``: a list that receives the
    number of matching entries (for the pager's 共 N 条)."""
    only_subject = subject_id is not None and limit is None and not offset and total is None
    if only_subject and not (list_code or subject_code or kinds is not None or listed_from or listed_to or search):
        # The subject page's and the report's question: one statement built once, the subject and the day bound
        # (a new statement's cache key is walked on every execution, docs/performance.md, the portal).
        found = session.execute(_SUBJECT_STATEMENT, {"entries_subject_id": subject_id, "entries_on": today}).all()
        return _public_views(session, found)
    stmt = _public_statement(today)
    if list_code:
        stmt = stmt.where(ListType.id == get_list_type(session, list_code).id)
    if subject_code:
        subject = find_subject(session, subject_code)
        if subject is None or subject.kind == SubjectKind.NATURAL_PERSON.value:
            return []
        stmt = stmt.where(ListEntry.subject_id == subject.id)
    if subject_id is not None:
        stmt = stmt.where(ListEntry.subject_id == subject_id)
    if kinds is not None:
        stmt = stmt.where(ListType.kind.in_(kinds))
    if listed_from is not None:
        stmt = stmt.where(ListEntry.listed_on >= listed_from)
    if listed_to is not None:
        stmt = stmt.where(ListEntry.listed_on <= listed_to)
    if entry_ids is not None:
        stmt = stmt.where(ListEntry.id.in_(entry_ids))
    if search:
        stmt = stmt.where(
            ListEntry.party_kind != SubjectKind.NATURAL_PERSON.value,
            or_(ListEntry.party_name.contains(search, autoescape=True), ListEntry.party_code == search.upper()),
        )
    if total is not None:
        total.append(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    stmt = stmt.order_by(ListEntry.listed_on.desc(), ListEntry.id.desc()).limit(limit).offset(offset)
    return _public_views(session, session.execute(stmt).all())


def _public_statement(today: dt.date | ColumnElement[Any]) -> Select[ListEntry, ListType, InfoClass]:
    """The entries counting ``today`` on public lists, with their list type and catalog class (the public rule)."""
    return (
        select(ListEntry, ListType, InfoClass)
        .join(ListType, ListType.id == ListEntry.list_type_id)
        .join(InfoClass, InfoClass.code == ListType.info_class)
        .where(
            InfoClass.public_attribute == "public",
            ListType.active.is_(True),
            ListEntry.subject_id.is_not(None),
            in_force_clause(ListEntry, today),
            or_(
                ListEntry.party_kind != SubjectKind.NATURAL_PERSON.value, InfoClass.natural_person_attribute == "public"
            ),
        )
    )


#: :func:`public_entries` of one subject (all of them, newest first): immutable SQL, the subject and the day bound.
_SUBJECT_STATEMENT = (
    _public_statement(bindparam("entries_on", type_=Date))
    .where(ListEntry.subject_id == bindparam("entries_subject_id"))
    .order_by(ListEntry.listed_on.desc(), ListEntry.id.desc())
)


def _public_views(session: Session, found: Sequence[Any]) -> list[dict[str, Any]]:
    out = []
    objected = open_objections(session, [e.id for e, _t, _c in found])
    for e, t, _c in found:
        person = e.party_kind == SubjectKind.NATURAL_PERSON.value
        out.append(
            {
                "id": e.id,
                "list_code": t.code,
                "list_name": t.name,
                "kind": t.kind,
                "party_kind": e.party_kind,
                "party_name": mask_name(e.party_name) if person else e.party_name,
                "party_code": e.party_code,
                # the portal's subject page (web.portal.public_subject); none for a person
                "subject_ref": None if person else f"id-{e.subject_id}",
                "authority": e.authority,
                "reason": e.reason,
                "legal_basis": e.legal_basis,
                "decision_no": e.decision_no,
                "listed_on": e.listed_on,
                "term_end": e.term_end,
                "objection": "异议处理中" if e.id in objected else None,
            }
        )
    return out


def list_sizes(session: Session, on: dt.date) -> list[dict[str, Any]]:
    """Per list type: entries counting on ``on``, and entries added, removed and expired in the 30 days to ``on``."""
    e = ListEntry
    since = on - dt.timedelta(days=30)
    listed = and_(e.status != EntryStatus.NOTIFIED, e.listed_on.is_not(None))

    def counts(*where: Any) -> dict[int, int]:
        rows = session.execute(select(e.list_type_id, func.count()).where(*where).group_by(e.list_type_id))
        return {type_id: n for type_id, n in rows}

    active = counts(in_force_clause(e, on))
    added = counts(listed, e.listed_on > since, e.listed_on <= on)
    removed = counts(listed, e.removed_on.is_not(None), e.removed_on > since, e.removed_on <= on)
    expired = counts(
        listed,
        e.term_end.is_not(None),
        e.term_end >= since,
        e.term_end < on,
        or_(e.removed_on.is_(None), e.removed_on > e.term_end),
    )
    return [
        {
            "list_code": t.code,
            "list_name": t.name,
            "kind": t.kind,
            "active": active.get(t.id, 0),
            "added_30d": added.get(t.id, 0),
            "removed_30d": removed.get(t.id, 0),
            "expired_30d": expired.get(t.id, 0),
        }
        for t in list_types(session)
    ]


def subject_id_for(session: Session, code: str | None) -> int | None:
    """The subject id for a filter code (unknown or malformed: a 422 explaining which)."""
    if not code:
        return None
    return resolve_subject(session, code).id
