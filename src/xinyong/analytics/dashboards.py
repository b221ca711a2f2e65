"""Dashboard figures: what each department sent, how fast, how clean, and how it handled checks, lists and cases.

Plain service functions over a :class:`Period` (civil dates, China Standard Time, both ends included), each one
a handful of set-based ``GROUP BY`` queries whose cost grows with the number of departments and months, not with
the number of rows returned to Python. Every function takes ``department_id``: a department user's console passes
his own department, so he only ever sees his own figures; the admin passes ``None`` and sees every department.

The same figures feed the department assessment (``analytics.assessment``), so the ranking and the charts never
disagree. Rates are fractions (0–1) rounded to 4 places, ``None`` where the denominator is zero ("no data" is
not "0 %").
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, and_, case, cast, func, or_, select
from sqlalchemy.orm import Session

from xinyong.auth.models import Department
from xinyong.auth.service import own_departments_clause, reporting_departments
from xinyong.cases.models import Case as C
from xinyong.core import clock, workdays
from xinyong.core.errors import ValidationFailed
from xinyong.exchange import figures as exchange_figures
from xinyong.ingest.models import IngestBatch as B
from xinyong.ingest.models import RejectedRow as RR
from xinyong.lists.models import EntryStatus, ListType
from xinyong.lists.models import ListEntry as E
from xinyong.lists.rules import in_force_clause
from xinyong.measures.models import Check, CheckFeedback
from xinyong.records.models import CreditRecord as R

#: The longest period a dashboard query accepts (three years of months on one chart is already a lot).
MAX_PERIOD_DAYS = 3 * 366 + 1


@dataclass(frozen=True)
class Period:
    """A range of civil days, both ends included."""

    date_from: dt.date
    date_to: dt.date

    def __post_init__(self) -> None:
        if self.date_to < self.date_from:
            raise ValidationFailed(f"结束日期 {self.date_to} 早于开始日期 {self.date_from}", code="bad_period")
        if (self.date_to - self.date_from).days > MAX_PERIOD_DAYS:
            raise ValidationFailed("统计区间最长三年", code="period_too_long")

    @classmethod
    def month(cls, year: int, month: int) -> Period:
        """A calendar month (the credit office's monthly report)."""
        if not 1 <= month <= 12:
            raise ValidationFailed(f"月份 {month} 无效", code="bad_period")
        if not 1 <= year < dt.MAXYEAR:  # December of 9999 has no following month to end at
            raise ValidationFailed(f"年份 {year} 无效", code="bad_period")
        first = dt.date(year, month, 1)
        nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
        return cls(first, nxt - dt.timedelta(days=1))

    @classmethod
    def last_months(cls, months: int, today: dt.date | None = None) -> Period:
        """The ``months`` calendar months up to and including today's month."""
        today = today or clock.today()
        y, m = today.year, today.month - (months - 1)
        while m < 1:
            y, m = y - 1, m + 12
        return cls(dt.date(y, m, 1), today)

    def utc_bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """``[start, end)`` in UTC: local midnight of the first day to local midnight after the last."""
        zone = clock.zone()
        start = dt.datetime.combine(self.date_from, dt.time(), tzinfo=zone).astimezone(dt.UTC)
        end = dt.datetime.combine(self.date_to + dt.timedelta(days=1), dt.time(), tzinfo=zone).astimezone(dt.UTC)
        return start, end

    def months(self) -> list[str]:
        """Every ``YYYY-MM`` the period touches, in order (charts show empty months as zero, not as gaps)."""
        out, y, m = [], self.date_from.year, self.date_from.month
        while (y, m) <= (self.date_to.year, self.date_to.month):
            out.append(f"{y:04d}-{m:02d}")
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return out

    def to_dict(self) -> dict[str, str]:
        return {"date_from": self.date_from.isoformat(), "date_to": self.date_to.isoformat()}


def rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


# SQL helpers ---------------------------------------------------------------------------------------------------


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def local_month(session: Session, column: Any) -> Any:
    """``YYYY-MM`` of a UTC timestamp column in the platform's time zone, computed by the database."""
    if _dialect(session) == "postgresql":
        return func.to_char(func.timezone(clock.zone().key, column), "YYYY-MM")
    # SQLite has no time zones: shift by the zone's offset (China has had no daylight saving since 1991).
    offset = clock.zone().utcoffset(dt.datetime.now()) or dt.timedelta()
    minutes = int(offset.total_seconds() // 60)
    return func.strftime("%Y-%m", column, f"{minutes:+d} minutes")


def date_month(session: Session, column: Any) -> Any:
    """``YYYY-MM`` of a DATE column."""
    if _dialect(session) == "postgresql":
        return func.to_char(column, "YYYY-MM")
    return func.strftime("%Y-%m", column)


def _count_if(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def departments(session: Session, *, department_id: int | None = None) -> list[Department]:
    """The departments a dashboard reports on (active ones; or the one asked for)."""
    return reporting_departments(session, department_id=department_id)


def _dept_ref(d: Department) -> dict[str, Any]:
    return {"department_id": d.id, "department_code": d.code, "department_name": d.short_name or d.name}


# Collection ----------------------------------------------------------------------------------------------------


def records_by_month(session: Session, *, period: Period, department_id: int | None = None) -> dict[str, Any]:
    """Licences and penalties first received per month and per department (双公示 collection volume)."""
    start, end = period.utc_bounds()
    month = local_month(session, R.received_at)
    stmt = (
        select(R.department_id, month, R.kind, func.count())
        .where(R.received_at >= start, R.received_at < end, R.kind.in_(("licence", "penalty")))  # 双公示 only
        .group_by(R.department_id, month, R.kind)
    )
    if department_id is not None:
        stmt = stmt.where(R.department_id == department_id)
    months = period.months()
    depts = departments(session, department_id=department_id)
    series: dict[int, dict[str, list[int]]] = {
        d.id: {"licence": [0] * len(months), "penalty": [0] * len(months)} for d in depts
    }
    index = {m: i for i, m in enumerate(months)}
    for dept, m, kind, n in session.execute(stmt):
        if dept in series and m in index:
            series[dept][kind][index[m]] += int(n)
    rows = []
    for d in depts:
        s = series[d.id]
        rows.append(
            {
                **_dept_ref(d),
                "licence": s["licence"],
                "penalty": s["penalty"],
                "total": sum(s["licence"]) + sum(s["penalty"]),
            }
        )
    totals = [sum(r["licence"][i] + r["penalty"][i] for r in rows) for i in range(len(months))]
    return {"period": period.to_dict(), "months": months, "departments": rows, "totals": totals}


def timeliness(session: Session, *, period: Period, department_id: int | None = None) -> list[dict[str, Any]]:
    """Per department: records first received in the period, those within the catalog's working-day limit
    (7 working days for 双公示), the on-time rate and the mean lateness of the late ones."""
    start, end = period.utc_bounds()
    stmt = (
        select(
            R.department_id,
            func.count(),
            _count_if(R.late.is_(True)),
            func.coalesce(func.sum(case((R.late.is_(True), R.workdays_late), else_=0)), 0),
        )
        .where(R.received_at >= start, R.received_at < end)
        .group_by(R.department_id)
    )
    if department_id is not None:
        stmt = stmt.where(R.department_id == department_id)
    found = {dept: (int(n), int(late), int(days)) for dept, n, late, days in session.execute(stmt)}
    out = []
    for d in departments(session, department_id=department_id):
        n, late, days = found.get(d.id, (0, 0, 0))
        out.append(
            {
                **_dept_ref(d),
                "records": n,
                "on_time": n - late,
                "late": late,
                "rate": rate(n - late, n),
                "mean_workdays_late": round(days / late, 2) if late else None,
            }
        )
    return out


def data_quality(session: Session, *, period: Period, department_id: int | None = None) -> list[dict[str, Any]]:
    """Per department, over the batches received in the period: rows sent, rows rejected (rejection rate), rows
    refused for a missing required field (completeness = rows with every required field / rows), and the most
    frequent error codes."""
    start, end = period.utc_bounds()
    in_period = and_(B.received_at >= start, B.received_at < end)
    stmt = (
        select(
            B.department_id,
            func.count(B.id),
            func.coalesce(func.sum(B.rows), 0),
            func.coalesce(func.sum(B.rejected), 0),
            func.coalesce(func.sum(B.late), 0),
        )
        .where(in_period)
        .group_by(B.department_id)
    )
    # A row missing a required field carries the issue code in its JSON issues; matching the quoted code in the
    # JSON text works the same on SQLite (text) and PostgreSQL (jsonb::text).
    missing = (
        select(B.department_id, func.count(RR.id))
        .join(RR, RR.batch_id == B.id)
        .where(in_period, cast(RR.issues, String).like('%"required_missing"%'))
        .group_by(B.department_id)
    )
    codes = select(B.department_id, B.error_counts).where(in_period, B.error_counts.is_not(None))
    if department_id is not None:
        stmt = stmt.where(B.department_id == department_id)
        missing = missing.where(B.department_id == department_id)
        codes = codes.where(B.department_id == department_id)
    found = {d: (int(b), int(r), int(x), int(late)) for d, b, r, x, late in session.execute(stmt)}
    missing_rows = {d: int(n) for d, n in session.execute(missing)}
    error_codes: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for dept, counts in session.execute(codes):
        for code, n in (counts or {}).items():
            error_codes[dept][code] += int(n)
    out = []
    for d in departments(session, department_id=department_id):
        batches, rows, rejected, _late = found.get(d.id, (0, 0, 0, 0))
        miss = missing_rows.get(d.id, 0)
        top = sorted(error_codes.get(d.id, {}).items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        out.append(
            {
                **_dept_ref(d),
                "batches": batches,
                "rows": rows,
                "rejected": rejected,
                "rejection_rate": rate(rejected, rows),
                "rows_missing_required": miss,
                "completeness": rate(rows - miss, rows),
                "top_errors": [{"code": c, "count": n} for c, n in top],
            }
        )
    return out


# Checks and feedback -------------------------------------------------------------------------------------------


def check_feedback(session: Session, *, period: Period, department_id: int | None = None) -> list[dict[str, Any]]:
    """Per department: credit checks made in the period, those whose answer named measures, those the department
    reported back on (反馈), and the feedback rate (with feedback / with measures)."""
    has_feedback = select(CheckFeedback.id).where(CheckFeedback.check_id == Check.id).exists()
    stmt = (
        select(
            Check.department_id,
            func.count(Check.id),
            _count_if(Check.with_measures.is_(True)),
            _count_if(and_(Check.with_measures.is_(True), has_feedback)),
        )
        .where(Check.checked_on >= period.date_from, Check.checked_on <= period.date_to)
        .group_by(Check.department_id)
    )
    if department_id is not None:
        stmt = stmt.where(Check.department_id == department_id)
    found = {d: (int(n), int(w), int(f)) for d, n, w, f in session.execute(stmt)}
    out = []
    for d in departments(session, department_id=department_id):
        n, with_measures, with_feedback = found.get(d.id, (0, 0, 0))
        out.append(
            {
                **_dept_ref(d),
                "checks": n,
                "with_measures": with_measures,
                "with_feedback": with_feedback,
                "rate": rate(with_feedback, with_measures),
            }
        )
    return out


# Lists ---------------------------------------------------------------------------------------------------------


def list_sizes_and_flows(session: Session, *, period: Period, department_id: int | None = None) -> dict[str, Any]:
    """Entries counting at the end of the period per list, and per month the entries listed and removed (by the
    department when one is given)."""
    # The city's figures: the 省平台's provincial lists (an external source) are not counted.
    scope = [own_departments_clause(E.department_id)] if department_id is None else [E.department_id == department_id]
    active = dict(
        session.execute(
            select(E.list_type_id, func.count())
            .where(in_force_clause(E, period.date_to), *scope)
            .group_by(E.list_type_id)
        ).all()
    )
    months = period.months()
    index = {m: i for i, m in enumerate(months)}
    listed_m, removed_m = date_month(session, E.listed_on), date_month(session, E.removed_on)
    listed = session.execute(
        select(listed_m, func.count())
        .where(E.status != EntryStatus.NOTIFIED, E.listed_on >= period.date_from, E.listed_on <= period.date_to, *scope)
        .group_by(listed_m)
    )
    removed = session.execute(
        select(removed_m, func.count())
        .where(E.listed_on.is_not(None), E.removed_on >= period.date_from, E.removed_on <= period.date_to, *scope)
        .group_by(removed_m)
    )
    added_series, removed_series = [0] * len(months), [0] * len(months)
    for m, n in listed:
        if m in index:
            added_series[index[m]] = int(n)
    for m, n in removed:
        if m in index:
            removed_series[index[m]] = int(n)
    types = session.scalars(select(ListType).order_by(ListType.sort_order, ListType.code))
    sizes = [
        {"list_code": t.code, "list_name": t.name, "kind": t.kind, "active": int(active.get(t.id, 0))} for t in types
    ]
    return {
        "period": period.to_dict(),
        "as_of": period.date_to.isoformat(),
        "sizes": sizes,
        "months": months,
        "listed": added_series,
        "removed": removed_series,
    }


def list_notices(session: Session, *, period: Period, department_id: int | None = None) -> list[dict[str, Any]]:
    """Per department, entries it listed in the period on lists that require telling the subject first: how
    many were told before listing (a notice date on or before the listing date)."""
    noticed = and_(E.notice_given_on.is_not(None), E.notice_given_on <= E.listed_on)
    stmt = (
        select(E.department_id, func.count(), _count_if(noticed))
        .join(ListType, ListType.id == E.list_type_id)
        .where(
            ListType.requires_notice.is_(True),
            E.status != EntryStatus.NOTIFIED,
            E.listed_on >= period.date_from,
            E.listed_on <= period.date_to,
            E.department_id.is_not(None),
        )
        .group_by(E.department_id)
    )
    if department_id is not None:
        stmt = stmt.where(E.department_id == department_id)
    found = {d: (int(n), int(k)) for d, n, k in session.execute(stmt)}
    out = []
    for d in departments(session, department_id=department_id):
        n, k = found.get(d.id, (0, 0))
        out.append({**_dept_ref(d), "listed": n, "noticed": k, "rate": rate(k, n)})
    return out


# Cases ---------------------------------------------------------------------------------------------------------


def case_handling(
    session: Session, *, period: Period, department_id: int | None = None, today: dt.date | None = None
) -> list[dict[str, Any]]:
    """Per handling department, cases (objections, repairs, complaints) of the period: closed in it (and how
    many of those on time), open and past their due date at the period's end (or today, if earlier), the
    on-time rate ``closed on time / (closed + open overdue)`` and the mean and longest processing time in
    working days. Working days are counted once per distinct (opened, closed) pair, not per case."""
    today = today or clock.today()
    cutoff = min(period.date_to, today)
    closed_in = and_(C.closed_on.is_not(None), C.closed_on >= period.date_from, C.closed_on <= period.date_to)
    overdue_open = and_(
        C.due_on.is_not(None),
        C.due_on < cutoff,
        C.opened_on <= period.date_to,
        or_(C.closed_on.is_(None), C.closed_on > cutoff),
    )
    scope = [C.department_id.is_not(None)] + ([] if department_id is None else [C.department_id == department_id])
    counts = session.execute(
        select(
            C.department_id,
            _count_if(closed_in),
            _count_if(and_(closed_in, C.closed_late.is_not(True))),
            _count_if(overdue_open),
            _count_if(and_(C.opened_on >= period.date_from, C.opened_on <= period.date_to)),
        )
        .where(
            *scope, or_(closed_in, overdue_open, and_(C.opened_on >= period.date_from, C.opened_on <= period.date_to))
        )
        .group_by(C.department_id)
    )
    found = {d: tuple(int(x) for x in rest) for d, *rest in counts}
    pairs = session.execute(
        select(C.department_id, C.opened_on, C.closed_on, func.count())
        .where(*scope, closed_in)
        .group_by(C.department_id, C.opened_on, C.closed_on)
    )
    times: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for dept, opened_on, closed_on, n in pairs:
        if dept is not None and closed_on is not None:  # always so: closed_in needs a closing day
            times[dept].append((workdays.workdays_between(opened_on, closed_on), int(n)))
    out = []
    for d in departments(session, department_id=department_id):
        closed, on_time, overdue, opened = found.get(d.id, (0, 0, 0, 0))
        t = times.get(d.id, [])
        total_n = sum(n for _, n in t)
        out.append(
            {
                **_dept_ref(d),
                "opened": opened,
                "closed": closed,
                "closed_on_time": on_time,
                "closed_late": closed - on_time,
                "open_overdue": overdue,
                "on_time_rate": rate(on_time, closed + overdue),
                "overdue_rate": rate(closed - on_time + overdue, closed + overdue),
                "mean_workdays": round(sum(w * n for w, n in t) / total_n, 2) if total_n else None,
                "max_workdays": max((w for w, _ in t), default=None),
            }
        )
    return out


def overview(session: Session, *, period: Period, department_id: int | None = None) -> dict[str, Any]:
    """Everything the dashboard page draws, in one call."""
    return {
        "period": period.to_dict(),
        "records": records_by_month(session, period=period, department_id=department_id),
        "timeliness": timeliness(session, period=period, department_id=department_id),
        "quality": data_quality(session, period=period, department_id=department_id),
        "checks": check_feedback(session, period=period, department_id=department_id),
        "lists": list_sizes_and_flows(session, period=period, department_id=department_id),
        "notices": list_notices(session, period=period, department_id=department_id),
        "cases": case_handling(session, period=period, department_id=department_id),
        "exchange": exchange_figures.by_department(session, period=period, department_id=department_id),
    }
