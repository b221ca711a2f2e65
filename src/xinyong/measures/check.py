"""The credit check (信用核查): which measures apply to these subjects in this scenario, with reasons and legal bases.

Flow of :func:`run_check` (one transaction, a few indexed queries whatever the batch size):
1. the request as a whole is refused (nothing recorded) for an unknown scenario or more than :data:`MAX_BATCH`
   subjects; a malformed code only makes its own item ``invalid``, with the reason;
2. codes are resolved in bulk: USCC, resident ID (by its keyed hash, as ``subjects.service`` does), legacy codes
   (aliases); a name without a code gives ``candidates`` with scores (``lists.matching.find_candidates``) and never
   measures — a punishment rests on concrete facts about an identified subject (国办发〔2020〕49号);
3. the entries in force on the day (the predicate of ``lists.rules.in_force_clause``, each with its open-objection
   marker, in one query) select the measures whose trigger list types match and whose scenarios include the
   requested one (``general``: all), from the in-memory catalogue; grades are looked up for the subjects that
   have an evaluation result;
4. the check and its items are recorded: who, which system, which scenario, what was answered (on SQLite in a
   transaction of its own that takes the write lock first, see :func:`_record`).

The single-subject check is the platform's hottest path (hundreds a second over HTTP), so its statements are
built once and run on the driver's cursor (``measures._sql.Prepared``) and the record is two plain INSERTs: the
ORM's per-statement and unit-of-work costs were several times the database's own work. Batches share the path.

Feedback (反馈) says, per item and measure, whether the department applied it and, when not, why.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict, namedtuple
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, bindparam, case, exists, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from xinyong.auth.models import Department
from xinyong.auth.roles import Principal
from xinyong.cases.models import Case
from xinyong.cases.service import OBJECTION_MARKER
from xinyong.core import audit, clock
from xinyong.core.bulk import allocate_ids, dumps, insert_rows
from xinyong.core.db import Database, holds_write_lock, turn_of, utcnow
from xinyong.core.errors import Conflict, NotFound, ValidationFailed
from xinyong.evaluation.models import EvaluationResult
from xinyong.evaluation.service import current_grades
from xinyong.identifiers import explain, resident_id, uscc
from xinyong.identifiers._text import compact
from xinyong.identifiers.masking import mask_name, mask_resident_id
from xinyong.identifiers.names import normalize_org_name, normalize_person_name
from xinyong.identifiers.vault import get_vault
from xinyong.lists.models import ListEntry
from xinyong.lists.rules import in_force_clause
from xinyong.measures._sql import Prepared
from xinyong.measures.models import Check, CheckFeedback, CheckItem, Measure, Memorandum
from xinyong.measures.service import (
    CachedMeasure,
    Catalogue,
    catalogue,
    fingerprint_columns,
)
from xinyong.measures.spec import (
    CATEGORY_LABELS,
    KIND_LABELS,
    PARTY_KINDS,
    SCENARIOS,
    require_scenario,
)
from xinyong.subjects.models import Subject, SubjectAlias

MAX_BATCH = 10_000
CANDIDATE_LIMIT = 5
_CHUNK = 900
PERSON = "natural_person"
log = logging.getLogger(__name__)
OUTCOME_LABELS = {"matched": "已匹配", "candidates": "仅按名称查询：候选主体", "not_found": "未找到", "invalid": "代码无效"}


@dataclass(frozen=True)
class SubjectQuery:
    """One subject as the caller names it: a code (USCC, legacy code, resident ID), or a name (+ region)."""

    code: str | None = None
    name: str | None = None
    region: str | None = None
    kind: str | None = None


@dataclass
class _Item:
    position: int
    query: SubjectQuery
    outcome: str = "not_found"
    reason: str | None = None
    subject: Any = None  # a row of _SUBJECT_COLS
    candidates: list[dict[str, Any]] | None = None
    warnings: list[str] | None = None
    looks_personal: bool = False


#: Whether the subject has any evaluation result: the grades are looked up only for those that have.
_GRADED = exists().where(EvaluationResult.subject_id == Subject.id).label("graded")
_SUBJECT_COLS = (Subject.id, Subject.kind, Subject.name, Subject.name_norm, Subject.uscc, Subject.resident_id_masked,
                 Subject.region_code, _GRADED)


def _values(n: int) -> list[Any]:
    return [bindparam(f"v{i}") for i in range(n)]


_SubjectRow = namedtuple("_SubjectRow", "id kind name name_norm uscc resident_id_masked region_code graded")


@dataclass(frozen=True, slots=True)
class _Entry:
    """A list entry in force, as the check shows it (dates as ISO text)."""

    id: int
    subject_id: int
    list_type_id: int
    authority: str
    decision_no: str | None
    listed_on: str | None
    term_end: str | None
    reason: str
    legal_basis: str
    objected: bool


def _iso(value: Any) -> str | None:
    return value if value is None or isinstance(value, str) else value.isoformat()


_E = ListEntry.__table__
# An open objection (异议处理中) is the same predicate as ``cases.service.open_objection_targets``; asked here in the
# entries' own query instead of a second one (tests/cases check that the check marks such entries).
_OBJECTED = exists().where(Case.target_type == "list_entry", Case.target_id == _E.c.id, Case.kind == "objection",
                           Case.closed_at.is_(None)).label("objected")
# Each row also carries the catalogue's fingerprint (``measures.service.fingerprint_columns``): the catalogue is
# needed only when some entry is in force, and then it is known whether the cached one is current without a
# statement (a round trip on PostgreSQL) of its own.
_ENTRIES_IN_FORCE = Prepared(
    lambda n: select(_E.c.id, _E.c.subject_id, _E.c.list_type_id, _E.c.authority, _E.c.decision_no, _E.c.listed_on,
                     _E.c.term_end, _E.c.reason, _E.c.legal_basis, _OBJECTED, *fingerprint_columns())
    .where(_E.c.subject_id.in_(_values(n)), in_force_clause(_E.c, bindparam("on")))
    .order_by(_E.c.subject_id, _E.c.listed_on, _E.c.id),
    lambda r: (_Entry(r[0], r[1], r[2], r[3], r[4], _iso(r[5]), _iso(r[6]), r[7], r[8], bool(r[9])), r[10:]),
)


# The commonest check names subjects by USCC: they come with their entries in force (LEFT JOIN on the same
# predicate; a subject without any has one row with no entry) and the fingerprint, in one statement.
_SUBJECTS_BY_USCC = Prepared(
    lambda n: select(*_SUBJECT_COLS, _E.c.id, _E.c.list_type_id, _E.c.authority, _E.c.decision_no, _E.c.listed_on,
                     _E.c.term_end, _E.c.reason, _E.c.legal_basis, _OBJECTED, *fingerprint_columns())
    .select_from(Subject.__table__.outerjoin(_E, and_(_E.c.subject_id == Subject.id,
                                                      in_force_clause(_E.c, bindparam("on")))))
    .where(Subject.uscc.in_(_values(n)))
    .order_by(Subject.id, _E.c.listed_on, _E.c.id),
    lambda r: (_SubjectRow(*r[:8]),
               None if r[8] is None else _Entry(r[8], r[0], r[9], r[10], r[11], _iso(r[12]), _iso(r[13]), r[14],
                                                r[15], bool(r[16])),
               r[17:]),
)


def _entries_in_force(session: Session, subject_ids: Iterable[int], on: dt.date
                      ) -> tuple[dict[int, list[_Entry]], tuple[Any, ...] | None]:
    """Entries that count on ``on`` for each subject (as ``lists.queries.entries_in_force``), each with whether
    an objection against it is open; and the catalogue's fingerprint as of that read (None without entries)."""
    conn = session.connection()
    day: Any = on.isoformat() if conn.dialect.name == "sqlite" else on
    out: dict[int, list[_Entry]] = defaultdict(list)
    fingerprint = None
    for chunk in _chunks(sorted(set(subject_ids))):
        for entry, fp in _ENTRIES_IN_FORCE.rows(conn, chunk, on=day):
            out[entry.subject_id].append(entry)
            fingerprint = fingerprint or fp
    return dict(out), fingerprint


