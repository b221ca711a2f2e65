"""Credit records, read side: a record by id, its history, what is public today and the department's list.

:func:`get_record` (department-scoped with an actor, 404 otherwise), :func:`public_status` and :func:`record_row`
(one record with its publicity), :func:`list_records` (filtered, paged, with the publicity status narrowed in
SQL by ``records.publicity``'s bounds and re-checked in Python), :func:`record_history`, :func:`version_counts`
and :func:`transitions_on`. Publicity is evaluated at query time from the record's stored inputs and the
catalog's rules of the day (:func:`rules`, :func:`facts`), never stored. Nothing here changes the database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, false, func, or_, select, true
from sqlalchemy.orm import Session

from xinyong.auth.models import Department
from xinyong.auth.roles import Principal
from xinyong.auth.service import own_departments_clause
from xinyong.catalog.fields import record_kinds
from xinyong.catalog.rules import PartyKind, PublicityOverride, PublicityRule, Verdict, override_rule
from xinyong.catalog.service import publicity_rule, publicity_rules
from xinyong.core import clock
from xinyong.core.errors import NotFound, ValidationFailed
from xinyong.records import publicity
from xinyong.records.inputs import RecordKind
from xinyong.records.models import CreditRecord, PublicityTransition, RecordVersion
from xinyong.subjects.models import Subject


def rules(session: Session) -> dict[str, PublicityRule]:
    """The catalog rule of each record kind (cached by the catalog for the transaction): the 双公示 kinds and every
    class with a data standard (``catalog.fields.record_kinds``) that the stored catalog has. The rules not cached
    yet are read in one statement (the portal's subject page asks on every request)."""
    out = publicity_rules(session, record_kinds())
    for kind, code in publicity.CLASS_CODES.items():  # the 双公示 rules are required (NotFound before a seed)
        if kind.value not in out:
            out[kind.value] = publicity_rule(session, code)
    if any(o.departments for r in out.values() for o in r.overrides):
        ids = _department_ids(session)
        for code_, r in out.items():
            if any(o.departments for o in r.overrides):
                out[code_] = r.model_copy(
                    update={
                        "overrides": tuple(
                            o.model_copy(
                                update={"department_ids": tuple(sorted(ids[c] for c in o.departments if c in ids))}
                            )
                            for o in r.overrides
                        )
                    }
                )
    return out


def _department_ids(session: Session) -> dict[str, int]:
    """Department code → id (codes never change), for the catalog's department exceptions; once per transaction."""
    tx = session.get_transaction()
    found = session.info.get(_DEPT_IDS)
    if found is None or found[0] is not tx:
        found = session.info[_DEPT_IDS] = (tx, dict(session.execute(select(Department.code, Department.id)).all()))
    return found[1]


_DEPT_IDS = "xinyong.records.department_ids"


def facts(record: CreditRecord) -> publicity.RecordFacts:
    return publicity.facts_of(record, local_date=clock.local_date)


def get_record(
    session: Session, record_id: int, *, actor: Principal | None = None, for_update: bool = False
) -> CreditRecord:
    """A record by id; with ``actor``, only when the actor may see the owning department (404 otherwise, so that
    another department's ids are not disclosed)."""
    stmt = select(CreditRecord).where(CreditRecord.id == record_id).execution_options(populate_existing=True)
    if for_update:
        stmt = stmt.with_for_update()
    record = session.scalars(stmt).one_or_none()
    if record is None or (actor is not None and not actor.can_see_department(record.department_id)):
        raise NotFound(f"信用记录 {record_id} 不存在", code="record_not_found")
    return record


def public_status(session: Session, record: CreditRecord, today: dt.date) -> Verdict:
    """Whether the record is public on ``today`` under the catalog's current rules, with the reason."""
    return publicity.status(rules(session)[record.kind], facts(record), today)


def _day_start(day: dt.date) -> dt.datetime:
    """The UTC instant the civil day ``day`` begins (withdrawals before it are in force on that day)."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=clock.zone()).astimezone(dt.UTC)


def _not_stopped(today: dt.date) -> Any:
    c = CreditRecord
    return and_(
        or_(c.withdrawn_at.is_(None), c.withdrawn_at >= _day_start(today + dt.timedelta(days=1))),
        or_(c.ended_on.is_(None), c.ended_on > today),
    )


def _window_open(rule: PublicityRule, today: dt.date) -> Any:
    """SQL: the record's catalog window covers ``today`` (exact: see ``publicity.earliest_public_decision``)."""
    c = CreditRecord
    mode = rule.publicity.mode
    if mode == "fixed_period":
        return or_(
            *[
                and_(c.severity == key, c.decision_date >= publicity.earliest_public_decision(rule, key, today))
                for key in rule.publicity.windows
            ]
        )
    if mode == "while_valid":
        # Only licences carry a validity end; other kinds are open-ended under this mode.
        return or_(c.licence_valid_to.is_(None), c.licence_valid_to >= today)
    return true()


def _override_match(o: PublicityOverride) -> Any:
    """SQL: a record an exception concerns (its domain or its department)."""
    c = CreditRecord
    return or_(false(), c.domain.in_(o.domains) if o.domains else false(), c.department_id.in_(o.department_ids))


def _narrowed(kind: str, rule: PublicityRule, today: dt.date, clause: Any) -> Any:
    """``clause`` per publicity exception (issue #18.5): the records an exception concerns by its rule (the first
    matching one, as ``PublicityRule.for_record``), the others by the class's."""
    parts: list[Any] = []
    earlier: list[Any] = []
    for o in rule.overrides:
        parts.append(and_(*[~m for m in earlier], _override_match(o), clause(kind, override_rule(rule, o), today)))
        earlier.append(_override_match(o))
    plain = rule.model_copy(update={"overrides": ()})
    parts.append(and_(*[~m for m in earlier], clause(kind, plain, today)))
    return or_(*parts)


def _public_clause(kind: str, rule: PublicityRule, today: dt.date) -> Any:
    """SQL narrowing of "public on ``today``" for one kind: exact for the catalog's conditions it can express;
    :func:`publicity.status` re-checks every row. A class with publicity exceptions (issue #18.5) is narrowed per
    exception: the records of an exception's domains or departments by its rule, the others by the class's."""
    if rule.overrides:
        return _narrowed(kind, rule, today, _class_public_clause)
    return _class_public_clause(kind, rule, today)


def _class_public_clause(kind: str, rule: PublicityRule, today: dt.date) -> Any:
    c = CreditRecord
    if not publicity.party_kind_public(rule, PartyKind.LEGAL_PERSON):
        return false()
    parts = [c.kind == kind, c.decision_date <= today, _not_stopped(today), _window_open(rule, today)]
    if not publicity.party_kind_public(rule, PartyKind.NATURAL_PERSON):
        parts.append(c.party_kind != PartyKind.NATURAL_PERSON.value)
    if kind == RecordKind.PENALTY:
        terms = publicity.never_published_sql_terms(rule) or []
        for term in terms:
            cond: ColumnElement[bool] = c.penalty_types_key.in_(term.keys)
            if term.fine_max_yuan is not None:
                cond = and_(
                    cond,
                    c.party_kind == term.party_kind,
                    c.fine_fen.is_not(None),
                    c.fine_fen <= term.fine_max_yuan * 100,
                )
            parts.append(~cond)
    return and_(*parts)


def _expired_clause(kind: str, rule: PublicityRule, today: dt.date) -> Any:
    c = CreditRecord
    if rule.overrides:  # narrowed per exception as in _public_clause
        return _narrowed(kind, rule, today, _expired_clause)
    not_withdrawn = or_(c.withdrawn_at.is_(None), c.withdrawn_at >= _day_start(today + dt.timedelta(days=1)))
    ended = and_(c.ended_on.is_not(None), c.ended_on <= today)
    over = and_(c.decision_date <= today, ~_window_open(rule, today))
    return and_(c.kind == kind, not_withdrawn, or_(ended, over))


#: Built status clauses by (status, the rules as JSON, day): building one is ≈ 1 ms of Python per call, and the
#: portal's subject page asks for the same two a request (docs/performance.md, the portal). A clause is immutable
#: SQL, safe to reuse in any statement; a catalogue change changes the key.
_CLAUSES: dict[tuple[str, tuple[tuple[str, str], ...], dt.date], Any] = {}
_CLAUSES_MAX = 64


def _clause_key(status: str, kind_rules: dict[str, PublicityRule], today: dt.date) -> Any:
    return (status, tuple((k, r.model_dump_json()) for k, r in sorted(kind_rules.items())), today)


def _status_clause(status: str, kind_rules: dict[str, PublicityRule], today: dt.date) -> Any:
    key = _clause_key(status, kind_rules, today)
    found = _CLAUSES.get(key)
    if found is None:
        if len(_CLAUSES) >= _CLAUSES_MAX:
            _CLAUSES.clear()
        found = _CLAUSES[key] = _build_status_clause(status, kind_rules, today)
    return found


def _build_status_clause(status: str, kind_rules: dict[str, PublicityRule], today: dt.date) -> Any:
    c = CreditRecord
    if status == publicity.STATUS_PUBLIC:
        return or_(*[_public_clause(k, r, today) for k, r in kind_rules.items()])
    if status == publicity.STATUS_WITHDRAWN:
        return and_(c.withdrawn_at.is_not(None), c.withdrawn_at < _day_start(today + dt.timedelta(days=1)))
    if status == publicity.STATUS_EXPIRED:
        return or_(*[_expired_clause(k, r, today) for k, r in kind_rules.items()])
    return true()


@dataclass(frozen=True)
class RecordSearch:
    """A search within a list of records: the records of these subjects (found by the caller through the subjects'
    own name and code indexes, ``subjects.search``) or with this document number (normalised as the identity key
    ``doc_no_norm`` is: the leading column of the records' unique index). Matches nothing when both are empty."""

    subject_ids: tuple[int, ...] = ()
    doc_no_norm: str = ""

    def clause(self) -> Any:
        c = CreditRecord
        parts: list[ColumnElement[bool]] = []
        if self.subject_ids:
            parts.append(c.subject_id.in_(self.subject_ids))
        if self.doc_no_norm:
            parts.append(c.doc_no_norm == self.doc_no_norm)
        return or_(*parts) if parts else false()


#: Counts of a list stop here: the page says "超过 10,000 条" instead of counting a province's records one by one.
COUNT_CAP = 10_000


def count_records(
    session: Session,
    *,
    department_id: int | None = None,
    kind: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    public_only: bool,
    today: dt.date,
    search: RecordSearch | None = None,
    cap: int = COUNT_CAP,
) -> int:
    """How many records :func:`list_records` lists for these filters, counted in SQL up to ``cap`` + 1 (a result
    above ``cap`` means "more than ``cap``"). The count uses the SQL narrowing of the publicity status, which is
    exact for the catalog conditions it can express; :func:`list_records` re-checks each row in Python, so in the
    rare case the two differ the count is an upper bound of what the pages show."""
    if kind is not None and kind not in {k.value for k in RecordKind}:
        raise ValidationFailed(f"未知的记录类别 {kind!r}（licence / penalty）", code="unknown_kind")
    kind_rules = rules(session)
    if kind:
        kind_rules = {kind: kind_rules[kind]}
    stmt = _statement(
        kind_rules,
        today,
        department_id=department_id,
        kind=kind,
        date_from=date_from,
        date_to=date_to,
        status=publicity.STATUS_PUBLIC if public_only else None,
        public_only=public_only,
        search=search,
    )
    ids = stmt.with_only_columns(CreditRecord.id).order_by(None).limit(cap + 1).subquery()
    return int(session.scalar(select(func.count()).select_from(ids)) or 0)


@dataclass
class RecordRow:
    """A listed record with its publicity of the day (``status`` one of ``publicity.STATUSES``)."""

    record: CreditRecord
    subject: Subject
    public: bool
    status: str
    reason: str


def list_records(
    session: Session,
    *,
    subject_id: int | None = None,
    department_id: int | None = None,
    kind: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    status: str | None = None,
    public_only: bool,
    today: dt.date,
    limit: int = 50,
    offset: int = 0,
    kinds: Sequence[str] | None = None,
    search: RecordSearch | None = None,
) -> list[RecordRow]:
    """Records by filters, newest decision first. ``public_only`` (or ``status='public'``) keeps what is public on
    ``today``: narrowed in SQL from the catalog rules (window bounds for today, not withdrawn, natural persons only
    when the catalog's natural-person attribute is public, never-published penalty types and small fines), then
    each row re-checked with ``catalog.rules.publicity_status``; paging counts only rows that pass. ``search``:
    only the records it names (:class:`RecordSearch`)."""
    if status not in (None, "all", *publicity.STATUSES):
        raise ValidationFailed(
            f"未知的状态 {status!r}（可选：public / withdrawn / expired / not_public / all）", code="unknown_status"
        )
    kind_rules = rules(session)
    if kind is not None and kind not in kind_rules:
        raise ValidationFailed(f"未知的记录类别 {kind!r}（{' / '.join(kind_rules)}）", code="unknown_kind")
    if public_only:
        status = publicity.STATUS_PUBLIC
    if kind:
        kind_rules = {kind: kind_rules[kind]}
    elif kinds is not None:  # several classes in one statement (the subject page's other classes)
        kind_rules = {k: r for k, r in kind_rules.items() if k in kinds}
        if not kind_rules:
            return []
    stmt = _statement(
        kind_rules,
        today,
        subject_id=subject_id,
        department_id=department_id,
        kind=kind,
        date_from=date_from,
        date_to=date_to,
        status=status,
        public_only=public_only,
        kinds=kinds,
        search=search,
    )
    out: list[RecordRow] = []
    skipped = 0
    for row in _evaluated(session, stmt, kind_rules, today):
        if status not in (None, "all") and row.status != status:
            continue
        if skipped < offset:
            skipped += 1
            continue
        out.append(row)
        if len(out) >= limit:
            break
    return out


def subject_public_records(
    session: Session, subject_id: int, kinds: tuple[str, ...], *, today: dt.date, limit: int
) -> dict[str, list[RecordRow]]:
    """A subject's records public on ``today``, up to ``limit`` of each kind, newest decision first: the same rows
    as one :func:`list_records` call per kind (``public_only``), read in one statement (the subject page's
    licences and penalties: one statement to build and run instead of two, docs/performance.md)."""
    kind_rules = rules(session)
    out: dict[str, list[RecordRow]] = {k: [] for k in kinds}
    # Nearly every subject has fewer than a page of public records: one execution of a statement built once per
    # (rules, day) with the subject as a parameter (SQLAlchemy walks a new statement's whole tree for its cache key
    # on every execution: ≈ 9 % of the subject page with the large status clause, docs/performance.md).
    first = session.execute(
        _subject_statement(kind_rules, today), {"record_subject_id": subject_id}, execution_options=_FRESH
    ).all()
    if len(first) < _STREAM_PAGE:
        rows: Iterable[RecordRow] = (_row(record, subject, kind_rules, today) for record, subject in first)
    else:  # more than a page: the general way, from the start
        stmt = _statement(kind_rules, today, subject_id=subject_id, status=publicity.STATUS_PUBLIC, public_only=True)
        rows = _evaluated(session, stmt, kind_rules, today)
    for row in rows:
        bucket = out.get(row.record.kind)
        if row.status != publicity.STATUS_PUBLIC or bucket is None or len(bucket) >= limit:
            continue
        bucket.append(row)
        if all(len(b) >= limit for b in out.values()):
            break
    return out


def _statement(
    kind_rules: dict[str, PublicityRule],
    today: dt.date,
    *,
    subject_id: int | None = None,
    department_id: int | None = None,
    kind: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    status: str | None = None,
    public_only: bool,
    kinds: Sequence[str] | None = None,
    search: RecordSearch | None = None,
) -> Select[CreditRecord, Subject]:
    """The records of :func:`list_records`' filters with their subjects, newest decision first."""
    stmt = select(CreditRecord, Subject).join(Subject, Subject.id == CreditRecord.subject_id)
    if subject_id is not None:
        stmt = stmt.where(CreditRecord.subject_id == subject_id)
    if department_id is not None:
        stmt = stmt.where(CreditRecord.department_id == department_id)
    if kind:
        stmt = stmt.where(CreditRecord.kind == kind)
    elif kinds is not None:
        stmt = stmt.where(CreditRecord.kind.in_(list(kind_rules)))
    if date_from:
        stmt = stmt.where(CreditRecord.decision_date >= date_from)
    if date_to:
        stmt = stmt.where(CreditRecord.decision_date <= date_to)
    if status and status not in ("all", publicity.STATUS_NOT_PUBLIC):
        stmt = stmt.where(_status_clause(status, kind_rules, today))
    if public_only:
        # The 省平台's records are other authorities' decisions forwarded for this city's subjects: the government
        # file and the check show them, the city portal does not publish them as its own (docs/exchange.md §7).
        stmt = stmt.where(own_departments_clause(CreditRecord.department_id))
    if search is not None:
        stmt = stmt.where(search.clause())
    return stmt.order_by(CreditRecord.decision_date.desc(), CreditRecord.id.desc())


_STREAM_PAGE = 500
_FRESH = {"populate_existing": True}
#: :func:`subject_public_records`' statement by (status clause key): immutable SQL with the subject as a parameter.
_SUBJECT_STATEMENTS: dict[Any, Any] = {}


def _subject_statement(kind_rules: dict[str, PublicityRule], today: dt.date) -> Any:
    key = _clause_key(publicity.STATUS_PUBLIC, kind_rules, today)
    found = _SUBJECT_STATEMENTS.get(key)
    if found is None:
        if len(_SUBJECT_STATEMENTS) >= _CLAUSES_MAX:
            _SUBJECT_STATEMENTS.clear()
        stmt = _statement(kind_rules, today, status=publicity.STATUS_PUBLIC, public_only=True)
        found = _SUBJECT_STATEMENTS[key] = (
            stmt.where(CreditRecord.subject_id == bindparam("record_subject_id")).limit(_STREAM_PAGE).offset(0)
        )
    return found


def _row(record: CreditRecord, subject: Subject, kind_rules: dict[str, PublicityRule], today: dt.date) -> RecordRow:
    label, reason = publicity.status_label(kind_rules[record.kind], facts(record), today)
    return RecordRow(record, subject, label == publicity.STATUS_PUBLIC, label, reason)


def _evaluated(
    session: Session, stmt: Select[CreditRecord, Subject], kind_rules: dict[str, PublicityRule], today: dt.date
) -> Iterator[RecordRow]:
    """Stream the statement's records with their exact status for ``today``."""
    page = _STREAM_PAGE
    offset = 0
    while True:
        batch = session.execute(stmt.limit(page).offset(offset).execution_options(populate_existing=True)).all()
        for record, subject in batch:
            yield _row(record, subject, kind_rules, today)
        if len(batch) < page:
            return
        offset += page


def record_history(session: Session, record_id: int, *, actor: Principal | None = None) -> list[RecordVersion]:
    """All versions of a record, oldest first (department-scoped with ``actor``), in full (``records.versions``)."""
    get_record(session, record_id, actor=actor)
    return list(
        session.scalars(
            select(RecordVersion).where(RecordVersion.record_id == record_id).order_by(RecordVersion.version_no)
        )
    )


def version_counts(session: Session, record_ids: list[int]) -> dict[int, int]:
    if not record_ids:
        return {}
    return {
        rid: count
        for rid, count in session.execute(
            select(CreditRecord.id, CreditRecord.version_count).where(CreditRecord.id.in_(record_ids))
        )
    }


def transitions_on(session: Session, *, run_date: dt.date) -> list[PublicityTransition]:
    return list(
        session.scalars(
            select(PublicityTransition).where(PublicityTransition.run_date == run_date).order_by(PublicityTransition.id)
        )
    )


def record_row(session: Session, record_id: int, *, actor: Principal | None, today: dt.date) -> RecordRow:
    """One record with its subject and its publicity on ``today`` (department-scoped with ``actor``)."""
    record = get_record(session, record_id, actor=actor)
    subject = session.get(Subject, record.subject_id)
    assert subject is not None  # foreign key
    label, reason = publicity.status_label(rules(session)[record.kind], facts(record), today)
    return RecordRow(record, subject, label == publicity.STATUS_PUBLIC, label, reason)
