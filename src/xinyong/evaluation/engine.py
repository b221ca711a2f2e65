"""Set-based evaluation: one SQL statement computes every subject's indicators, points, score and grade.

A model becomes a query over the platform's tables (portable SQLite / PostgreSQL through SQLAlchemy Core):

    subjects (population filter [∩ subset])
      LEFT JOIN (credit_records grouped by subject: licences, penalties with decay)      — one scan
      LEFT JOIN (list_entries ⨝ list_types grouped by subject: in force / listed within) — one scan
      LEFT JOIN (commitments grouped by subject: kept, broken)                          — one scan
      LEFT JOIN (cases grouped by subject: approved repairs, substantiated complaints)  — one scan
    → values → points (per unit with cap, or bands) → score (base + Σ, clamped, 2 decimals)
    → grade (thresholds, caps, forcing overrides) and the contributions as a JSON array

The rows go into a temporary table; history rows are appended for subjects whose grade or score changed, the
current results are upserted (``INSERT … ON CONFLICT DO UPDATE``), subjects that left the population are removed
(with a history row). No row passes through Python except the counts and the few grade changes of watched subjects.

The arithmetic is the same as ``evaluation.rules`` (the tests compare both); rounding is to 2 decimals at the
value, points and score.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Date,
    Float,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    and_,
    case,
    cast,
    delete,
    event,
    extract,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    true,
    union,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from xinyong.auth.models import Department
from xinyong.cases.models import Case, CaseKind, CaseState
from xinyong.catalog.rules import add_months
from xinyong.commitments.models import Commitment, FulfilmentStatus
from xinyong.core.db import IN_CHUNK, BigId
from xinyong.evaluation.models import EvaluationResult, GradeHistory
from xinyong.evaluation.spec import Indicator, ModelSpec
from xinyong.lists.models import EntryStatus, ListEntry, ListType
from xinyong.lists.rules import in_force_clause
from xinyong.records.inputs import RecordKind
from xinyong.records.models import CreditRecord
from xinyong.subjects.models import Subject

log = logging.getLogger(__name__)

_tmp_meta = MetaData()
#: This run's computed results (temporary: private to the connection, dropped at the end).
STAGE = Table(
    "eval_stage",
    _tmp_meta,
    Column("subject_id", BigId, primary_key=True),
    Column("score", Float, nullable=False),
    Column("grade", String(4), nullable=False),
    Column("rule", String(40)),
    Column("contributions", JSON, nullable=False),  # JSON text, as the results' (models.EvaluationResult)
    prefixes=["TEMPORARY"],
)
#: The subjects of a subset run.
SUBSET = Table("eval_subset", _tmp_meta, Column("subject_id", BigId, primary_key=True), prefixes=["TEMPORARY"])
#: Sort / hash memory of an evaluation run's transaction on PostgreSQL.
PG_WORK_MEM = "128MB"
#: PostgreSQL's shortcuts (:func:`_round2`, :func:`_contributions`, :func:`_years`, :func:`_clamp`): the same numbers
#: and documents as the generic expressions, several times cheaper. Off, PostgreSQL runs the generic SQL (the
#: tests compare both on the same data).
PG_SHORTCUTS = True
#: A run that writes at least this many results and history rows (a first run, a new model, a day of many changes)
#: ends by analysing the two tables on PostgreSQL, in its own transaction. Without it the planner keeps the
#: statistics of before the run until autovacuum reaches the tables — on a registry just evaluated for the first
#: time, none: at 10M subjects the next 1,000-subject run then hash-joined its 1,000 rows with every result
#: (10.3 s instead of 0.4 s; docs/performance.md, "Evaluation"). Analysing costs ≈ 0.5 s per table at 10M rows.
ANALYZE_AFTER = 50_000


def _shortcuts(dialect: str) -> bool:
    return dialect == "postgresql" and PG_SHORTCUTS


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


#: Below this magnitude a multiple of 1/4 has at most 15 significant decimal digits (PostgreSQL's float8 → numeric).
_EXACT_QUARTERS = 1e13


def _round2(expr: Any, dialect: str) -> ColumnElement[Any]:
    """``expr`` rounded to 2 decimals, as a float.

    PostgreSQL has round(numeric, int) only, and a float → numeric → float round trip goes through text twice
    (about 1.5 µs; a run rounds ~36 times per subject, most of a full run's CPU). Most values, points and scores are
    whole or quarter numbers (counts, decay factors ½ and ¼), which that round trip returns unchanged — ``x · 4`` is
    exact in binary, so ``x · 4 = trunc(x · 4)`` holds exactly for them — except −0 (a zero count times a negative
    weight), which numeric has no sign for: ``x + 0.0`` turns it into 0 as the round trip does. Those take the
    shortcut; every other value goes through numeric as before. Same results, bit for bit (the tests compare).
    SQLite rounds its REAL directly."""
    if dialect == "postgresql":
        exact = cast(func.round(cast(expr, _numeric()), 2), Float)
        if not PG_SHORTCUTS:
            return exact
        quarters = expr * 4
        return case((and_(quarters == func.trunc(quarters), func.abs(expr) < _EXACT_QUARTERS), expr + 0.0), else_=exact)
    return func.round(expr, 2)


def _numeric() -> Any:
    return Numeric()


def _json_array(dialect: str, *items: Any) -> Any:
    return (func.json_build_array if dialect == "postgresql" else func.json_array)(*items)


def _clamp(expr: Any, lo: float, hi: float, dialect: str) -> Any:
    # PostgreSQL: the expression once (a CASE names it three times, and it is the sum of every indicator's points).
    if _shortcuts(dialect):
        return func.least(func.greatest(expr, literal(lo, Float)), literal(hi, Float))
    return case((expr < lo, literal(lo, Float)), (expr > hi, literal(hi, Float)), else_=expr)


def _contributions(dialect: str, pairs: Sequence[tuple[Any, Any]]) -> Any:
    """``[[value, points], …]`` as JSON. On PostgreSQL one ``format`` of the numbers' text read as ``jsonb``: the same
    document as nested ``jsonb_build_array`` (which also writes each float as text and reads it back as a JSON
    number), for a fraction of the calls — the JSON of a million subjects was most of a full run."""
    if _shortcuts(dialect):
        template = "[" + ",".join("[%s,%s]" for _ in pairs) + "]"
        return cast(func.format(template, *(x for pair in pairs for x in pair)), postgresql.JSON)
    return _json_array(dialect, *(_json_array(dialect, v, p) for v, p in pairs))


def _json_differs(a: Any, b: Any) -> Any:
    """Two contributions documents differ: compared as their text (PostgreSQL's ``json`` has no equality; the
    engine writes one text per value, so equal documents have equal text — a document of another writer, jsonb's
    spaced text, only reads as different and is rewritten once)."""
    return cast(a, Text) != cast(b, Text)


def _col(name: str) -> str:
    return f"v_{name}"


# Values --------------------------------------------------------------------------------------------------------


def _weighted(ind: Indicator, date_col: Any, cond: Any, as_of: dt.date) -> Any:
    """SUM over the subject's events of the step-decay factor of the event's date (or 1 without a window)."""
    steps = ind.steps
    base = and_(cond, date_col.is_not(None), date_col <= as_of)
    if not steps:
        return func.sum(case((base, 1.0), else_=0.0))
    # The event's conditions once, then its date against each step (the first step it falls in gives the factor).
    whens = [(date_col > add_months(as_of, -s.months), float(s.factor)) for s in steps]
    return func.sum(case((base, case(*whens, else_=0.0)), else_=0.0))


def _departments(session: Session, codes: Sequence[str]) -> list[int]:
    if not codes:
        return []
    return list(session.scalars(select(Department.id).where(Department.code.in_(list(codes)))))


def _restricted(stmt: Any, subject_id: Any, subset: bool, name: str) -> Any:
    """A part's per-subject statement as a subquery, limited to the subjects of a subset run when ``subset``."""
    if subset:
        stmt = stmt.where(subject_id.in_(select(SUBSET.c.subject_id)))
    return stmt.subquery(name)


def _records_part(session: Session, spec: ModelSpec, as_of: dt.date, subset: bool) -> Any:
    r = CreditRecord
    cols = []
    for ind in spec.indicators:
        depts = _departments(session, ind.departments)
        dept_cond = r.department_id.in_(depts) if ind.departments else true()
        if ind.source == "licences":
            cond = and_(
                r.kind == RecordKind.LICENCE,
                r.withdrawn_at.is_(None),
                dept_cond,
                or_(r.licence_valid_from.is_(None), r.licence_valid_from <= as_of),
                or_(r.licence_valid_to.is_(None), r.licence_valid_to >= as_of),
            )
            cols.append(_weighted(ind, r.decision_date, cond, as_of).label(_col(ind.code)))
        elif ind.source == "penalties":
            conds = [r.kind == RecordKind.PENALTY, r.withdrawn_at.is_(None), dept_cond]
            if ind.severity:
                conds.append(r.severity.in_(ind.severity))
            if ind.exclude_ended:
                conds.append(or_(r.ended_on.is_(None), r.ended_on > as_of))
            if ind.penalty_types:
                conds.append(or_(*(r.penalty_types_key.contains(f"|{t}|") for t in ind.penalty_types)))
            cols.append(_weighted(ind, r.decision_date, and_(*conds), as_of).label(_col(ind.code)))
        elif ind.source == "records":  # any information class (issue #18)
            conds = [r.kind.in_(ind.record_kinds), r.withdrawn_at.is_(None), dept_cond]
            if ind.domains:
                conds.append(r.domain.in_(ind.domains))
            if ind.exclude_domains:
                conds.append(or_(r.domain.is_(None), r.domain.not_in(ind.exclude_domains)))
            if ind.in_effect:
                conds.append(or_(r.licence_valid_to.is_(None), r.licence_valid_to >= as_of))
            cols.append(_weighted(ind, r.decision_date, and_(*conds), as_of).label(_col(ind.code)))
    if not cols:
        return None
    stmt = select(r.subject_id.label("subject_id"), *cols).group_by(r.subject_id)
    return _restricted(stmt, r.subject_id, subset, "rec")


def _lists_part(spec: ModelSpec, as_of: dt.date, subset: bool) -> Any:
    e, t = ListEntry, ListType
    cols = []
    for ind in spec.indicators:
        if ind.source != "list_entries":
            continue
        conds = []
        if ind.list_kinds:
            conds.append(t.kind.in_(ind.list_kinds))
        if ind.list_codes:
            conds.append(t.code.in_(ind.list_codes))
        if ind.in_force:
            cond = and_(in_force_clause(e, as_of), *conds)
            cols.append(func.sum(case((cond, 1.0), else_=0.0)).label(_col(ind.code)))
        else:
            cond = and_(e.status != EntryStatus.NOTIFIED, *conds)
            cols.append(_weighted(ind, e.listed_on, cond, as_of).label(_col(ind.code)))
    if not cols:
        return None
    stmt = (
        select(e.subject_id.label("subject_id"), *cols)
        .join(t, t.id == e.list_type_id)
        .where(e.subject_id.is_not(None))
        .group_by(e.subject_id)
    )
    return _restricted(stmt, e.subject_id, subset, "lst")


def _commitments_part(spec: ModelSpec, as_of: dt.date, subset: bool) -> Any:
    c = Commitment
    cols = []
    for ind in spec.indicators:
        type_cond = c.commitment_type.in_(ind.commitment_types) if ind.commitment_types else true()
        if ind.source == "commitments_kept":
            cond = and_(c.fulfilment_status == FulfilmentStatus.FULFILLED, type_cond)
            cols.append(_weighted(ind, func.coalesce(c.determined_on, c.made_on), cond, as_of).label(_col(ind.code)))
        elif ind.source == "commitments_broken":
            cols.append(_weighted(ind, c.broken_on, type_cond, as_of).label(_col(ind.code)))
    if not cols:
        return None
    stmt = select(c.subject_id.label("subject_id"), *cols).group_by(c.subject_id)
    return _restricted(stmt, c.subject_id, subset, "cmt")


def _cases_part(spec: ModelSpec, as_of: dt.date, subset: bool) -> Any:
    k = Case
    cols = []
    for ind in spec.indicators:
        if ind.source == "repairs":
            cond = and_(k.kind == CaseKind.REPAIR, k.state == CaseState.APPROVED)
        elif ind.source == "complaints":
            cond = and_(k.kind == CaseKind.COMPLAINT, k.outcome.in_(("substantiated", "partly_substantiated")))
        else:
            continue
        cols.append(_weighted(ind, k.closed_on, cond, as_of).label(_col(ind.code)))
    if not cols:
        return None
    stmt = select(k.subject_id.label("subject_id"), *cols).where(k.subject_id.is_not(None)).group_by(k.subject_id)
    return _restricted(stmt, k.subject_id, subset, "cas")


def _population(session: Session, spec: ModelSpec, s: Any) -> list[Any]:
    pop = spec.population
    conds: list[Any] = [s.kind.in_(pop.kinds)]
    if pop.exclude_status:
        conds.append(or_(s.status.is_(None), s.status.not_in(pop.exclude_status)))
    alternatives = []
    for rule in pop.any_of:
        if rule.licence_from:
            depts = _departments(session, rule.licence_from)
            alternatives.append(
                s.id.in_(
                    select(CreditRecord.subject_id).where(
                        CreditRecord.kind == RecordKind.LICENCE, CreditRecord.department_id.in_(depts)
                    )
                )
            )
        if rule.records_from:
            depts = _departments(session, rule.records_from)
            alternatives.append(s.id.in_(select(CreditRecord.subject_id).where(CreditRecord.department_id.in_(depts))))
        for fragment in rule.name_contains:
            alternatives.append(s.name.contains(fragment))
        if rule.org_types:
            alternatives.append(s.org_type.in_(rule.org_types))
    if pop.any_of:
        conds.append(or_(*alternatives))
    return conds


def _years(s: Any, as_of: dt.date, dialect: str) -> Any:
    """Full years from the registration date to ``as_of`` (0 when unknown or in the future): a whole number."""
    reg = s.registered_on

    def part(field: str) -> Any:
        # PostgreSQL's EXTRACT is numeric (slow arithmetic); date_part is a float, exact for these small integers.
        return func.date_part(field, reg) if _shortcuts(dialect) else extract(field, reg)

    diff = (
        as_of.year
        - part("year")
        - case((part("month") * 100 + part("day") > as_of.month * 100 + as_of.day, 1), else_=0)
    )
    return case((reg.is_(None), 0.0), (diff < 0, 0.0), else_=cast(diff, Float))


def values_query(session: Session, spec: ModelSpec, as_of: dt.date, *, subset: bool) -> Any:
    """``SELECT subject_id, v_<indicator> …`` for the model's population (∩ the subset table)."""
    dialect = _dialect(session)
    s = Subject.__table__.alias("s")
    parts = [
        p
        for p in (
            _records_part(session, spec, as_of, subset),
            _lists_part(spec, as_of, subset),
            _commitments_part(spec, as_of, subset),
            _cases_part(spec, as_of, subset),
        )
        if p is not None
    ]
    owner: dict[str, Any] = {}
    for p in parts:
        for c in p.c:
            if c.name != "subject_id":
                owner[c.name] = p
    cols = []
    for ind in spec.indicators:
        # Whole numbers by construction need no rounding (it would return them unchanged).
        if ind.source == "registered_years":
            v = _years(s.c, as_of, dialect)
        elif ind.source == "registry_status":
            v = case((s.c.status.in_(ind.statuses), 1.0), else_=0.0)
        else:
            v = _round2(func.coalesce(owner[_col(ind.code)].c[_col(ind.code)], 0.0), dialect)
        cols.append(v.label(_col(ind.code)))
    frm: Any = s
    for p in parts:
        frm = frm.outerjoin(p, p.c.subject_id == s.c.id)
    stmt = select(s.c.id.label("subject_id"), *cols).select_from(frm).where(*_population(session, spec, s.c))
    if subset:
        stmt = stmt.where(s.c.id.in_(select(SUBSET.c.subject_id)))
    return stmt


# Points, score, grade ------------------------------------------------------------------------------------------


def _points(ind: Indicator, v: Any, dialect: str) -> Any:
    if ind.bands:
        return case(*((v >= b.min, float(b.points)) for b in ind.bands), else_=0.0)
    assert ind.per is not None
    p = _round2(v * ind.per, dialect)
    if ind.cap is None:
        return p
    return case((p > ind.cap, float(ind.cap)), else_=p) if ind.per > 0 else case((p < ind.cap, float(ind.cap)), else_=p)


def results_query(session: Session, spec: ModelSpec, as_of: dt.date, *, subset: bool) -> Any:
    """``SELECT subject_id, score, grade, rule, contributions`` for every subject of the model (∩ subset)."""
    dialect = _dialect(session)
    # OFFSET 0 keeps each level a subquery of its own: flattened, every reference to the score would repeat the
    # whole points expression (and each point the value expression) — a tree that grows with every level.
    vals = values_query(session, spec, as_of, subset=subset).offset(0).subquery("vals")
    pts = (
        select(
            vals.c.subject_id,
            *(vals.c[_col(i.code)] for i in spec.indicators),
            *(_points(i, vals.c[_col(i.code)], dialect).label(f"p_{i.code}") for i in spec.indicators),
        )
        .offset(0)
        .subquery("pts")
    )
    total = sum((pts.c[f"p_{i.code}"] for i in spec.indicators[1:]), pts.c[f"p_{spec.indicators[0].code}"])
    scored = (
        select(
            pts,
            _clamp(_round2(spec.score.base + total, dialect), spec.score.min, spec.score.max, dialect).label("score"),
        )
        .offset(0)
        .subquery("scored")
    )
    grade, rule = _grade_exprs(spec, scored)
    contributions = _contributions(
        dialect, [(scored.c[_col(i.code)], scored.c[f"p_{i.code}"]) for i in spec.indicators]
    )
    return select(
        scored.c.subject_id,
        scored.c.score,
        grade.label("grade"),
        rule.label("rule"),
        contributions.label("contributions"),
    )


def _grade_exprs(spec: ModelSpec, q: Any) -> tuple[Any, Any]:
    """The grade and deciding rule, as :func:`evaluation.rules.grade_for` decides them."""
    higher = spec.score.direction == "higher_better"
    n = len(spec.grades)
    whens = []
    for i, g in enumerate(spec.grades[:-1]):
        whens.append((q.c.score >= g.threshold if higher else q.c.score <= g.threshold, i))
    t = case(*whens, else_=n - 1)
    codes = [g.code for g in spec.grades]

    def active(o: Any) -> Any:
        return q.c[_col(o.indicator)] >= o.min_value

    grade_whens: list[tuple[Any, Any]] = []
    rule_whens: list[tuple[Any, Any]] = []
    for o in spec.overrides:
        if o.grade is not None:
            grade_whens.append((active(o), o.grade))
            rule_whens.append((active(o), o.code))
    caps = [o for o in spec.overrides if o.max_grade is not None]
    for rank in range(n - 1, -1, -1):
        grade_whens.append((t == rank, codes[rank]))
        rule_whens.append((t == rank, null()))
        for o in caps:
            if spec.grade_rank(o.max_grade) == rank:  # type: ignore[arg-type]
                grade_whens.append((active(o), codes[rank]))
                rule_whens.append((active(o), o.code))
    # A rank below every cap and threshold cannot happen (t always matches one rank); else_ keeps SQL total.
    return case(*grade_whens, else_=codes[-1]), case(*rule_whens, else_=null())


# Applying a run ------------------------------------------------------------------------------------------------


def _create_temp(session: Session, table: Table) -> None:
    conn = session.connection()
    conn.execute(text(f"DROP TABLE IF EXISTS {table.name}"))
    table.create(conn)


def _drop_temp(session: Session, table: Table) -> None:
    session.connection().execute(text(f"DROP TABLE IF EXISTS {table.name}"))


def fill_subset(
    session: Session,
    *,
    subject_ids: Sequence[int],
    changed_since: dt.datetime | None,
    spec: ModelSpec | None = None,
    days: tuple[dt.date, dt.date] | None = None,
) -> int:
    """Create the subset table: the explicit subjects plus every subject whose data changed since the time, and,
    with ``spec`` and ``days`` (the day the last run evaluated, the day this one does), every subject one of
    whose values can differ between those days without any row changing (:func:`date_window_sources`)."""
    _create_temp(session, SUBSET)
    conn = session.connection()
    ids = sorted(set(subject_ids))
    for start in range(0, len(ids), IN_CHUNK):
        conn.execute(insert(SUBSET), [{"subject_id": i} for i in ids[start : start + IN_CHUNK]])
    if changed_since is not None:
        sources = [
            select(Subject.id).where(Subject.updated_at > changed_since),
            select(CreditRecord.subject_id).where(CreditRecord.updated_at > changed_since),
            select(ListEntry.subject_id).where(ListEntry.subject_id.is_not(None), ListEntry.updated_at > changed_since),
            select(Commitment.subject_id).where(Commitment.updated_at > changed_since),
            select(Case.subject_id).where(Case.subject_id.is_not(None), Case.updated_at > changed_since),
        ]
        if spec is not None and days is not None:
            sources += date_window_sources(spec, *days)
        changed = union(*sources).subquery("changed")
        stmt = select(changed.c[0]).where(
            ~select(SUBSET.c.subject_id).where(SUBSET.c.subject_id == changed.c[0]).exists()
        )
        conn.execute(insert(SUBSET).from_select(["subject_id"], stmt))
    return conn.execute(select(func.count()).select_from(SUBSET)).scalar_one()


def date_window_sources(spec: ModelSpec, first: dt.date, second: dt.date) -> list[Any]:
    """Subjects whose values under ``spec`` may differ between the days ``first`` and ``second`` although no row of
    theirs changed: an event's date reached (``date <= as_of``) or a decay step passed (``date > as_of - m months``
    for each step ``m`` of the model), a licence's validity, a list entry's term or removal, a penalty's end, a
    registration anniversary (for ``registered_years``). A superset — a subject selected for nothing is evaluated
    again to the same values, which records nothing — so that an incremental run misses no date boundary."""
    lo, hi = sorted((first, second))
    if lo == hi:
        return []
    months = sorted({0} | {s.months for ind in spec.indicators for s in ind.steps})

    def reached(col: Any) -> Any:  # counts from its day on, for each decay step: flips in (lo - m, hi - m]
        return or_(*(and_(col > add_months(lo, -m), col <= add_months(hi, -m)) for m in months))

    def until(col: Any) -> Any:  # counts while col >= as_of: flips on a day in [lo, hi)
        return and_(col >= lo, col < hi)

    def before(col: Any) -> Any:  # counts while col > as_of: flips on a day in (lo, hi]
        return and_(col > lo, col <= hi)

    r, e, c, k = CreditRecord, ListEntry, Commitment, Case
    sources = [
        select(r.subject_id).where(
            or_(reached(r.decision_date), reached(r.licence_valid_from), until(r.licence_valid_to), before(r.ended_on))
        ),
        select(e.subject_id).where(
            e.subject_id.is_not(None), or_(reached(e.listed_on), until(e.term_end), before(e.removed_on))
        ),
        select(c.subject_id).where(or_(reached(c.made_on), reached(c.determined_on), reached(c.broken_on))),
        select(k.subject_id).where(k.subject_id.is_not(None), reached(k.closed_on)),
    ]
    if any(ind.source == "registered_years" for ind in spec.indicators):
        reg = Subject.registered_on
        if (hi - lo).days >= 365:
            sources.append(select(Subject.id).where(reg.is_not(None)))
        else:  # an anniversary (month and day, as _years compares them) in (lo, hi]
            md = extract("month", reg) * 100 + extract("day", reg)
            lo_md, hi_md = lo.month * 100 + lo.day, hi.month * 100 + hi.day
            window = and_(md > lo_md, md <= hi_md) if lo.year == hi.year else or_(md > lo_md, md <= hi_md)
            sources.append(select(Subject.id).where(reg.is_not(None), window))
    return sources


#: The columns of a grade change (``evaluation_history``) that every change names; a change of grade adds the
#: rule and contributions, a subject leaving the model a note.
_HISTORY_KEYS = (
    "model_code",
    "subject_id",
    "model_id",
    "run_id",
    "as_of",
    "from_grade",
    "to_grade",
    "from_score",
    "to_score",
)


def apply_run(
    session: Session, *, spec: ModelSpec, model_id: int, run_id: int, as_of: dt.date, subset: bool
) -> dict[str, Any]:
    """Compute the model into the stage table and fold it into results and history. Returns the counts."""
    dialect = _dialect(session)
    conn = session.connection()
    if dialect == "postgresql":
        # The model's query is one wide expression: JIT compiling it costs minutes and saves nothing; the group-bys
        # and the upsert want more sort memory than the default 4 MB (for this transaction only).
        conn.execute(text("SET LOCAL jit = off"))
        conn.execute(text(f"SET LOCAL work_mem = '{PG_WORK_MEM}'"))
        if subset:
            conn.execute(text(f"ANALYZE {SUBSET.name}"))
    _create_temp(session, STAGE)
    conn.execute(
        insert(STAGE).from_select(
            ["subject_id", "score", "grade", "rule", "contributions"],
            results_query(session, spec, as_of, subset=subset),
        )
    )
    if dialect == "postgresql":
        conn.execute(text(f"ANALYZE {STAGE.name}"))
    st, r, h = STAGE, EvaluationResult.__table__, GradeHistory.__table__
    code = spec.code
    evaluated = conn.execute(select(func.count()).select_from(st)).scalar_one()

    # History: first results and changes of grade or score.
    joined = st.outerjoin(r, and_(r.c.model_code == code, r.c.subject_id == st.c.subject_id))
    changed_q = (
        select(
            literal(code, String),
            st.c.subject_id,
            literal(model_id, Integer),
            literal(run_id, Integer),
            literal(as_of, Date),
            r.c.grade,
            st.c.grade,
            r.c.score,
            st.c.score,
            st.c.rule,
            st.c.contributions,
        )
        .select_from(joined)
        .where(or_(r.c.id.is_(None), r.c.grade != st.c.grade, r.c.score != st.c.score))
    )
    conn.execute(insert(h).from_select([*_HISTORY_KEYS, "rule", "contributions"], changed_q))

    # Subjects that left the population (whole population on a full run; the subset's otherwise).
    staged = select(st.c.subject_id).where(st.c.subject_id == r.c.subject_id)
    gone = select(r.c.subject_id).where(r.c.model_code == code, ~staged.exists())
    if subset:
        gone = gone.where(r.c.subject_id.in_(select(SUBSET.c.subject_id)))
    gone_q = select(
        literal(code, String),
        r.c.subject_id,
        literal(model_id, Integer),
        literal(run_id, Integer),
        literal(as_of, Date),
        r.c.grade,
        null(),
        r.c.score,
        null(),
        literal("不再属于本模型的评价范围", String),
    ).where(r.c.model_code == code, r.c.subject_id.in_(gone))
    removed = conn.execute(select(func.count()).select_from(gone.subquery())).scalar_one()
    if removed:
        conn.execute(insert(h).from_select([*_HISTORY_KEYS, "note"], gone_q))
        conn.execute(delete(r).where(r.c.model_code == code, r.c.subject_id.in_(gone)))

    _upsert_results(conn, dialect, code=code, model_id=model_id, run_id=run_id, as_of=as_of)

    counts = conn.execute(
        select(
            func.count(),
            func.sum(
                case(
                    (and_(h.c.from_grade.is_not(None), h.c.to_grade.is_not(None), h.c.from_grade != h.c.to_grade), 1),
                    else_=0,
                )
            ),
        ).where(h.c.run_id == run_id, h.c.to_grade.is_not(None))
    ).one()
    distribution = {g: n for g, n in conn.execute(select(st.c.grade, func.count()).group_by(st.c.grade))}
    _drop_temp(session, STAGE)
    written = int(counts[0] or 0) + int(removed)
    if dialect == "postgresql" and written >= ANALYZE_AFTER:
        _analyze_after_commit(session, r.name, h.name)
    return {
        "evaluated": evaluated,
        "changed": int(counts[0] or 0),
        "grade_changed": int(counts[1] or 0),
        "removed": int(removed),
        "distribution": distribution,
    }


def _analyze_after_commit(session: Session, *tables: str) -> None:
    """``ANALYZE`` the tables once the session's transaction has committed, on a connection of its own. Not inside
    the run: its lock would be held until the run commits, and a second large run waiting for it while holding a
    lock the first needs later (the audit chain's head) would deadlock. A failure is logged, never raised: the run
    is committed, and autovacuum analyses the tables later anyway."""
    engine = session.get_bind().engine

    def analyze(_session: Session) -> None:
        try:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text(f"ANALYZE {', '.join(tables)}"))
        except Exception:  # noqa: BLE001
            log.exception("evaluation: ANALYZE %s after a large run failed", ", ".join(tables))

    event.listen(session, "after_commit", analyze, once=True)