# Resolution ----------------------------------------------------------------------------------------------------


def _personal_shape(c: str) -> bool:
    return (len(c) == 18 and c[:17].isdigit()) or (len(c) == 15 and c.isdigit())


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


@dataclass(frozen=True)
class _ValidUscc:
    """What :func:`explain` says of a valid USCC that is not also a valid resident ID (the fast path of the
    check's commonest input; ``tests/measures/test_check_paths.py`` holds the two equal)."""

    normalized: str
    kind: str = "uscc"
    valid: bool = True
    errors: tuple[Any, ...] = ()


def _explain(raw: str, c: str, looks_personal: bool) -> Any:
    # explain() reads an 18-digit code as a resident ID when that reading is valid, else as a USCC; the fast
    # checks (no region look-up, which only ever warns) decide the same.
    if len(c) == 18 and uscc.is_valid(c) and not (looks_personal and resident_id.is_valid(c)):
        return _ValidUscc(c)
    return explain(raw)


def _resolve_codes(session: Session, items: list[_Item], on: dt.date
                   ) -> tuple[dict[int, list[_Entry]], tuple[Any, ...] | None]:
    """Resolve every item with a code in bulk: USCCs and resident IDs (by keyed hash) first, one query per kind
    and chunk; then legacy codes (aliases) for the items still unresolved. Returns the entries in force on ``on``
    of the subjects found by USCC (every one of them a key, maybe with no entry) and the catalogue's
    fingerprint, which come with them."""
    plans: list[tuple[_Item, str, Any, str | None]] = []
    by_uscc: set[str] = set()
    by_hash: set[str] = set()
    for item in items:
        raw = (item.query.code or "").strip()
        c = compact(raw)  # as uscc.compact would make it: the keys below use it as it is
        item.looks_personal = _personal_shape(c)
        check = _explain(raw, c, item.looks_personal)
        digest = None
        if check.kind == "resident_id":
            item.looks_personal = True
            if check.valid and check.normalized:
                digest = get_vault().lookup_hash(check.normalized)
                by_hash.add(digest)
        if len(c) == 18:
            by_uscc.add(c)
        plans.append((item, c, check, digest))

    found_uscc: dict[str, Any] = {}
    found_hash: dict[str, Any] = {}
    found_alias: dict[str, Any] = {}
    prefetched: dict[int, list[_Entry]] = {}
    fingerprint = None
    if by_uscc:
        conn = session.connection()
        day: Any = on.isoformat() if conn.dialect.name == "sqlite" else on
        for chunk in _chunks(sorted(by_uscc)):
            for row, entry, fp in _SUBJECTS_BY_USCC.rows(conn, chunk, on=day):
                found_uscc[row.uscc] = row
                entries = prefetched.setdefault(row.id, [])
                if entry is not None:
                    entries.append(entry)
                fingerprint = fp
    for chunk in _chunks(sorted(by_hash)):
        for row in session.execute(select(*_SUBJECT_COLS, Subject.resident_id_hash)
                                   .where(Subject.resident_id_hash.in_(chunk))):
            found_hash[row.resident_id_hash] = row
    by_alias: set[str] = set()
    for _item, c, check, digest in plans:
        if (len(c) == 18 and c in found_uscc) or (digest is not None and digest in found_hash):
            continue
        by_alias.add(c)
        if check.kind == "org_code" and check.valid and check.normalized:
            by_alias.add(check.normalized)
    for chunk in _chunks(sorted(by_alias)):
        for row in session.execute(select(*_SUBJECT_COLS, SubjectAlias.value)
                                   .join(SubjectAlias, SubjectAlias.subject_id == Subject.id)
                                   .where(SubjectAlias.value.in_(chunk))):
            found_alias.setdefault(row.value, row)

    for item, c, check, digest in plans:
        row = None
        if len(c) == 18:
            row = found_uscc.get(c)
        if row is None and digest is not None:
            row = found_hash.get(digest)
        if row is None:
            row = found_alias.get(c)
            if row is None and check.kind == "org_code" and check.normalized:
                row = found_alias.get(check.normalized)
        if row is not None:
            item.outcome, item.subject = "matched", row
            if row.kind == PERSON:
                item.looks_personal = True
            _name_warning(item)
        elif check.valid:
            item.outcome, item.reason = "not_found", "平台未登记该代码对应的信用主体，未发现红黑名单记录"
        else:
            problems = "；".join(e.message for e in check.errors) or "代码格式无效"
            item.outcome, item.reason = "invalid", f"代码无效：{problems}"
    return prefetched, fingerprint


