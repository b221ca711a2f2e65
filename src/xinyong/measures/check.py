"""The credit check (信用核查): which measures apply to these subjects in this scenario, with reasons and legal bases.

Flow of :func:`run_check` (one transaction, a few indexed queries whatever the batch size):
1. the request as a whole is refused (nothing recorded) for an unknown scenario or more than :data:`MAX_BATCH`
   subjects; a malformed code only makes its own item ``invalid``, with the reason;
2. codes are resolved in bulk (``measures.resolve``): USCC, resident ID (by its keyed hash, as
   ``subjects.service`` does), legacy codes (aliases); a name without a code gives ``candidates`` with scores
   (``lists.matching.find_candidates``) and never measures — a punishment rests on concrete facts about an
   identified subject (国办发〔2020〕49号);
3. the entries in force on the day (the predicate of ``lists.rules.in_force_clause``, each with its open-objection
   marker, in one query; ``measures.resolve``) select the measures whose trigger list types match and whose
   scenarios include the requested one (``general``: all), from the in-memory catalogue (``measures.answer``);
   measures triggered by credit records (``triggers.records``: 重大违法记录 within a look-back …) are judged on the
   records read for the whole batch in one statement per chunk (``measures.record_triggers``), and the answer
   names each triggering record (decision number, authority, date, penalty types, fine) beside the list reasons;
   grades are looked up for the subjects that have an evaluation result;
   a person checked is also reached through the organisations where they hold a role (法定代表人 …) that have
   entries in force, by the measures that extend to that role (``extends_to``; ``measures.related``, one statement
   per chunk of persons, only when some measure of the scenario extends);
4. the check and its items are recorded: who, which system, which scenario, what was answered (on SQLite in a
   transaction of its own that takes the write lock first, see :func:`_record`).

The single-subject check is the platform's hottest path (hundreds a second over HTTP), so its statements are
built once and run on the driver's cursor (``measures._sql.Prepared``) and the record is two plain INSERTs: the
ORM's per-statement and unit-of-work costs were several times the database's own work. Batches share the path.

This module also reads recorded checks (:func:`get_check`, :func:`list_checks`, :func:`check_detail`). Feedback
(反馈: per item and measure, whether the department applied it and, when not, why) is ``measures.feedback``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from xinyong.auth.roles import Principal
from xinyong.core import clock
from xinyong.core.bulk import allocate_ids, dumps, insert_rows
from xinyong.core.db import Database, holds_write_lock, turn_of, utcnow
from xinyong.core.errors import NotFound, ValidationFailed
from xinyong.evaluation.service import current_grades
from xinyong.measures.answer import (
    _conclusion,
    _entry_view,
    _measure_answer,
    _query_record,
    _subject_view,
    select_measures,
)
from xinyong.measures.models import Check, CheckFeedback, CheckItem, CheckOutcome, Measure, MeasureKind, Memorandum
from xinyong.measures.record_triggers import record_view, trigger_records
from xinyong.measures.related import merge_answers, related_conclusion, related_hits, related_measures, related_view
from xinyong.measures.resolve import PERSON, _entries_in_force, _parse, _resolve_codes, _resolve_names
from xinyong.measures.service import catalogue
from xinyong.measures.spec import SCENARIOS, require_scenario
from xinyong.subjects import access_log

MAX_BATCH = 10_000
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SubjectQuery:
    """One subject as the caller names it: a code (USCC, legacy code, resident ID), or a name (+ region)."""

    code: str | None = None
    name: str | None = None
    region: str | None = None
    kind: str | None = None


# The check -----------------------------------------------------------------------------------------------------


def run_check(
    session: Session,
    *,
    actor: Principal,
    subjects: Sequence[SubjectQuery],
    scenario: str,
    reference: str | None = None,
    on: dt.date | None = None,
) -> dict[str, Any]:
    """Check ``subjects`` in ``scenario`` on day ``on`` (default today) and record the check; returns the answer."""
    require_scenario(scenario)
    if not subjects:
        raise ValidationFailed("请至少提供一个核查主体", code="no_subjects")
    if len(subjects) > MAX_BATCH:
        raise ValidationFailed(
            f"每次最多核查 {MAX_BATCH} 个主体（本次 {len(subjects)} 个），请分批提交",
            code="batch_too_large",
            details={"max": MAX_BATCH, "given": len(subjects)},
        )
    if reference is not None and len(reference) > 200:
        raise ValidationFailed("业务编号不能超过200个字符", code="reference_too_long")
    on = on or clock.today()
    separate = _records_apart(session)
    # Reads never flush the caller's pending changes (see _record: on SQLite the reading transaction stays
    # read-only so that concurrent checks do not collide).
    with session.no_autoflush:
        items = [_parse(i, q) for i, q in enumerate(subjects)]
        pending = [it for it in items if it.outcome == CheckOutcome.NOT_FOUND]
        prefetched, fingerprint = _resolve_codes(session, [it for it in pending if (it.query.code or "").strip()], on)
        _resolve_names(session, [it for it in pending if not (it.query.code or "").strip()])
        matched = [it for it in items if it.outcome == CheckOutcome.MATCHED]
        # An entry under objection still counts, but the answer says so (异议处理中) so the department can wait.
        # Subjects found by USCC came with their entries; the others (resident ID, legacy code) are read here.
        rest = {it.subject.id for it in matched} - prefetched.keys()
        in_force, later = _entries_in_force(session, rest, on) if rest else ({}, None)
        in_force.update((k, v) for k, v in prefetched.items() if v)
        fingerprint = later or fingerprint
        # The catalogue (measures, list types) is needed for entries in force, and for measures triggered by
        # records (a subject found by USCC brought the catalogue's fingerprint: no statement to know it is current).
        cat = catalogue(session, fingerprint=fingerprint) if in_force or matched else None
        # Records that may trigger a measure of this scenario (重大违法记录 …): one statement per chunk of subjects.
        plan = cat.record_plan(scenario) if cat is not None else None
        records = (
            trigger_records(session, [it.subject.id for it in matched if it.subject.kind in plan.party_kinds], plan, on)
            if plan is not None
            else {}
        )
        # Persons checked: the organisations where they hold a role with an entry in force, when some measure of
        # the scenario extends to related persons (one statement per chunk of persons; measures.related).
        persons_checked = [it.subject.id for it in matched if it.subject.kind == PERSON]
        related = (
            related_hits(session, persons_checked, on)
            if persons_checked and cat is not None and cat.related_measures(scenario)
            else {}
        )
        # Current credit grades, where the catalog's evaluation class lets this caller see them (one query, for
        # the subjects that have an evaluation result at all).
        graded = [it for it in matched if it.subject.graded]
        grades = (
            current_grades(
                session,
                [it.subject.id for it in graded],
                role=actor.role.value if actor.role else None,
                kinds={it.subject.id: it.subject.kind for it in graded},
            )
            if graded
            else {}
        )

    results: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    for it in items:
        counts[it.outcome] += 1
        entries = in_force.get(it.subject.id, []) if it.outcome == CheckOutcome.MATCHED else []
        candidates = records.get(it.subject.id, ()) if records and it.outcome == CheckOutcome.MATCHED else ()
        chosen = (
            select_measures(cat, it.subject.kind, entries, scenario, candidates, on)
            if cat is not None and (entries or candidates)
            else []
        )
        measures = [_measure_answer(m, es, cat, rs, on) for m, es, rs in chosen] if cat is not None else []
        triggering = sorted(
            {r.id: r for _m, _es, rs in chosen for r in rs}.values(), key=lambda r: (r.decision_date, r.id)
        )
        hits = related.get(it.subject.id, []) if related and it.outcome == CheckOutcome.MATCHED else []
        via = related_measures(cat, hits, scenario) if hits and cat is not None else []
        if cat is not None and (via or hits):
            measures = merge_answers(measures, via, cat, lambda m: _measure_answer(m, [], cat))
        if any(m["kind"] == MeasureKind.PUNISH for m in measures):
            counts["with_punishments"] += 1
        if any(m["kind"] == MeasureKind.REWARD for m in measures):
            counts["with_rewards"] += 1
        counts["measures"] += len(measures)
        query = _query_record(it)
        results.append(
            {
                "position": it.position,
                "query": query,
                "outcome": it.outcome,
                "reason": it.reason,
                "warnings": it.warnings or [],
                "subject": _subject_view(it.subject) if it.subject is not None else None,
                "candidates": it.candidates or [],
                "entries": [_entry_view(e, cat) for e in entries] if cat is not None else [],
                "records": [record_view(r, on) for r in triggering],
                "measures": measures,
                "conclusion": _with_related(
                    _conclusion(it, entries, measures, scenario, triggering), entries or triggering, via, measures
                ),
                "related": [related_view(h, cat) for h in hits] if cat is not None else [],
                "grades": grades.get(it.subject.id, []) if it.outcome == CheckOutcome.MATCHED else [],
            }
        )
        rows.append(
            {
                "position": it.position,
                "query": query,
                "outcome": it.outcome,
                "reason": it.reason,
                "subject_id": it.subject.id if it.subject is not None else None,
                "candidates": it.candidates,
                # the organisations' entries that reached the person through a role count among the grounds
                "entry_ids": [e.id for e in entries] + sorted({h.entry.id for _m, hs in via for h in hs}),
                "measure_codes": [m["code"] for m in measures],
                "record_ids": [r.id for r in triggering],
            }
        )

    summary = {
        "subjects": len(items),
        **{
            k: counts[k]
            for k in ("matched", "candidates", "not_found", "invalid", "with_punishments", "with_rewards", "measures")
        },
    }
    check: dict[str, Any] = {
        "at": utcnow(),
        "checked_on": on,
        "actor": actor.actor,
        "role": actor.role.value if actor.role else None,
        "department_id": actor.department_id,
        "system": actor.name,
        "reference": reference,
        "scenario": scenario,
        "subject_count": len(items),
        "with_measures": counts["measures"] > 0,
        "summary": summary,
    }
    check_id = _record(session, check, rows, results, separate=separate)
    persons = [it.subject.id for it in matched if it.subject.kind == PERSON]
    if persons:  # a check naming a person is in that person's access log (查询记录)
        access_log.record_check(
            session, actor=actor, subject_ids=persons, scenario=scenario, check_id=check_id, separate=separate
        )
    return {
        "check_id": check_id,
        "scenario": scenario,
        "scenario_label": SCENARIOS[scenario],
        "checked_on": on.isoformat(),
        "checked_at": check["at"].isoformat(),
        "reference": reference,
        "summary": summary,
        "results": results,
    }


def _with_related(own: str, grounds: Sequence[Any], via: Sequence[Any], measures: list[dict[str, Any]]) -> str:
    """The conclusion, with the restrictions that reach a person through an organisation (measures.related)."""
    if not via:
        return own
    text = related_conclusion([h for _m, hs in via for h in hs], measures)
    return f"{own}；{text}" if grounds else text


def check_and_record(
    db: Database, *, actor: Principal, subjects: Sequence[SubjectQuery], scenario: str, reference: str | None = None
) -> dict[str, Any]:
    """:func:`run_check` as the API runs it, recorded and committed before it returns.

    The reads run on ``Database.statement_engine``, each statement its own transaction (read committed; the
    check needs no snapshot across its few queries), without ``BEGIN``/``COMMIT``. The record: on PostgreSQL one
    statement (or, for more than ``_FEW_ITEMS`` subjects, one transaction) — four round trips for a
    single-subject check instead of eight; on SQLite a short ``BEGIN IMMEDIATE`` transaction on the same
    connection (see :func:`_record`). PostgreSQL connections of that engine are not pinged at checkout: when a
    check meets a dead one (the server restarted) before anything was written, the pool is emptied and the check
    runs once more on a new connection — what the ping would have done, paid only when it happens.

    With a read replica (``XINYONG_DATABASE_READ_URL``, ``Database.replica``) the reads go to the replica's
    statement engine and the record to the primary, in a short transaction of its own (as on SQLite): the answer
    may be as old as the replication delay, the record is never lost.
    """
    engine = db.replica.statement_engine
    sqlite = engine.dialect.name == "sqlite"
    for attempt in (1, 2):
        conn = engine.connect()
        session = Session(bind=conn, expire_on_commit=False)
        if sqlite or db.has_replica:
            session.info["record_apart"] = db.engine
        try:
            answer = run_check(session, actor=actor, subjects=subjects, scenario=scenario, reference=reference)
            session.commit()
            return answer
        except Exception as exc:
            lost = not sqlite and _connection_lost(conn)
            if attempt == 2 or not lost or session.info.get("check_write_sent"):
                raise
            log.warning(
                "check: a pooled connection to the database was dead (%s); pool emptied, check retried",
                type(exc).__name__,
            )
            conn.invalidate()
            engine.dispose()
        finally:
            try:
                session.close()
                conn.close()
            except Exception:  # noqa: BLE001 - closing a dead connection; the pool discards it
                log.debug("check: closing a dead connection failed", exc_info=True)
    raise AssertionError("unreachable")  # pragma: no cover


def _connection_lost(conn: Any) -> bool:
    if conn.invalidated:
        return True
    try:
        driver = conn.connection.driver_connection
    except Exception:  # noqa: BLE001 - the connection could not even be reached
        return True
    return bool(getattr(driver, "closed", False) or getattr(driver, "broken", False))


def _records_apart(session: Session) -> bool:
    """Whether the check is recorded in a transaction of its own (SQLite; see :func:`_record`). A caller with
    pending changes (an API token's ``last_used_at``) has them flushed first and the check recorded with them."""
    if session.info.get("record_apart") is not None:  # check_and_record on SQLite: reads in autocommit
        return True
    bind = session.get_bind()
    if bind.dialect.name != "sqlite" or not isinstance(bind, Engine):
        return False
    if session.new or session.dirty or session.deleted:
        session.flush()
    # A transaction that already holds the write lock records the check itself (a second one would wait for it).
    return not holds_write_lock(session)


def _record(
    session: Session,
    check: dict[str, Any],
    rows: list[dict[str, Any]],
    results: list[dict[str, Any]],
    *,
    separate: bool,
) -> int:
    """Write the check and its items; returns the check's id.

    PostgreSQL: in the caller's transaction. SQLite (``separate``): in a short transaction of its own that takes
    the write lock first (``BEGIN IMMEDIATE``) — a transaction that has read and then writes fails at once
    ("database is locked") when another writer committed in between, which concurrent checks would do all the
    time; this one waits its turn instead (busy timeout). The check is then recorded even if the caller's
    transaction later rolls back: it was answered. A caller on SQLite must not hold flushed writes it has not
    committed (the record would wait for it).
    """
    if not separate:
        return _write(session, check, rows, results)
    # Threads of this process, and the server's other processes, take turns here (core.db.turn_of, the same turn
    # as every other write transaction: a check goes before a waiting upload) rather than in SQLite's busy
    # handler, which sleeps in growing steps while it waits for the lock: that sleeping, not the writing, made the
    # tail latency under load and left the cores idle.
    # check_and_record names the engine that writes (its own reads ran without a transaction, on a connection
    # the few-items record reuses); otherwise the session's.
    engine = cast(Engine, session.info.get("record_apart") or session.get_bind())  # sessions are bound to engines
    if engine.dialect.name != "sqlite":
        # The reads ran on a read replica (check_and_record): the record goes to the primary, in its own transaction.
        with Session(bind=engine, expire_on_commit=False) as own, own.begin():
            return _write(own, check, rows, results)
    with turn_of(engine):
        if len(rows) > _FEW_ITEMS:
            with Session(bind=engine, expire_on_commit=False) as own, own.begin():
                return _write(own, check, rows, results)
        # Few items: the transaction on the driver's connection itself (SQLAlchemy's transaction and session
        # bookkeeping cost more than these two INSERTs).
        reuse = session.info.get("record_apart") is not None
        with nullcontext(session.connection()) if reuse else engine.connect() as conn:
            driver = conn.connection.driver_connection
            assert driver is not None  # checked out: the driver's connection is there
            driver.execute("BEGIN IMMEDIATE")
            try:
                check_id, ids = _insert(driver, True, check, rows)
            except BaseException:
                driver.execute("ROLLBACK")
                raise
            driver.execute("COMMIT")
    _item_ids(results, ids)
    return check_id


_CHECK_COLUMNS = (
    "at",
    "checked_on",
    "actor",
    "role",
    "department_id",
    "system",
    "reference",
    "scenario",
    "subject_count",
    "with_measures",
    "summary",
)
_ITEM_COLUMNS = (
    "check_id",
    "position",
    "query",
    "outcome",
    "reason",
    "subject_id",
    "candidates",
    "entry_ids",
    "measure_codes",
    "record_ids",
)
#: Up to this many items are written by one ``INSERT … RETURNING`` on the driver's cursor; a larger batch by
#: ``core.bulk`` (ids allocated first, then executemany / COPY).
_FEW_ITEMS = 100


def _write(session: Session, check: dict[str, Any], rows: list[dict[str, Any]], results: list[dict[str, Any]]) -> int:
    """The check row and its item rows in the session's transaction (on PostgreSQL in autocommit, see
    :func:`check_and_record`: one statement, or one transaction of the driver's for a large batch)."""
    conn = session.connection()
    driver = conn.connection.driver_connection
    assert driver is not None  # checked out: the driver's connection is there
    sqlite = conn.dialect.name == "sqlite"
    session.info["check_write_sent"] = True
    if len(rows) <= _FEW_ITEMS:
        check_id, ids = _insert(driver, sqlite, check, rows)
    else:
        autocommit = bool(getattr(driver, "autocommit", False))
        with driver.transaction() if autocommit else nullcontext():
            check_id, _ = _insert(driver, sqlite, check, [])
            ids = allocate_ids(session, CheckItem.__table__, len(rows))
            for row, item_id in zip(rows, ids, strict=True):
                row["id"], row["check_id"] = item_id, check_id
            insert_rows(session, CheckItem.__table__, rows, columns=("id", *_ITEM_COLUMNS))
    _item_ids(results, ids)
    return check_id


def _insert(driver: Any, sqlite: bool, check: dict[str, Any], rows: list[dict[str, Any]]) -> tuple[int, list[int]]:
    """``INSERT … RETURNING`` of the check and of ``rows`` on the driver's connection. Values are converted as
    the column types would store them (JSON as ``core.bulk`` writes it): the ORM's unit of work cost more than
    the rest of a single-subject check. The check's INSERT comes first: on SQLite it takes the write lock. On
    PostgreSQL both are one statement (the items' INSERT reads the check's id from the first one's RETURNING):
    one round trip, and atomic on its own in autocommit."""
    mark = "?" if sqlite else "%s"
    values = dict(check, summary=dumps(check["summary"]))
    if sqlite:  # as SQLAlchemy's SQLite types store them (core.bulk does the same)
        at = check["at"].astimezone(dt.UTC).replace(tzinfo=None)
        values.update(
            at=at.isoformat(sep=" ", timespec="microseconds"),
            checked_on=check["checked_on"].isoformat(),
            with_measures=int(check["with_measures"]),
        )
    head = (
        f"INSERT INTO checks ({', '.join(_CHECK_COLUMNS)}) "
        f"VALUES ({', '.join(mark for _ in _CHECK_COLUMNS)}) RETURNING id"
    )
    params: list[Any] = [values[c] for c in _CHECK_COLUMNS]
    cursor = driver.cursor()
    try:
        if rows and not sqlite:
            for r in rows:
                params += _item_params(r)
            cursor.execute(_pg_record_sql(len(rows)), params)
            found = cursor.fetchall()
            check_id = found[0][0]
            by_position = {position: item_id for _check, position, item_id in found}
            return check_id, [by_position[r["position"]] for r in rows]
        cursor.execute(head, params)
        check_id = cursor.fetchall()[0][0]
        if not rows:
            return check_id, []
        items: list[Any] = []
        for r in rows:
            items += (check_id, *_item_params(r))
        one = "(" + ", ".join(mark for _ in _ITEM_COLUMNS) + ")"
        cursor.execute(
            f"INSERT INTO check_items ({', '.join(_ITEM_COLUMNS)}) "
            f"VALUES {', '.join(one for _ in rows)} RETURNING position, id",
            items,
        )
        by_position = dict(cursor.fetchall())
    finally:
        cursor.close()
    return check_id, [by_position[r["position"]] for r in rows]


def _item_params(r: dict[str, Any]) -> tuple[Any, ...]:
    """An item's values after its check id, in the order of ``_ITEM_COLUMNS[1:]``."""
    return (
        r["position"],
        dumps(r["query"]),
        r["outcome"],
        r["reason"],
        r["subject_id"],
        None if r["candidates"] is None else dumps(r["candidates"]),
        dumps(r["entry_ids"]),
        dumps(r["measure_codes"]),
        dumps(r["record_ids"]) if r["record_ids"] else None,
    )


@lru_cache(maxsize=_FEW_ITEMS)
def _pg_record_sql(n: int) -> str:
    """The check and ``n`` items in one PostgreSQL statement (data-modifying CTEs); each value is cast to its
    column's type (a VALUES list does not take it from the target table)."""
    dialect = postgresql.dialect()
    table = CheckItem.__table__
    cols = _ITEM_COLUMNS[1:]
    one = "(" + ", ".join(f"CAST(%s AS {table.c[c].type.compile(dialect=dialect)})" for c in cols) + ")"
    return (
        f"WITH c AS (INSERT INTO checks ({', '.join(_CHECK_COLUMNS)}) "
        f"VALUES ({', '.join('%s' for _ in _CHECK_COLUMNS)}) RETURNING id), "
        f"i AS (INSERT INTO check_items ({', '.join(_ITEM_COLUMNS)}) "
        f"SELECT c.id, {', '.join('v.' + c for c in cols)} FROM c, (VALUES {', '.join(one for _ in range(n))}) "
        f"AS v({', '.join(cols)}) RETURNING check_id, position, id) "
        f"SELECT check_id, position, id FROM i"
    )


def _item_ids(results: list[dict[str, Any]], ids: list[int]) -> None:
    for result, item_id in zip(results, ids, strict=True):
        result["item_id"] = item_id


# Reading checks ------------------------------------------------------------------------------------------------


def get_check(session: Session, check_id: int, *, actor: Principal) -> Check:
    """A check the principal may see (its own department's; the admin sees all); others are "not found"."""
    check = session.get(Check, check_id)
    if check is None or not (
        actor.is_admin or (actor.department_id is not None and check.department_id == actor.department_id)
    ):
        raise NotFound(f"没有编号为 {check_id} 的核查记录", code="check_not_found")
    return check


def check_view(check: Check) -> dict[str, Any]:
    return {
        "id": check.id,
        "at": check.at.isoformat(),
        "checked_on": check.checked_on.isoformat(),
        "actor": check.actor,
        "role": check.role,
        "department_id": check.department_id,
        "system": check.system,
        "reference": check.reference,
        "scenario": check.scenario,
        "subject_count": check.subject_count,
        "with_measures": check.with_measures,
        "summary": check.summary,
    }


def check_detail(session: Session, check: Check) -> dict[str, Any]:
    """The recorded check: its items (as recorded), their feedback, and the measures they named."""
    items = list(session.scalars(select(CheckItem).where(CheckItem.check_id == check.id).order_by(CheckItem.position)))
    feedback: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for fb in session.scalars(
        select(CheckFeedback).where(CheckFeedback.check_id == check.id).order_by(CheckFeedback.id)
    ):
        feedback[fb.item_id].append(
            {
                "measure_code": fb.measure_code,
                "applied": fb.applied,
                "reason": fb.reason,
                "actor": fb.actor,
                "at": fb.at.isoformat(),
            }
        )
    codes = sorted({c for it in items for c in it.measure_codes})
    measures = {}
    if codes:
        memos = {m.id: m for m in session.scalars(select(Memorandum))}
        for m in session.scalars(select(Measure).where(Measure.code.in_(codes))):
            memo = memos[m.memorandum_id]
            measures[m.code] = {
                "title": m.title,
                "kind": m.kind,
                "mandatory": m.mandatory,
                "legal_basis": m.legal_basis,
                "department": m.department,
                "memorandum": {"code": memo.code, "title": memo.title, "doc_no": memo.doc_no},
            }
    view = check_view(check)
    view["items"] = [
        {
            "item_id": it.id,
            "position": it.position,
            "query": it.query,
            "outcome": it.outcome,
            "reason": it.reason,
            "subject_id": it.subject_id,
            "candidates": it.candidates or [],
            "entry_ids": it.entry_ids,
            "measure_codes": it.measure_codes,
            "record_ids": it.record_ids or [],
            "feedback": feedback.get(it.id, []),
        }
        for it in items
    ]
    view["measures"] = measures
    return view


def list_checks(
    session: Session,
    *,
    actor: Principal,
    department_id: int | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    scenario: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Check]:
    """Checks of the principal's department (the admin: all, or ``department_id``), newest first."""
    stmt = select(Check)
    if not actor.is_admin:
        stmt = stmt.where(Check.department_id == actor.department_id)
    elif department_id is not None:
        stmt = stmt.where(Check.department_id == department_id)
    if scenario:
        stmt = stmt.where(Check.scenario == require_scenario(scenario))
    if date_from:
        stmt = stmt.where(Check.checked_on >= date_from)
    if date_to:
        stmt = stmt.where(Check.checked_on <= date_to)
    return list(session.scalars(stmt.order_by(Check.id.desc()).limit(limit).offset(offset)))
