"""The manual review queue of external list entries, and who may manage an external list.

Entries whose party matches no subject clearly wait ``pending`` with their candidates (:func:`review_queue`); a
reviewer's verdict (:func:`judge`) is stored per party (:class:`MatchJudgement`), so every later sync applies it.
Only the platform admin or an operator of the list's managing department may sync a list or judge its matches
(:func:`require_manager`).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from xinyong.auth.models import Department
from xinyong.auth.roles import Principal, Role
from xinyong.core import audit
from xinyong.core.db import utcnow
from xinyong.core.errors import Forbidden, NotFound, ValidationFailed
from xinyong.lists.models import EntryStatus, ListEntry, ListEntryEvent, ListType, MatchJudgement, MatchStatus, Verdict
from xinyong.lists.sync_apply import announce
from xinyong.lists.sync_linking import entry_party_key
from xinyong.subjects.models import Subject


def department_code(session: Session, actor: Principal) -> str | None:
    """The code of the actor's department (None for the admin and principals without one)."""
    if actor.department_id is None:
        return None
    return session.scalar(select(Department.code).where(Department.id == actor.department_id))


def require_manager(session: Session, actor: Principal, lt: ListType) -> None:
    """Only the admin or an operator of a department that manages the list may sync it or judge its matches."""
    if actor.is_admin:
        return
    code = department_code(session, actor) if actor.role is Role.DEPT_OPERATOR else None
    if code is None or code not in (lt.managing_departments or []):
        raise Forbidden(
            f"只有平台管理员或「{lt.name}」主管部门的操作员可以同步名单或复核比对结果",
            code="list_not_managed",
            details={"list_code": lt.code, "managing_departments": list(lt.managing_departments or [])},
        )


#: Chinese labels of the evidence parts a candidate's score is the sum of (``lists.matching.score_pair``).
EVIDENCE_LABELS = {
    "name": "名称",
    "kind": "主体类别",
    "code": "代码",
    "resident_id": "身份证号码可见位",
    "region": "地区",
    "legal_rep": "法定代表人",
    "person_cap": "自然人限制",
    "judgement": "复核结论",
}