def _name_warning(item: _Item) -> None:
    name = (item.query.name or "").strip()
    if not name:
        return
    row = item.subject
    norm = normalize_person_name(name) if row.kind == PERSON else normalize_org_name(name)
    if norm != row.name_norm:
        item.warnings = ["查询所给名称与登记名称不一致，已按代码匹配，请核对"]


def _resolve_names(session: Session, items: list[_Item]) -> None:
    from xinyong.lists.matching import find_candidates

    found: list[tuple[_Item, list[Any]]] = []
    ids: set[int] = set()
    for item in items:
        q = item.query
        cands = find_candidates(session, name=q.name or "", region_code=q.region, party_kind=q.kind,
                                limit=CANDIDATE_LIMIT)
        found.append((item, cands))
        ids.update(c.subject_id for c in cands)
    rows = {}
    for chunk in _chunks(sorted(ids)):
        for row in session.execute(select(*_SUBJECT_COLS).where(Subject.id.in_(chunk))):
            rows[row.id] = row
    for item, cands in found:
        if not cands:
            item.outcome, item.reason = "not_found", "未找到名称相符的信用主体"
            continue
        item.outcome = "candidates"
        item.reason = "仅按名称查询不实施联合奖惩措施：请确认主体后以统一社会信用代码或身份证号码重新核查"
        item.candidates = [_candidate_view(c, rows.get(c.subject_id)) for c in cands]
        if any(c.kind == PERSON for c in cands):
            item.looks_personal = True


def _candidate_view(c: Any, row: Any) -> dict[str, Any]:
    person = c.kind == PERSON
    return {"subject_id": c.subject_id, "kind": c.kind, "name": mask_name(c.name) if person else c.name,
            "uscc": None if person or row is None else row.uscc,
            "resident_id": row.resident_id_masked if person and row is not None else None,
            "region_code": None if person or row is None else row.region_code,
            "score": round(float(c.score), 4), "match": bool(c.match), "evidence": c.evidence}


