"""应报尽报: how many licences and penalties each department is expected to submit, and how many it did.

The rule (docs/console.md, "Assessment"):

- **Configured.** The platform admin sets a monthly volume per department and information class (行政许可
  ``licence``, 行政处罚 ``penalty``): :func:`set_expected` / :func:`delete_expected` (API, CLI), each audited.
- **Learned.** Where nothing is configured, the expectation is the department's own history: the median of its
  monthly submissions of that class over the :data:`HISTORY_MONTHS` months before the period, counted from the first
  month in that window in which it submitted any (a department new to the platform is not measured against the
  months before it joined; a month without submissions after that counts as 0).
- **None.** No configuration and no submission in the window: nothing is expected of that class.

For a period of *n* months the expectation of a class is ``round(monthly × n)``. A class's submissions count up to
its expectation (so a flood of licences does not make up for missing penalties); completeness =
Σ min(submitted, expected) ÷ Σ expected, capped at 1. A department that submitted something where nothing was
expected is complete (1); one that submitted nothing where nothing was expected has no figure ("—"), which earns
nothing in the assessment. "Submitted" counts the records first received in the period, as the timeliness figure.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyong.analytics.dashboards import Period, departments, local_month, rate
from xinyong.analytics.models import ExpectedVolume as V
from xinyong.auth.models import Department
from xinyong.auth.roles import Principal
from xinyong.core import audit
from xinyong.core.db import utcnow
from xinyong.core.errors import NotFound, ValidationFailed
from xinyong.records.models import CreditRecord as R

INFO_CLASSES = {"licence": "行政许可", "penalty": "行政处罚"}
HISTORY_MONTHS = 12
MAX_MONTHLY = 1_000_000
BASIS_TEXT = {"configured": "管理员配置", "history": "近 12 个月报送量中位数", "none": "无配置、近 12 个月无报送"}


def info_class(value: str) -> str:
    if value not in INFO_CLASSES:
        raise ValidationFailed(
            f"信息类别“{value}”无效，可选：licence（行政许可）、penalty（行政处罚）", code="unknown_info_class"
        )
    return value


def _department(session: Session, code: str) -> Department:
    dept = session.scalar(select(Department).where(Department.code == code))
    if dept is None:
        raise NotFound(f"部门“{code}”不存在", code="department_not_found")
    return dept


def _view(row: Any, dept: Department) -> dict[str, Any]:
    return {
        "department_code": dept.code,
        "department_name": dept.short_name or dept.name,
        "info_class": row.info_class,
        "info_class_name": INFO_CLASSES[row.info_class],
        "monthly": row.monthly,
        "note": row.note,
        "updated_by": row.updated_by,
        "updated_at": row.updated_at.isoformat() if row.updated_at else None,
    }


def list_expected(session: Session) -> list[dict[str, Any]]:
    """Every configured expectation, by department code and class."""
    rows = session.execute(
        select(V, Department).join(Department, Department.id == V.department_id).order_by(Department.code, V.info_class)
    )
    return [_view(v, d) for v, d in rows]


def set_expected(
    session: Session, *, actor: Principal, department_code: str, info_class_: str, monthly: int, note: str | None = None
) -> dict[str, Any]:
    """Configure (or change) a department's monthly expected volume of one class. Audited."""
    cls = info_class(info_class_)
    if isinstance(monthly, bool) or not isinstance(monthly, int) or not 0 <= monthly <= MAX_MONTHLY:
        raise ValidationFailed(f"每月应报量应为 0 至 {MAX_MONTHLY} 之间的整数", code="bad_expected_volume")
    if note is not None and len(note) > 200:
        raise ValidationFailed("备注最长 200 字", code="note_too_long")
    dept = _department(session, department_code)
    row = session.scalar(select(V).where(V.department_id == dept.id, V.info_class == cls))
    before = None if row is None else {"monthly": row.monthly, "note": row.note}
    if row is None:
        row = V(department_id=dept.id, info_class=cls, monthly=monthly, note=note, updated_by=actor.actor)
        session.add(row)
    else:
        row.monthly, row.note, row.updated_by = monthly, note, actor.actor
        row.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="assessment.expected_volume_set",
        entity_type="assessment_expected_volume",
        entity_id=f"{dept.code}:{cls}",
        before=before,
        after={"monthly": monthly, "note": note},
    )
    return _view(row, dept)


