"""Feedback on a check (反馈): what the department did with each measure the check answered, and the rates.

:func:`record_feedback` records, per item and measure, whether the department applied it and, when not, why —
only the department that made the check (or the admin), every measure of a named item answered, nothing written
when any of it is refused; audited. :func:`feedback_rates` is the per-department figure the API and the CLI
show (`feedback-rates`): checks, checks with measures, checks with feedback.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, exists, func, select
from sqlalchemy.orm import Session

from xinyong.auth.models import Department
from xinyong.auth.roles import Principal
from xinyong.core import audit
from xinyong.core.errors import Conflict, ValidationFailed
from xinyong.measures.check import get_check
from xinyong.measures.models import Check, CheckFeedback, CheckItem


@dataclass(frozen=True)
class FeedbackInput:
    measure_code: str
    applied: bool
    reason: str | None = None
    item_id: int | None = None


def record_feedback(
    session: Session, *, actor: Principal, check_id: int, items: Sequence[FeedbackInput]
) -> list[CheckFeedback]:
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
            found = check_items.get(fb.item_id)
            if found is None:
                raise ValidationFailed(
                    f"核查记录 {check.id} 中没有条目 {fb.item_id}",
                    code="item_not_in_check",
                    details={"item_id": fb.item_id},
                )
            item = found
        if fb.measure_code not in item.measure_codes:
            raise ValidationFailed(
                f"措施 {fb.measure_code} 不在该条核查结果中，不能反馈",
                code="measure_not_in_answer",
                details={"item_id": item.id, "measure_code": fb.measure_code, "answered": item.measure_codes},
            )
        if not fb.applied and not (fb.reason or "").strip():
            raise ValidationFailed(
                f"措施 {fb.measure_code} 未实施，必须说明原因",
                code="reason_required",
                details={"item_id": item.id, "measure_code": fb.measure_code},
            )
        key = (item.id, fb.measure_code)
        if key in seen:
            raise ValidationFailed(f"措施 {fb.measure_code} 重复反馈", code="feedback_duplicate")
        seen.add(key)
        per_item[item.id].add(fb.measure_code)
    existing = {
        (f.item_id, f.measure_code)
        for f in session.scalars(select(CheckFeedback).where(CheckFeedback.check_id == check.id))
    }
    again = sorted(code for key in seen if key in existing for code in [key[1]])
    if again:
        raise Conflict(
            f"措施 {', '.join(again)} 已反馈过，不能重复反馈", code="feedback_exists", details={"measure_codes": again}
        )
    for item_id, codes in per_item.items():
        done = {c for (i, c) in existing if i == item_id} | codes
        missing = [c for c in check_items[item_id].measure_codes if c not in done]
        if missing:
            raise ValidationFailed(
                f"请对该条核查结果的全部措施反馈是否实施（缺少 {', '.join(missing)}）",
                code="feedback_incomplete",
                details={"item_id": item_id, "missing": missing},
            )
    resolved = []
    for fb in items:
        item_id = fb.item_id if fb.item_id is not None else with_measures[0].id
        resolved.append(
            CheckFeedback(
                check_id=check.id,
                item_id=item_id,
                measure_code=fb.measure_code,
                applied=fb.applied,
                reason=(fb.reason or "").strip() or None,
                actor=actor.actor,
                department_id=actor.department_id,
            )
        )
    session.add_all(resolved)
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="checks.feedback",
        entity_type="check",
        entity_id=check.id,
        after={
            "feedback": [
                {"item_id": f.item_id, "measure_code": f.measure_code, "applied": f.applied, "reason": f.reason}
                for f in resolved
            ]
        },
    )
    return resolved


def feedback_rates(
    session: Session,
    *,
    actor: Principal,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    department_id: int | None = None,
) -> list[dict[str, Any]]:
    """Per department over a range of check days: checks, checks whose answer named measures, those with
    feedback, and the feedback rate (with feedback / with measures)."""
    has_feedback = exists().where(CheckFeedback.check_id == Check.id)
    stmt = select(
        Check.department_id,
        func.count(Check.id),
        func.sum(case((Check.with_measures.is_(True), 1), else_=0)),
        func.sum(case((Check.with_measures.is_(True) & has_feedback, 1), else_=0)),
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
    depts = (
        {
            d.id: d
            for d in session.scalars(
                select(Department).where(Department.id.in_([r[0] for r in rows if r[0] is not None]))
            )
        }
        if rows
        else {}
    )
    out = []
    for dept_id, total, with_measures, with_feedback in rows:
        d = depts.get(dept_id)
        with_measures, with_feedback = int(with_measures or 0), int(with_feedback or 0)
        out.append(
            {
                "department_id": dept_id,
                "department_code": d.code if d else None,
                "department_name": d.name if d else "平台（命令行/管理员）",
                "checks": int(total),
                "checks_with_measures": with_measures,
                "checks_with_feedback": with_feedback,
                "rate": round(with_feedback / with_measures, 4) if with_measures else None,
            }
        )
    out.sort(key=lambda r: (r["department_code"] is None, r["department_code"] or ""))
    return out