def _parse(position: int, q: SubjectQuery) -> _Item:
    item = _Item(position=position, query=q)
    code, name, region = (q.code or "").strip(), (q.name or "").strip(), (q.region or "").strip()
    if q.kind is not None and q.kind not in PARTY_KINDS:
        item.outcome, item.reason = "invalid", f"主体类别应为 {', '.join(PARTY_KINDS)} 之一"
    elif not code and not name:
        item.outcome, item.reason = "invalid", "缺少代码或名称：请提供统一社会信用代码、身份证号码，或名称与地区"
    elif not code and region and not (len(region) == 6 and region.isdigit()):
        item.outcome, item.reason = "invalid", "地区应为6位行政区划代码"
    return item


# Measures ------------------------------------------------------------------------------------------------------


def select_measures(cat: Catalogue, subject_kind: str, entries: Sequence[Any], scenario: str
                    ) -> list[tuple[CachedMeasure, list[Any]]]:
    """Active measures triggered by ``entries`` (in force) that apply in ``scenario`` to this kind of subject,
    each with the entries that trigger it; punishments first, then rewards, in catalogue order."""
    hits: dict[str, tuple[CachedMeasure, list[Any]]] = {}
    for entry in entries:
        lt = cat.list_types.get(entry.list_type_id)
        if lt is None:
            continue
        for m in cat.by_list_type.get(lt.code, ()):
            if not m.applies_in(scenario) or subject_kind not in m.party_kinds:
                continue
            hits.setdefault(m.code, (m, []))[1].append(entry)
    return sorted(hits.values(), key=lambda h: (h[0].kind != "punish", h[0].sort_order, h[0].code))


def _entry_view(entry: _Entry, cat: Catalogue) -> dict[str, Any]:
    lt = cat.list_types.get(entry.list_type_id)
    return {"id": entry.id, "objection": OBJECTION_MARKER if entry.objected else None,
            "list_type": lt.code if lt else None, "list_name": lt.name if lt else None,
            "list_kind": lt.kind if lt else None, "authority": entry.authority, "decision_no": entry.decision_no,
            "listed_on": entry.listed_on, "term_end": entry.term_end, "reason": entry.reason,
            "legal_basis": entry.legal_basis}


def _reason_view(entry: _Entry, cat: Catalogue) -> dict[str, Any]:
    lt = cat.list_types.get(entry.list_type_id)
    name = lt.name if lt else "名单"
    until = entry.term_end or "移出名单之日（无固定期限）"
    doc = f"（{entry.decision_no}）" if entry.decision_no else ""
    return {"entry_id": entry.id, "list_type": lt.code if lt else None, "list_name": name,
            "listed_on": entry.listed_on, "term_end": entry.term_end, "authority": entry.authority,
            "text": f"被{entry.authority}列入「{name}」{doc}，列入日期 {entry.listed_on}，有效期至 {until}；"
                    f"列入事由：{entry.reason}"}


def _measure_answer(m: CachedMeasure, entries: list[Any], cat: Catalogue) -> dict[str, Any]:
    return {"code": m.code, "kind": m.kind, "kind_label": KIND_LABELS[m.kind], "category": m.category,
            "category_label": CATEGORY_LABELS[m.category], "title": m.title, "content": m.content,
            "department": m.department, "mandatory": m.mandatory, "confidence": m.confidence,
            "legal_basis": list(m.legal_basis), "memorandum": m.memorandum,
            "reasons": [_reason_view(e, cat) for e in entries]}


def _subject_view(row: Any) -> dict[str, Any]:
    if row.kind == PERSON:  # a person: the name and the masked ID only
        return {"id": row.id, "kind": row.kind, "name": row.name, "resident_id": row.resident_id_masked}
    return {"id": row.id, "kind": row.kind, "name": row.name, "uscc": row.uscc, "region_code": row.region_code}


def _query_record(item: _Item) -> dict[str, Any]:
    """The query as stored and echoed: personal ID numbers masked, a person's name masked."""
    q = item.query
    code = (q.code or "").strip() or None
    if code and item.looks_personal:
        code = mask_resident_id(code)
    name = (q.name or "").strip() or None
    if name and item.looks_personal:
        name = mask_name(name)
    out: dict[str, Any] = {"code": code, "name": name}
    if q.region:
        out["region"] = q.region.strip()
    if q.kind:
        out["kind"] = q.kind
    return out


def _conclusion(item: _Item, entries: list[Any], measures: list[dict[str, Any]], scenario: str) -> str:
    if item.outcome != "matched":
        return item.reason or OUTCOME_LABELS[item.outcome]
    punish = [m for m in measures if m["kind"] == "punish"]
    reward = [m for m in measures if m["kind"] == "reward"]
    if not entries:
        return "未发现处于有效期内的红黑名单记录，无适用的联合奖惩措施"
    if not measures:
        return f"存在 {len(entries)} 条有效名单记录，但在「{SCENARIOS[scenario]}」场景中无适用的联合奖惩措施"
    parts = []
    if punish:
        parts.append(f"惩戒措施 {len(punish)} 项（其中应当实施 {sum(m['mandatory'] for m in punish)} 项）")
    if reward:
        parts.append(f"激励措施 {len(reward)} 项")
    return f"依据 {len(entries)} 条有效名单记录，适用" + "、".join(parts) + "；请按各措施的法律依据实施并反馈"


