"""The credit check (信用核查): which measures apply to these subjects in this scenario, with reasons and legal bases.

Flow of :func:`run_check` (one transaction, a few indexed queries whatever the batch size):
1. the request as a whole is refused (nothing recorded) for an unknown scenario or more than :data:`MAX_BATCH`
   subjects; a malformed code only makes its own item ``invalid``, with the reason;
2. codes are resolved in bulk: USCC, resident ID (by its keyed hash, as ``subjects.service`` does), legacy codes
   (aliases); a name without a code gives ``candidates`` with scores (``lists.matching.find_candidates``) and never
   measures — a punishment rests on concrete facts about an identified subject (国办发〔2020〕49号);
3. the entries in force on the day (``lists.queries.entries_in_force``) select the measures whose trigger list types
   match and whose scenarios include the requested one (``general``: all), from the in-memory catalogue;
4. the check and its items are recorded (items in bulk): who, which system, which scenario, what was answered.

Feedback (反馈) says, per item and measure, whether the department applied it and, when not, why.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, exists, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from xinyong.auth.models import Department
from xinyong.auth.roles import Principal
from xinyong.cases.service import OBJECTION_MARKER
from xinyong.core import audit, clock
from xinyong.core.bulk import allocate_ids, insert_rows
from xinyong.core.db import has_written
from xinyong.core.errors import Conflict, NotFound, ValidationFailed
from xinyong.evaluation.service import current_grades
from xinyong.identifiers import explain, uscc
from xinyong.identifiers._text import compact
from xinyong.identifiers.masking import mask_name, mask_resident_id
from xinyong.identifiers.names import normalize_org_name, normalize_person_name
from xinyong.identifiers.vault import get_vault
from xinyong.lists.queries import entries_in_force
from xinyong.lists.service import open_objections
from xinyong.measures.models import Check, CheckFeedback, CheckItem, Measure, Memorandum
from xinyong.measures.service import CachedMeasure, Catalogue, catalogue
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


_SUBJECT_COLS = (Subject.id, Subject.kind, Subject.name, Subject.name_norm, Subject.uscc, Subject.resident_id_masked,
                 Subject.region_code)


# Resolution ----------------------------------------------------------------------------------------------------


def _personal_shape(c: str) -> bool:
    return (len(c) == 18 and c[:17].isdigit()) or (len(c) == 15 and c.isdigit())


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


def _resolve_codes(session: Session, items: list[_Item]) -> None:
    """Resolve every item with a code in bulk (one query per kind of key and chunk)."""
    vault = get_vault()
    plans: list[tuple[_Item, str, Any, str | None]] = []
    by_uscc: set[str] = set()
    by_hash: set[str] = set()
    by_alias: set[str] = set()
    for item in items:
        raw = (item.query.code or "").strip()
        c = compact(raw)
        item.looks_personal = _personal_shape(c)
        check = explain(raw)
        digest = None
        if check.kind == "resident_id":
            item.looks_personal = True
            if check.valid and check.normalized:
                digest = vault.lookup_hash(check.normalized)
                by_hash.add(digest)
        if len(c) == 18:
            by_uscc.add(uscc.compact(c))
        by_alias.add(c)
        if check.kind == "org_code" and check.valid and check.normalized:
            by_alias.add(check.normalized)
        plans.append((item, c, check, digest))

    found_uscc: dict[str, Any] = {}
    found_hash: dict[str, Any] = {}
    found_alias: dict[str, Any] = {}
    for chunk in _chunks(sorted(by_uscc)):
        for row in session.execute(select(*_SUBJECT_COLS).where(Subject.uscc.in_(chunk))):
            found_uscc[row.uscc] = row
    for chunk in _chunks(sorted(by_hash)):
        for row in session.execute(select(*_SUBJECT_COLS, Subject.resident_id_hash)
                                   .where(Subject.resident_id_hash.in_(chunk))):
            found_hash[row.resident_id_hash] = row
    for chunk in _chunks(sorted(by_alias)):
        for row in session.execute(select(*_SUBJECT_COLS, SubjectAlias.value)
                                   .join(SubjectAlias, SubjectAlias.subject_id == Subject.id)
                                   .where(SubjectAlias.value.in_(chunk))):
            found_alias.setdefault(row.value, row)

    for item, c, check, digest in plans:
        row = None
        if len(c) == 18:
            row = found_uscc.get(uscc.compact(c))
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


def _entry_view(entry: Any, cat: Catalogue, objected: set[int]) -> dict[str, Any]:
    lt = cat.list_types.get(entry.list_type_id)
    return {"id": entry.id, "objection": OBJECTION_MARKER if entry.id in objected else None, "list_type": lt.code if lt else None, "list_name": lt.name if lt else None,
            "list_kind": lt.kind if lt else None, "authority": entry.authority, "decision_no": entry.decision_no,
            "listed_on": entry.listed_on.isoformat() if entry.listed_on else None,
            "term_end": entry.term_end.isoformat() if entry.term_end else None, "reason": entry.reason,
            "legal_basis": entry.legal_basis}


def _reason_view(entry: Any, cat: Catalogue) -> dict[str, Any]:
    lt = cat.list_types.get(entry.list_type_id)
    name = lt.name if lt else "名单"
    until = entry.term_end.isoformat() if entry.term_end else "移出名单之日（无固定期限）"
    doc = f"（{entry.decision_no}）" if entry.decision_no else ""
    return {"entry_id": entry.id, "list_type": lt.code if lt else None, "list_name": name,
            "listed_on": entry.listed_on.isoformat() if entry.listed_on else None,
            "term_end": entry.term_end.isoformat() if entry.term_end else None, "authority": entry.authority,
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
        cat = catalogue(session)
        items = [_parse(i, q) for i, q in enumerate(subjects)]
        pending = [it for it in items if it.outcome == "not_found"]
        _resolve_codes(session, [it for it in pending if (it.query.code or "").strip()])
        _resolve_names(session, [it for it in pending if not (it.query.code or "").strip()])
        matched = [it for it in items if it.outcome == "matched"]
        in_force = entries_in_force(session, {it.subject.id for it in matched}, on) if matched else {}
        # An entry under objection still counts, but the answer says so (异议处理中) so the department can wait.
        objected = open_objections(session, [e.id for es in in_force.values() for e in es]) if in_force else set()
        # Current credit grades, where the catalog's evaluation class lets this caller see them (one query).
        grades = current_grades(session, [it.subject.id for it in matched], role=actor.role.value if actor.role
                                else None, kinds={it.subject.id: it.subject.kind for it in matched})

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
            "candidates": it.candidates or [], "entries": [_entry_view(e, cat, objected) for e in entries],
            "measures": measures, "conclusion": _conclusion(it, entries, measures, scenario),
            "grades": grades.get(it.subject.id, []) if it.outcome == "matched" else [],
        })
        rows.append({"position": it.position, "query": query, "outcome": it.outcome, "reason": it.reason,
                     "subject_id": it.subject.id if it.subject is not None else None, "candidates": it.candidates,
                     "entry_ids": [e.id for e in entries], "measure_codes": [m["code"] for m in measures]})

    summary = {"subjects": len(items), **{k: counts[k] for k in ("matched", "candidates", "not_found", "invalid",
                                                                    "with_punishments", "with_rewards", "measures")}}
    check = Check(checked_on=on, actor=actor.actor, role=actor.role.value if actor.role else None,
                  department_id=actor.department_id, system=actor.name, reference=reference, scenario=scenario,
                  subject_count=len(items), with_measures=counts["measures"] > 0, summary=summary)
    _record(session, check, rows, results, separate=separate)
    return {"check_id": check.id, "scenario": scenario, "scenario_label": SCENARIOS[scenario],
            "checked_on": on.isoformat(), "checked_at": check.at.isoformat(), "reference": reference,
            "summary": summary, "results": results}


_SQLITE_WRITES = threading.Lock()


def _records_apart(session: Session) -> bool:
    """Whether the check is recorded in a transaction of its own (SQLite; see :func:`_record`). A caller with
    pending changes (an API token's ``last_used_at``) has them flushed first and the check recorded with them."""
    bind = session.get_bind()
    if bind.dialect.name != "sqlite" or not isinstance(bind, Engine):
        return False
    if session.new or session.dirty or session.deleted:
        session.flush()
    # A transaction that already holds the write lock records the check itself (a second one would wait for it).
    return not has_written(session)


def _record(session: Session, check: Check, rows: list[dict[str, Any]], results: list[dict[str, Any]], *,
            separate: bool) -> None:
    """Write the check and its items (bulk).

    PostgreSQL: in the caller's transaction. SQLite (``separate``): in a short transaction of its own whose first
    statement is the write — a transaction that has read and then writes fails at once ("database is locked") when
    another writer committed in between, which concurrent checks would do all the time; this one waits its turn
    instead (busy timeout). The check is then recorded even if the caller's transaction later rolls back: it was
    answered. A caller on SQLite must not hold flushed writes it has not committed (the record would wait for it).
    """
    if separate:
        # Threads of this process take turns here rather than in SQLite's busy handler, which sleeps in growing
        # steps while it waits for the lock: that sleeping, not the writing, made the tail latency under load.
        with _SQLITE_WRITES, Session(bind=session.get_bind(), expire_on_commit=False) as own, own.begin():
            _write(own, check, rows, results)
    else:
        _write(session, check, rows, results)


def _write(session: Session, check: Check, rows: list[dict[str, Any]], results: list[dict[str, Any]]) -> None:
    session.add(check)
    session.flush()  # the INSERT comes first: on SQLite it takes the write lock before any read
    ids = allocate_ids(session, CheckItem.__table__, len(rows))
    for row, item_id, result in zip(rows, ids, results, strict=True):
        row["id"], row["check_id"] = item_id, check.id
        result["item_id"] = item_id
    insert_rows(session, CheckItem.__table__, rows,
                columns=("id", "check_id", "position", "query", "outcome", "reason", "subject_id", "candidates",
                         "entry_ids", "measure_codes"))


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