def unique_candidates(candidates: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """One row per candidate subject (the best-scored one), best first: a sync may have stored a subject twice."""
    best: dict[Any, dict[str, Any]] = {}
    for c in candidates or []:
        sid = c.get("subject_id")
        if sid not in best or (c.get("score") or 0) > (best[sid].get("score") or 0):
            best[sid] = c
    return sorted(best.values(), key=lambda c: (-(c.get("score") or 0), c.get("subject_id") or 0))


def review_view(entry: ListEntry, lt_code: str, lt_name: str | None = None) -> dict[str, Any]:
    """An entry as a reviewer sees it: the party as the source gave it (with the 案号 and the court for the court's
    list) and the candidates, once each, with their evidence."""
    data = entry.data or {}
    return {
        "entry_id": entry.id,
        "list": lt_code,
        "list_name": lt_name or lt_code,
        "decision_no": entry.decision_no,
        "court": data.get("court") or entry.authority,
        "entry_key": entry.entry_key,
        "party_name": entry.party_name,
        "party_code": entry.party_code,
        "party_kind": entry.party_kind,
        "region_code": entry.region_code,
        "reason": entry.reason,
        "authority": entry.authority,
        "listed_on": entry.listed_on.isoformat() if entry.listed_on else None,
        "match_status": entry.match_status,
        "subject_id": entry.subject_id,
        "match_score": entry.match_score,
        "candidates": unique_candidates(entry.match_candidates),
        "data": entry.data,
    }


def describe_candidates(session: Session, items: list[dict[str, Any]]) -> None:
    """Add to each candidate what a reviewer compares (in place, one query): the subject's code (USCC or masked
    ID), legal representative, address, registration date and status, and its evidence as labelled parts."""
    ids = {c["subject_id"] for item in items for c in item["candidates"] if c.get("subject_id") is not None}
    subjects = {s.id: s for s in session.scalars(select(Subject).where(Subject.id.in_(ids)))} if ids else {}
    for item in items:
        for c in item["candidates"]:
            s = subjects.get(c.get("subject_id"))
            if s is not None:
                c["code"] = s.uscc or s.resident_id_masked
                c["resident_id_masked"] = s.resident_id_masked
                c["legal_rep"] = s.legal_rep
                c["address"] = s.address
                c["registered_on"] = s.registered_on.isoformat() if s.registered_on else None
                c["subject_status"] = s.status
            c["evidence_parts"] = [
                {"label": EVIDENCE_LABELS.get(key, key), "weight": part.get("weight"), "text": part.get("text")}
                for key, part in (c.get("evidence") or {}).items()
                if isinstance(part, dict)
            ]


def managed_types(
    session: Session, list_code: str | None, department_code: str | None
) -> tuple[dict[int, ListType], list[int]]:
    """Every list type by id, and the ids of those asked for: ``list_code`` (404 when unknown) and, with a
    ``department_code``, only the lists that department manages."""
    types = {t.id: t for t in session.scalars(select(ListType))}
    if list_code and not any(t.code == list_code for t in types.values()):
        raise NotFound(f"名单类型 {list_code} 不存在", code="list_type_not_found")
    allowed = [
        t.id
        for t in types.values()
        if (not list_code or t.code == list_code)
        and (department_code is None or department_code in (t.managing_departments or []))
    ]
    return types, allowed


def review_queue(
    session: Session,
    *,
    list_code: str | None = None,
    limit: int = 50,
    offset: int = 0,
    department_code: str | None = None,
) -> dict[str, Any]:
    """Entries waiting for a reviewer (``pending``, not removed), oldest first, with their candidates.

    ``department_code``: only lists this department manages (a department operator's view)."""
    types, allowed = managed_types(session, list_code, department_code)
    where = (
        ListEntry.match_status == MatchStatus.PENDING,
        ListEntry.status != EntryStatus.REMOVED,
        ListEntry.list_type_id.in_(allowed),
    )
    total = session.scalar(select(func.count()).select_from(ListEntry).where(*where)) or 0
    items = session.scalars(select(ListEntry).where(*where).order_by(ListEntry.id).limit(limit).offset(offset))
    views = [review_view(e, types[e.list_type_id].code, types[e.list_type_id].name) for e in items]
    describe_candidates(session, views)
    return {
        "total": total,
        "limit": limit,
        "offset": offset,
        "items": views,
    }


def get_entry(session: Session, entry_id: int) -> ListEntry:
    entry = session.get(ListEntry, entry_id)
    if entry is None:
        raise NotFound(f"名单条目 {entry_id} 不存在", code="list_entry_not_found")
    return entry


def _store_verdict(
    session: Session, *, key: str, subject_id: int, verdict: Verdict, actor: str, reason: str, now: Any
) -> str | None:
    """Record the verdict on (party, subject); a ``same`` makes the party's other ``same`` verdicts ``not_same``.
    Returns the verdict held before, if any."""
    found = session.scalar(
        select(MatchJudgement).where(MatchJudgement.party_key == key, MatchJudgement.subject_id == subject_id)
    )
    before = found.verdict if found else None
    if found is None:
        session.add(
            MatchJudgement(party_key=key, subject_id=subject_id, verdict=verdict, actor=actor, reason=reason, at=now)
        )
    else:
        found.verdict, found.actor, found.reason, found.at = verdict, actor, reason, now
    if verdict == Verdict.SAME:
        session.execute(
            update(MatchJudgement)
            .where(
                MatchJudgement.party_key == key,
                MatchJudgement.subject_id != subject_id,
                MatchJudgement.verdict == Verdict.SAME,
            )
            .values(verdict=Verdict.NOT_SAME, actor=actor, reason=f"已认定为主体 {subject_id}", at=now)
            .execution_options(synchronize_session=False)
        )
    return before


def _apply_verdict(entry: ListEntry, subject_id: int, verdict: Verdict, reason: str) -> None:
    """Link the entry (``same``), or take the subject from its candidates and unlink it from it (``not_same``)."""
    if verdict == Verdict.SAME:
        entry.subject_id = subject_id
        entry.match_status = MatchStatus.JUDGED
        entry.match_score = None
        entry.match_evidence = {"judgement": {"weight": 1.0, "text": f"复核认定为同一主体：{reason}"}}
        entry.match_candidates = None
        return
    candidates = [c for c in (entry.match_candidates or []) if c.get("subject_id") != subject_id]
    if entry.subject_id == subject_id:
        entry.subject_id = None
        entry.match_evidence = None
    entry.match_candidates = candidates or None
    if entry.subject_id is None:
        entry.match_status = MatchStatus.PENDING if candidates else MatchStatus.UNMATCHED
        entry.match_score = candidates[0]["score"] if candidates else None


def _judged_entry(session: Session, actor: Principal, entry_id: int, subject_id: int) -> tuple[ListEntry, ListType]:
    """The entry to judge and its list, once the actor may judge it and the subject exists."""
    entry = get_entry(session, entry_id)
    lt = session.get(ListType, entry.list_type_id)
    assert lt is not None
    require_manager(session, actor, lt)
    if session.get(Subject, subject_id) is None:
        raise NotFound(f"信用主体 {subject_id} 不存在", code="subject_not_found")
    if entry.match_status == MatchStatus.CODE and entry.subject_id is not None:
        raise ValidationFailed(
            "该条目已按代码关联到主体，代码一致的关联不需要也不能人工复核", code="entry_linked_by_code"
        )
    return entry, lt


def judge(
    session: Session, *, actor: Principal, entry_id: int, subject_id: int, verdict: str, reason: str
) -> ListEntry:
    """Record a reviewer's verdict on (entry's party, subject) and apply it to the entry.

    The verdict is stored as a :class:`MatchJudgement` keyed by the party (name, kind, masked code, region), so
    every later sync applies it to the same party. ``same`` links the entry (``judged``; other ``same`` verdicts
    for the party become ``not_same``); ``not_same`` removes the subject from the candidates and unlinks the entry
    if it was linked to it (the entry stays ``pending`` while candidates remain, else ``unmatched``).
    """
    if verdict not in tuple(Verdict):
        raise ValidationFailed("复核结论应为 same（同一主体）或 not_same（不是同一主体）", code="verdict_invalid")
    verdict = Verdict(verdict)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("请填写复核理由", code="reason_required")
    entry, lt = _judged_entry(session, actor, entry_id, subject_id)
    key = entry_party_key(entry)
    now = utcnow()
    before_judgement = _store_verdict(
        session, key=key, subject_id=subject_id, verdict=verdict, actor=actor.actor, reason=reason, now=now
    )
    before_subject = entry.subject_id
    before = SimpleNamespace(
        status=entry.status, listed_on=entry.listed_on, term_end=entry.term_end, removed_on=entry.removed_on
    )
    before_view = {"subject_id": entry.subject_id, "match_status": entry.match_status}
    _apply_verdict(entry, subject_id, verdict, reason)
    entry.revision += 1
    entry.updated_at = now
    after_view = {"subject_id": entry.subject_id, "match_status": entry.match_status}
    session.add(
        ListEntryEvent(
            entry_id=entry.id,
            action="match_judged",
            actor=actor.actor,
            reason=reason,
            before=before_view,
            after={**after_view, "verdict": verdict, "judged_subject_id": subject_id},
            at=now,
        )
    )
    session.flush()
    announce(session, lt=lt, entry=entry, before_subject=before_subject, before=before)
    audit.record(
        session,
        actor=actor.actor,
        action="lists.match_judge",
        entity_type="list_entry",
        entity_id=entry.id,
        reason=reason,
        before={"verdict": before_judgement, **before_view},
        after={
            "verdict": verdict,
            "subject_id": subject_id,
            "party_key": key,
            "entry_subject_id": entry.subject_id,
            "match_status": entry.match_status,
        },
    )
    return entry