# The check -----------------------------------------------------------------------------------------------------


def run_check(session: Session, *, actor: Principal, subjects: Sequence[SubjectQuery], scenario: str,
              reference: str | None = None, on: dt.date | None = None) -> dict[str, Any]:
    """Check ``subjects`` in ``scenario`` on day ``on`` (default today) and record the check; returns the answer."""
    require_scenario(scenario)
    if not subjects:
        raise ValidationFailed("请至少提供一个核查主体", code="no_subjects")
    if len(subjects) > MAX_BATCH:
        raise ValidationFailed(f"每次最多核查 {MAX_BATCH} 个主体（本次 {len(subjects)} 个），请分批提交",
                               code="batch_too_large", details={"max": MAX_BATCH, "given": len(subjects)})
    if reference is not None and len(reference) > 200:
        raise ValidationFailed("业务编号不能超过200个字符", code="reference_too_long")
    on = on or clock.today()
    separate = _records_apart(session)
    # Reads never flush the caller's pending changes (see _record: on SQLite the reading transaction stays
    # read-only so that concurrent checks do not collide).
    with session.no_autoflush:
        items = [_parse(i, q) for i, q in enumerate(subjects)]
        pending = [it for it in items if it.outcome == "not_found"]
        prefetched, fingerprint = _resolve_codes(session, [it for it in pending if (it.query.code or "").strip()],
                                                 on)
        _resolve_names(session, [it for it in pending if not (it.query.code or "").strip()])
        matched = [it for it in items if it.outcome == "matched"]
        # An entry under objection still counts, but the answer says so (异议处理中) so the department can wait.
        # Subjects found by USCC came with their entries; the others (resident ID, legacy code) are read here.
        rest = {it.subject.id for it in matched} - prefetched.keys()
        in_force, later = _entries_in_force(session, rest, on) if rest else ({}, None)
        in_force.update((k, v) for k, v in prefetched.items() if v)
        fingerprint = later or fingerprint
        # The catalogue (measures, list types) is needed only for entries in force.
        cat = catalogue(session, fingerprint=fingerprint) if in_force else None
        # Current credit grades, where the catalog's evaluation class lets this caller see them (one query, for
        # the subjects that have an evaluation result at all).
        graded = [it for it in matched if it.subject.graded]
        grades = current_grades(session, [it.subject.id for it in graded], role=actor.role.value if actor.role
                                else None, kinds={it.subject.id: it.subject.kind for it in graded}) if graded else {}

    results: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    for it in items:
        counts[it.outcome] += 1
        entries = in_force.get(it.subject.id, []) if it.outcome == "matched" else []
        chosen = select_measures(cat, it.subject.kind, entries, scenario) if entries else []
        measures = [_measure_answer(m, es, cat) for m, es in chosen]
        if any(m["kind"] == "punish" for m in measures):
            counts["with_punishments"] += 1
        if any(m["kind"] == "reward" for m in measures):
            counts["with_rewards"] += 1
        counts["measures"] += len(measures)
        query = _query_record(it)
        results.append({
            "position": it.position, "query": query, "outcome": it.outcome, "reason": it.reason,
            "warnings": it.warnings or [], "subject": _subject_view(it.subject) if it.subject is not None else None,
            "candidates": it.candidates or [], "entries": [_entry_view(e, cat) for e in entries],
            "measures": measures, "conclusion": _conclusion(it, entries, measures, scenario),
            "grades": grades.get(it.subject.id, []) if it.outcome == "matched" else [],
        })
        rows.append({"position": it.position, "query": query, "outcome": it.outcome, "reason": it.reason,
                     "subject_id": it.subject.id if it.subject is not None else None, "candidates": it.candidates,
                     "entry_ids": [e.id for e in entries], "measure_codes": [m["code"] for m in measures]})

    summary = {"subjects": len(items), **{k: counts[k] for k in ("matched", "candidates", "not_found", "invalid",
                                                                    "with_punishments", "with_rewards", "measures")}}
    check = {"at": utcnow(), "checked_on": on, "actor": actor.actor, "role": actor.role.value if actor.role else None,
             "department_id": actor.department_id, "system": actor.name, "reference": reference,
             "scenario": scenario, "subject_count": len(items), "with_measures": counts["measures"] > 0,
             "summary": summary}
    check_id = _record(session, check, rows, results, separate=separate)
    persons = [it.subject.id for it in matched if it.subject.kind == PERSON]
    if persons:  # a check naming a person is in that person's access log (查询记录)
        from xinyong.subjects import access_log

        access_log.record_check(session, actor=actor, subject_ids=persons, scenario=scenario, check_id=check_id,
                                separate=separate)
    return {"check_id": check_id, "scenario": scenario, "scenario_label": SCENARIOS[scenario],
            "checked_on": on.isoformat(), "checked_at": check["at"].isoformat(), "reference": reference,
            "summary": summary, "results": results}