def delete_expected(session: Session, *, actor: Principal, department_code: str, info_class_: str) -> dict[str, Any]:
    """Remove a configured expectation (the department's history decides again). Audited."""
    cls = info_class(info_class_)
    dept = _department(session, department_code)
    row = session.scalar(select(V).where(V.department_id == dept.id, V.info_class == cls))
    if row is None:
        raise NotFound(f"部门“{dept.code}”未配置{INFO_CLASSES[cls]}应报量", code="expected_volume_not_found")
    view = _view(row, dept)
    session.delete(row)
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="assessment.expected_volume_deleted",
        entity_type="assessment_expected_volume",
        entity_id=f"{dept.code}:{cls}",
        before={"monthly": view["monthly"], "note": view["note"]},
    )
    return view


# The figures --------------------------------------------------------------------------------------------------


def history_window(period: Period) -> Period:
    """The :data:`HISTORY_MONTHS` calendar months before the period's first month."""
    y, m = period.date_from.year, period.date_from.month - HISTORY_MONTHS
    while m < 1:
        y, m = y - 1, m + 12
    return Period(dt.date(y, m, 1), period.date_from.replace(day=1) - dt.timedelta(days=1))


def learned_monthly(counts: list[int]) -> float | None:
    """The median of the monthly counts from the first month with a submission on (``None``: none at all)."""
    first = next((i for i, n in enumerate(counts) if n), None)
    if first is None:
        return None
    return float(statistics.median(counts[first:]))


def expected_for(monthly: float, months: int) -> int:
    return int(monthly * months + 0.5)


def _counts(session: Session, period: Period, department_id: int | None, by_month: bool) -> Any:
    start, end = period.utc_bounds()
    cols = [R.department_id, R.kind] + ([local_month(session, R.received_at)] if by_month else [])
    stmt = select(*cols, func.count()).where(R.received_at >= start, R.received_at < end).group_by(*cols)
    if department_id is not None:
        stmt = stmt.where(R.department_id == department_id)
    return session.execute(stmt)


def volume(session: Session, *, period: Period, department_id: int | None = None) -> list[dict[str, Any]]:
    """Per department: expected and submitted records of each class over the period, and completeness."""
    months = len(period.months())
    submitted = {(d, k): int(n) for d, k, n in _counts(session, period, department_id, False)}
    window = history_window(period)
    index = {m: i for i, m in enumerate(window.months())}
    history: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0] * len(index))
    for d, k, m, n in _counts(session, window, department_id, True):
        if m in index:
            history[(d, k)][index[m]] += int(n)
    stmt = select(V.department_id, V.info_class, V.monthly)
    if department_id is not None:
        stmt = stmt.where(V.department_id == department_id)
    configured = {(d, k): int(n) for d, k, n in session.execute(stmt)}
    out = []
    for dept in departments(session, department_id=department_id):
        classes, expected_sum, met_sum, sent_sum = [], 0, 0, 0
        for cls, name in INFO_CLASSES.items():
            key = (dept.id, cls)
            sent = submitted.get(key, 0)
            monthly: float | None
            if key in configured:
                basis, monthly = "configured", float(configured[key])
            else:
                learned = learned_monthly(history[key]) if key in history else None
                basis, monthly = ("history", learned) if learned is not None else ("none", None)
            expected = None if monthly is None else expected_for(monthly, months)
            met = min(sent, expected) if expected is not None else 0
            if expected:
                expected_sum += expected
                met_sum += met
            sent_sum += sent
            classes.append(
                {
                    "info_class": cls,
                    "name": name,
                    "basis": basis,
                    "basis_text": BASIS_TEXT[basis],
                    "monthly": monthly,
                    "months": months,
                    "expected": expected,
                    "submitted": sent,
                    "counted": met if expected else 0,
                    "history": history.get(key, []),
                }
            )
        completeness = rate(met_sum, expected_sum) if expected_sum else (1.0 if sent_sum else None)
        out.append(
            {
                "department_id": dept.id,
                "department_code": dept.code,
                "department_name": dept.short_name or dept.name,
                "expected": expected_sum,
                "submitted": sent_sum,
                "counted": met_sum,
                "completeness": completeness,
                "history_from": window.date_from.isoformat(),
                "history_to": window.date_to.isoformat(),
                "classes": classes,
            }
        )
    return out