def _upsert_results(conn: Any, dialect: str, *, code: str, model_id: int, run_id: int, as_of: dt.date) -> None:
    dialect_insert = pg_insert if dialect == "postgresql" else sqlite_insert
    st, r = STAGE, EvaluationResult.__table__
    # Only the subjects without a result or whose result differs reach the upsert: one join finds them, instead of
    # an index probe per subject (a full run over a quiet population writes almost nothing). The upsert's own
    # condition stays for a row written meanwhile.
    current = r.alias("cur")
    differs = or_(
        current.c.id.is_(None),
        current.c.model_id != model_id,
        current.c.score != st.c.score,
        current.c.grade != st.c.grade,
        current.c.rule.is_distinct_from(st.c.rule),
        _json_differs(current.c.contributions, st.c.contributions),
    )
    src = select(
        literal(code, String),
        st.c.subject_id,
        literal(model_id, Integer),
        literal(run_id, Integer),
        literal(as_of, Date),
        st.c.score,
        st.c.grade,
        st.c.rule,
        st.c.contributions,
        literal(run_id, Integer),
    ).select_from(st.outerjoin(current, and_(current.c.model_code == code, current.c.subject_id == st.c.subject_id)))
    src = src.where(differs)
    stmt = dialect_insert(r).from_select(
        [
            "model_code",
            "subject_id",
            "model_id",
            "run_id",
            "as_of",
            "score",
            "grade",
            "rule",
            "contributions",
            "changed_run_id",
        ],
        src,
    )
    ex = stmt.excluded
    # A result whose content is unchanged is not rewritten (a full run over a quiet population writes almost
    # nothing): its run_id / as_of say when these values were computed; later runs confirmed them.
    stmt = stmt.on_conflict_do_update(
        index_elements=[r.c.model_code, r.c.subject_id],
        set_={
            "model_id": ex.model_id,
            "run_id": ex.run_id,
            "as_of": ex.as_of,
            "score": ex.score,
            "grade": ex.grade,
            "rule": ex.rule,
            "contributions": ex.contributions,
            "changed_run_id": case(
                (or_(r.c.grade != ex.grade, r.c.score != ex.score), ex.changed_run_id), else_=r.c.changed_run_id
            ),
        },
        where=or_(
            r.c.model_id != ex.model_id,
            r.c.score != ex.score,
            r.c.grade != ex.grade,
            r.c.rule.is_distinct_from(ex.rule),
            _json_differs(r.c.contributions, ex.contributions),
        ),
    )
    conn.execute(stmt)


def grade_changes(session: Session, run_id: int) -> list[Any]:
    """This run's changes of grade (not first results, not departures): subject, from, to, score."""
    h = GradeHistory.__table__
    return list(
        session.execute(
            select(h.c.subject_id, h.c.from_grade, h.c.to_grade, h.c.to_score).where(
                h.c.run_id == run_id,
                h.c.from_grade.is_not(None),
                h.c.to_grade.is_not(None),
                h.c.from_grade != h.c.to_grade,
            )
        )
    )