def check_and_record(db: Database, *, actor: Principal, subjects: Sequence[SubjectQuery], scenario: str,
                     reference: str | None = None) -> dict[str, Any]:
    """:func:`run_check` as the API runs it, recorded and committed before it returns.

    The reads run on ``Database.statement_engine``, each statement its own transaction (read committed; the
    check needs no snapshot across its few queries), without ``BEGIN``/``COMMIT``. The record: on PostgreSQL one
    statement (or, for more than ``_FEW_ITEMS`` subjects, one transaction) — four round trips for a
    single-subject check instead of eight; on SQLite a short ``BEGIN IMMEDIATE`` transaction on the same
    connection (see :func:`_record`). PostgreSQL connections of that engine are not pinged at checkout: when a
    check meets a dead one (the server restarted) before anything was written, the pool is emptied and the check
    runs once more on a new connection — what the ping would have done, paid only when it happens.
    """
    engine = db.statement_engine
    sqlite = engine.dialect.name == "sqlite"
    for attempt in (1, 2):
        conn = engine.connect()
        session = Session(bind=conn, expire_on_commit=False)
        if sqlite:
            session.info["record_apart"] = db.engine
        try:
            answer = run_check(session, actor=actor, subjects=subjects, scenario=scenario, reference=reference)
            session.commit()
            return answer
        except Exception as exc:
            lost = not sqlite and _connection_lost(conn)
            if attempt == 2 or not lost or session.info.get("check_write_sent"):
                raise
            log.warning("check: a pooled connection to the database was dead (%s); pool emptied, check retried",
                        type(exc).__name__)
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


def _record(session: Session, check: dict[str, Any], rows: list[dict[str, Any]], results: list[dict[str, Any]], *,
            separate: bool) -> int:
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
    engine = session.info.get("record_apart") or session.get_bind()
    with turn_of(engine):
        if len(rows) > _FEW_ITEMS:
            with Session(bind=engine, expire_on_commit=False) as own, own.begin():
                return _write(own, check, rows, results)
        # Few items: the transaction on the driver's connection itself (SQLAlchemy's transaction and session
        # bookkeeping cost more than these two INSERTs).
        reuse = session.info.get("record_apart") is not None
        with nullcontext(session.connection()) if reuse else engine.connect() as conn:
            driver = conn.connection.driver_connection
            driver.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]
            try:
                check_id, ids = _insert(driver, True, check, rows)
            except BaseException:
                driver.execute("ROLLBACK")  # type: ignore[union-attr]
                raise
            driver.execute("COMMIT")  # type: ignore[union-attr]
    _item_ids(results, ids)
    return check_id


_CHECK_COLUMNS = ("at", "checked_on", "actor", "role", "department_id", "system", "reference", "scenario",
                  "subject_count", "with_measures", "summary")
_ITEM_COLUMNS = ("check_id", "position", "query", "outcome", "reason", "subject_id", "candidates", "entry_ids",
                 "measure_codes")
#: Up to this many items are written by one ``INSERT … RETURNING`` on the driver's cursor; a larger batch by
#: ``core.bulk`` (ids allocated first, then executemany / COPY).
_FEW_ITEMS = 100


def _write(session: Session, check: dict[str, Any], rows: list[dict[str, Any]], results: list[dict[str, Any]]
           ) -> int:
    """The check row and its item rows in the session's transaction (on PostgreSQL in autocommit, see
    :func:`check_and_record`: one statement, or one transaction of the driver's for a large batch)."""
    conn = session.connection()
    driver = conn.connection.driver_connection
    sqlite = conn.dialect.name == "sqlite"
    session.info["check_write_sent"] = True
    if len(rows) <= _FEW_ITEMS:
        check_id, ids = _insert(driver, sqlite, check, rows)
    else:
        autocommit = bool(getattr(driver, "autocommit", False))
        with driver.transaction() if autocommit else nullcontext():  # type: ignore[union-attr]
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
        values.update(at=at.isoformat(sep=" ", timespec="microseconds"), checked_on=check["checked_on"].isoformat(),
                      with_measures=int(check["with_measures"]))
    head = (f"INSERT INTO checks ({', '.join(_CHECK_COLUMNS)}) "
            f"VALUES ({', '.join(mark for _ in _CHECK_COLUMNS)}) RETURNING id")
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
        cursor.execute(f"INSERT INTO check_items ({', '.join(_ITEM_COLUMNS)}) "
                       f"VALUES {', '.join(one for _ in rows)} RETURNING position, id", items)
        by_position = dict(cursor.fetchall())
    finally:
        cursor.close()
    return check_id, [by_position[r["position"]] for r in rows]


def _item_params(r: dict[str, Any]) -> tuple[Any, ...]:
    """An item's values after its check id, in the order of ``_ITEM_COLUMNS[1:]``."""
    return (r["position"], dumps(r["query"]), r["outcome"], r["reason"], r["subject_id"],
            None if r["candidates"] is None else dumps(r["candidates"]), dumps(r["entry_ids"]),
            dumps(r["measure_codes"]))


@lru_cache(maxsize=_FEW_ITEMS)
def _pg_record_sql(n: int) -> str:
    """The check and ``n`` items in one PostgreSQL statement (data-modifying CTEs); each value is cast to its
    column's type (a VALUES list does not take it from the target table)."""
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.dialect()
    table = CheckItem.__table__
    cols = _ITEM_COLUMNS[1:]
    one = "(" + ", ".join(f"CAST(%s AS {table.c[c].type.compile(dialect=dialect)})" for c in cols) + ")"
    return (f"WITH c AS (INSERT INTO checks ({', '.join(_CHECK_COLUMNS)}) "
            f"VALUES ({', '.join('%s' for _ in _CHECK_COLUMNS)}) RETURNING id), "
            f"i AS (INSERT INTO check_items ({', '.join(_ITEM_COLUMNS)}) "
            f"SELECT c.id, {', '.join('v.' + c for c in cols)} FROM c, (VALUES {', '.join(one for _ in range(n))}) "
            f"AS v({', '.join(cols)}) RETURNING check_id, position, id) "
            f"SELECT check_id, position, id FROM i")


def _item_ids(results: list[dict[str, Any]], ids: list[int]) -> None:
    for result, item_id in zip(results, ids, strict=True):
        result["item_id"] = item_id


# Reading checks ------------------------------------------------------------------------------------------------


def get_check(session: Session, check_id: int, *, actor: Principal) -> Check:
    """A check the principal may see (its own department's; the admin sees all); others are "not found"."""
    check = session.get(Check, check_id)
    if check is None or not (actor.is_admin or (actor.department_id is not None
                                                  and check.department_id == actor.department_id)):
        raise NotFound(f"没有编号为 {check_id} 的核查记录", code="check_not_found")
    return check


def check_view(check: Check) -> dict[str, Any]:
    return {"id": check.id, "at": check.at.isoformat(), "checked_on": check.checked_on.isoformat(),
            "actor": check.actor, "role": check.role, "department_id": check.department_id, "system": check.system,
            "reference": check.reference, "scenario": check.scenario, "subject_count": check.subject_count,
            "with_measures": check.with_measures, "summary": check.summary}


def check_detail(session: Session, check: Check) -> dict[str, Any]:
    """The recorded check: its items (as recorded), their feedback, and the measures they named."""
    items = list(session.scalars(select(CheckItem).where(CheckItem.check_id == check.id)
                                 .order_by(CheckItem.position)))
    feedback: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for fb in session.scalars(select(CheckFeedback).where(CheckFeedback.check_id == check.id)
                              .order_by(CheckFeedback.id)):
        feedback[fb.item_id].append({"measure_code": fb.measure_code, "applied": fb.applied, "reason": fb.reason,
                                     "actor": fb.actor, "at": fb.at.isoformat()})
    codes = sorted({c for it in items for c in it.measure_codes})
    measures = {}
    if codes:
        memos = {m.id: m for m in session.scalars(select(Memorandum))}
        for m in session.scalars(select(Measure).where(Measure.code.in_(codes))):
            memo = memos[m.memorandum_id]
            measures[m.code] = {"title": m.title, "kind": m.kind, "mandatory": m.mandatory,
                                "legal_basis": m.legal_basis, "department": m.department,
                                "memorandum": {"code": memo.code, "title": memo.title, "doc_no": memo.doc_no}}
    view = check_view(check)
    view["items"] = [{"item_id": it.id, "position": it.position, "query": it.query, "outcome": it.outcome,
                      "reason": it.reason, "subject_id": it.subject_id, "candidates": it.candidates or [],
                      "entry_ids": it.entry_ids, "measure_codes": it.measure_codes,
                      "feedback": feedback.get(it.id, [])} for it in items]
    view["measures"] = measures
    return view


def list_checks(session: Session, *, actor: Principal, department_id: int | None = None,
                date_from: dt.date | None = None, date_to: dt.date | None = None, scenario: str | None = None,
                limit: int = 50, offset: int = 0) -> list[Check]:
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


# Feedback ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedbackInput:
    measure_code: str
    applied: bool
    reason: str | None = None
    item_id: int | None = None


def record_feedback(session: Session, *, actor: Principal, check_id: int,
                    items: Sequence[FeedbackInput]) -> list[CheckFeedback]:
    """Record what the department did with each measure of the answer. Only the department that made the check
    (or the admin) may; every measure of an item named here must be answered (applied, or not with a reason);
    a measure that was not in the answer, or feedback given twice, is refused and nothing is written."""
    check = get_check(session, check_id, actor=actor)
    if not items:
        raise ValidationFailed("反馈不能为空", code="feedback_empty")
    check_items = {it.id: it for it in session.scalars(select(CheckItem).where(CheckItem.check_id == check.id))}
    with_measures = [it for it in check_items.values() if it.measure_codes]
    if not with_measures:
        raise ValidationFailed("该次核查没有适用的措施，无需反馈", code="no_measures_to_feedback")
    seen: set[tuple[int, str]] = set()
    per_item: dict[int, set[str]] = defaultdict(set)
    for fb in items:
        if fb.item_id is None:
            if len(with_measures) != 1:
                raise ValidationFailed("该次核查有多个主体适用措施，请为每条反馈指定 item_id", code="item_required")
            item = with_measures[0]
        else:
            item = check_items.get(fb.item_id)
            if item is None:
                raise ValidationFailed(f"核查记录 {check.id} 中没有条目 {fb.item_id}", code="item_not_in_check",
                                       details={"item_id": fb.item_id})
        if fb.measure_code not in item.measure_codes:
            raise ValidationFailed(f"措施 {fb.measure_code} 不在该条核查结果中，不能反馈",
                                   code="measure_not_in_answer",
                                   details={"item_id": item.id, "measure_code": fb.measure_code,
                                            "answered": item.measure_codes})
        if not fb.applied and not (fb.reason or "").strip():
            raise ValidationFailed(f"措施 {fb.measure_code} 未实施，必须说明原因", code="reason_required",
                                   details={"item_id": item.id, "measure_code": fb.measure_code})
        key = (item.id, fb.measure_code)
        if key in seen:
            raise ValidationFailed(f"措施 {fb.measure_code} 重复反馈", code="feedback_duplicate")
        seen.add(key)
        per_item[item.id].add(fb.measure_code)
    existing = {(f.item_id, f.measure_code) for f in session.scalars(
        select(CheckFeedback).where(CheckFeedback.check_id == check.id))}
    again = sorted(code for key in seen if key in existing for code in [key[1]])
    if again:
        raise Conflict(f"措施 {', '.join(again)} 已反馈过，不能重复反馈", code="feedback_exists",
                       details={"measure_codes": again})
    for item_id, codes in per_item.items():
        done = {c for (i, c) in existing if i == item_id} | codes
        missing = [c for c in check_items[item_id].measure_codes if c not in done]
        if missing:
            raise ValidationFailed(f"请对该条核查结果的全部措施反馈是否实施（缺少 {', '.join(missing)}）",
                                   code="feedback_incomplete", details={"item_id": item_id, "missing": missing})
    resolved = []
    for fb in items:
        item_id = fb.item_id if fb.item_id is not None else with_measures[0].id
        resolved.append(CheckFeedback(check_id=check.id, item_id=item_id, measure_code=fb.measure_code,
                                      applied=fb.applied, reason=(fb.reason or "").strip() or None,
                                      actor=actor.actor, department_id=actor.department_id))
    session.add_all(resolved)
    session.flush()
    audit.record(session, actor=actor.actor, action="checks.feedback", entity_type="check", entity_id=check.id,
                 after={"feedback": [{"item_id": f.item_id, "measure_code": f.measure_code, "applied": f.applied,
                                      "reason": f.reason} for f in resolved]})
    return resolved


def feedback_rates(session: Session, *, actor: Principal, date_from: dt.date | None = None,
                   date_to: dt.date | None = None, department_id: int | None = None) -> list[dict[str, Any]]:
    """Per department over a range of check days: checks, checks whose answer named measures, those with
    feedback, and the feedback rate (with feedback / with measures)."""
    has_feedback = exists().where(CheckFeedback.check_id == Check.id)
    stmt = select(Check.department_id, func.count(Check.id),
                  func.sum(case((Check.with_measures.is_(True), 1), else_=0)),
                  func.sum(case((Check.with_measures.is_(True) & has_feedback, 1), else_=0))
                  ).group_by(Check.department_id)
    if not actor.is_admin:
        stmt = stmt.where(Check.department_id == actor.department_id)
    elif department_id is not None:
        stmt = stmt.where(Check.department_id == department_id)
    if date_from:
        stmt = stmt.where(Check.checked_on >= date_from)
    if date_to:
        stmt = stmt.where(Check.checked_on <= date_to)
    rows = list(session.execute(stmt))
    depts = {d.id: d for d in session.scalars(select(Department).where(
        Department.id.in_([r[0] for r in rows if r[0] is not None])))} if rows else {}
    out = []
    for dept_id, total, with_measures, with_feedback in rows:
        d = depts.get(dept_id)
        with_measures, with_feedback = int(with_measures or 0), int(with_feedback or 0)
        out.append({"department_id": dept_id, "department_code": d.code if d else None,
                    "department_name": d.name if d else "平台（命令行/管理员）", "checks": int(total),
                    "checks_with_measures": with_measures, "checks_with_feedback": with_feedback,
                    "rate": round(with_feedback / with_measures, 4) if with_measures else None})
    out.sort(key=lambda r: (r["department_code"] is None, r["department_code"] or ""))
    return out
