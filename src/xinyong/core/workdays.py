"""Chinese working days: statutory holidays and adjusted working weekends, as the State Council declares them.

The ``chinesecalendar`` library (import name ``chinese_calendar``) carries the declared calendar of each year it
knows (:func:`known_years`); it is updated once the next year's arrangement is published (usually in
November). Two settings extend it:

- ``XINYONG_EXTRA_HOLIDAYS`` / ``XINYONG_EXTRA_WORKDAYS``: comma-separated ISO dates (``2027-02-16``) or
  inclusive ranges (``2027-02-15..2027-02-23``). An extra holiday is a rest day and an extra workday a working
  day whatever the library says, so they both correct a known year and declare a year the library does not know
  yet. A year with at least one extra date counts as *declared*: enter the complete arrangement of the year
  (holidays and adjusted working weekends), the other days follow the weekday rule.
- ``XINYONG_WORKDAYS_UNKNOWN_YEAR``: what to do with a year that is neither known to the library nor declared
  by extra dates. ``weekends`` (default): Monday to Friday are working days, with a warning logged once per year,
  so that timeliness figures keep working while the library is stale. ``error``: refuse with
  :class:`~xinyong.core.errors.ConfigurationError` (code ``workdays_year_unknown``).

Semantics (``start < d <= end`` intervals, so counting and adding are inverse operations):

- :func:`workdays_between` ``(start, end)``: the number of working days ``d`` with ``start < d <= end``; 0 when
  ``end <= start``. The decision date itself never counts, the day of receipt does if it is a working day. A
  record is late when ``workdays_between(decision, received) > 7``.
- :func:`add_workdays` ``(d, n)``: for ``n > 0`` the ``n``-th working day after ``d`` (``d`` itself never
  counts), i.e. the earliest date ``x`` with ``workdays_between(d, x) == n``; for ``n == 0`` ``d`` itself if it
  is a working day, else the next working day; for ``n < 0`` the ``|n|``-th working day before ``d`` (``d``
  itself never counts), so ``add_workdays(d, -1)`` is the previous working day. For a working day ``d``,
  ``add_workdays(add_workdays(d, n), -n) == d``.
- :func:`deadline` ``(start, n)``: the last working day of a period of ``n`` working days from ``start``
  ("within ``n`` working days"), ``add_workdays(start, n)``. For a *working* day ``x``: ``x <= deadline(start,
  n)`` exactly when ``workdays_between(start, x) <= n``. A non-working day right after the deadline (the
  weekend after a Friday deadline) is past the deadline yet still counts ``n`` working days, because no working
  day has passed: the two tests differ only there.

Performance: each year is turned once into a sorted array of the ordinals of its working days; every question
is then a dictionary look-up plus a binary search per year touched (``O(log n)``, no day-by-day loop), which
matters when timeliness is computed for millions of records. The tables follow the settings: they are rebuilt
when the three settings change, and :func:`reset_calendar` forgets them (and the warnings already given).
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import logging
import threading
from bisect import bisect_left, bisect_right
from typing import Any

import chinese_calendar

from xinyong.core.errors import ConfigurationError
from xinyong.core.settings import Settings, get_settings

log = logging.getLogger(__name__)

POLICIES = ("weekends", "error")

#: Years declared by the installed library (it raises NotImplementedError outside them).
_LIB_HOLIDAYS: dict[dt.date, Any] = chinese_calendar.holidays
_LIB_WORKDAYS: dict[dt.date, Any] = chinese_calendar.workdays
_LIB_YEARS = range(min(d.year for d in _LIB_HOLIDAYS), max(d.year for d in _LIB_HOLIDAYS) + 1)


def _parse_dates(raw: str, env_name: str) -> frozenset[dt.date]:
    """``2027-01-01, 2027-02-15..2027-02-23`` -> the set of dates; a malformed entry is a configuration error."""
    dates: set[dt.date] = set()
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        first, sep, last = item.partition("..")
        try:
            lo = dt.date.fromisoformat(first.strip())
            hi = dt.date.fromisoformat(last.strip()) if sep else lo
        except ValueError:
            raise ConfigurationError(
                f"{env_name} 中的「{item}」不是 ISO 日期（YYYY-MM-DD）或日期区间（YYYY-MM-DD..YYYY-MM-DD）",
                code="workdays_bad_extra_date",
                details={"setting": env_name, "value": item},
            ) from None
        if hi < lo:
            raise ConfigurationError(
                f"{env_name} 中的日期区间「{item}」结束早于开始",
                code="workdays_bad_extra_date",
                details={"setting": env_name, "value": item},
            )
        dates.update(lo + dt.timedelta(days=i) for i in range((hi - lo).days + 1))
    return frozenset(dates)


class _Calendar:
    """Working-day tables for one combination of settings. Thread-safe: tables are only ever added."""

    def __init__(self, key: tuple[str, str, str]) -> None:
        raw_holidays, raw_workdays, policy = key
        self.key = key
        policy = policy.strip().lower()
        if policy not in POLICIES:
            raise ConfigurationError(
                f"XINYONG_WORKDAYS_UNKNOWN_YEAR 只能是 weekends 或 error，当前为「{policy}」",
                code="workdays_bad_policy",
                details={"value": policy, "allowed": list(POLICIES)},
            )
        self.policy = policy
        self.extra_holidays = _parse_dates(raw_holidays, "XINYONG_EXTRA_HOLIDAYS")
        self.extra_workdays = _parse_dates(raw_workdays, "XINYONG_EXTRA_WORKDAYS")
        both = sorted(self.extra_holidays & self.extra_workdays)
        if both:
            raise ConfigurationError(
                "同一日期不能既是额外节假日又是额外工作日：" + "、".join(d.isoformat() for d in both),
                code="workdays_extra_conflict",
                details={"dates": [d.isoformat() for d in both]},
            )
        self.extra_years = frozenset(d.year for d in self.extra_holidays | self.extra_workdays)
        self._tables: dict[int, list[int]] = {}
        self._warned: set[int] = set()
        self._lock = threading.Lock()

    def is_declared(self, year: int) -> bool:
        return year in _LIB_YEARS or year in self.extra_years

    def table(self, year: int) -> list[int]:
        """Sorted ordinals of the working days of ``year`` (built on first use)."""
        found = self._tables.get(year)
        if found is not None:
            return found
        with self._lock:
            found = self._tables.get(year)
            if found is None:
                found = self._tables[year] = self._build(year)
            return found

    def _build(self, year: int) -> list[int]:
        if not 1 <= year <= 9999:
            raise ValueError(f"year {year} is outside the supported date range")
        known = year in _LIB_YEARS
        if not self.is_declared(year):
            if self.policy == "error":
                raise ConfigurationError(
                    f"{year} 年的法定节假日安排尚未收录（日历库已知 {_LIB_YEARS[0]}–{_LIB_YEARS[-1]} 年），无法计算工作日；"
                    "请升级 chinesecalendar，或通过 XINYONG_EXTRA_HOLIDAYS / XINYONG_EXTRA_WORKDAYS 配置该年安排",
                    code="workdays_year_unknown",
                    details={"year": year, "known_years": [_LIB_YEARS[0], _LIB_YEARS[-1]]},
                )
            if year not in self._warned:
                self._warned.add(year)
                log.warning(
                    "working days of %s are not declared (calendar library knows %s-%s, no extra dates): "
                    "counting Monday-Friday as working days; update chinesecalendar or set "
                    "XINYONG_EXTRA_HOLIDAYS/XINYONG_EXTRA_WORKDAYS",
                    year,
                    _LIB_YEARS[0],
                    _LIB_YEARS[-1],
                )
        first = dt.date(year, 1, 1).toordinal()
        last = dt.date(year, 12, 31).toordinal()
        days: list[int] = []
        for ordinal in range(first, last + 1):
            day = dt.date.fromordinal(ordinal)
            if day in self.extra_workdays:
                working = True
            elif day in self.extra_holidays:
                working = False
            elif known and day in _LIB_WORKDAYS:
                working = True
            elif known and day in _LIB_HOLIDAYS:
                working = False
            else:
                working = day.weekday() < 5
            if working:
                days.append(ordinal)
        return days


_lock = threading.Lock()
_calendar: _Calendar | None = None


def _settings_key(settings: Settings) -> tuple[str, str, str]:
    return (settings.extra_holidays, settings.extra_workdays, settings.workdays_unknown_year)


def _current() -> _Calendar:
    """The calendar for the current settings; rebuilt when they changed."""
    global _calendar
    key = _settings_key(get_settings())
    cal = _calendar
    if cal is not None and cal.key == key:
        return cal
    with _lock:
        if _calendar is None or _calendar.key != key:
            _calendar = _Calendar(key)
        return _calendar


def reset_calendar() -> None:
    """Forget the working-day tables and the warnings given (after changing the settings or the library)."""
    global _calendar
    with _lock:
        _calendar = None


def _ordinal(d: dt.date) -> int:
    # A datetime is a date too, but its day depends on the time zone: callers must pass the local (China) date.
    if isinstance(d, dt.datetime) or not isinstance(d, dt.date):
        raise TypeError(f"expected a datetime.date (the local date), got {type(d).__name__}")
    return d.toordinal()


# Public API --------------------------------------------------------------------------------------------------


def is_workday(d: dt.date) -> bool:
    """True when ``d`` is a working day (weekday not declared a holiday, or an adjusted working weekend)."""
    o = _ordinal(d)
    table = _current().table(d.year)
    i = bisect_left(table, o)
    return i < len(table) and table[i] == o


def workdays_between(start: dt.date, end: dt.date) -> int:
    """Number of working days ``d`` with ``start < d <= end`` (0 when ``end <= start``).

    "Working days from decision date to receipt": the decision day never counts, the day of receipt counts if
    it is a working day. Cost: one binary search per calendar year touched.
    """
    so, eo = _ordinal(start), _ordinal(end)
    if eo <= so:
        return 0
    cal = _current()
    if start.year == end.year:
        table = cal.table(start.year)
        return bisect_right(table, eo) - bisect_right(table, so)
    first = cal.table(start.year)
    total = len(first) - bisect_right(first, so)
    for year in range(start.year + 1, end.year):
        total += len(cal.table(year))
    return total + bisect_right(cal.table(end.year), eo)


def add_workdays(d: dt.date, n: int) -> dt.date:
    """The ``n``-th working day after ``d`` (``n > 0``) or before it (``n < 0``); ``d`` itself never counts.

    ``n == 0`` gives ``d`` when it is a working day, else the next working day. For ``n > 0`` the result is the
    earliest date ``x`` with ``workdays_between(d, x) == n``.
    """
    o = _ordinal(d)
    cal = _current()
    year = d.year
    table = cal.table(year)
    if n >= 0:
        # index of the first working day >= d (n == 0) or > d (n > 0), then n - 1 further on
        i = bisect_left(table, o) if n == 0 else bisect_right(table, o) + n - 1
        while i >= len(table):
            i -= len(table)
            year += 1
            table = cal.table(year)
        return dt.date.fromordinal(table[i])
    i = bisect_left(table, o) + n  # working days strictly before d, minus |n|
    while i < 0:
        year -= 1
        table = cal.table(year)
        i += len(table)
    return dt.date.fromordinal(table[i])


def deadline(start: dt.date, n: int) -> dt.date:
    """The last working day of a period of ``n`` working days from ``start`` ("within n working days").

    Same as ``add_workdays(start, n)``; for a working day ``x``, ``x <= deadline(start, n)`` exactly when
    ``workdays_between(start, x) <= n``.
    """
    if n < 0:
        raise ValueError("a period of working days cannot be negative")
    return add_workdays(start, n)


def known_years() -> range:
    """The years whose holiday arrangement the installed calendar library declares."""
    return _LIB_YEARS


def calendar_status(today: dt.date | None = None) -> dict[str, Any]:
    """Diagnostics for ``/readyz`` and operators; never raises.

    ``ok`` is false when the settings are invalid, or when the current year is undeclared and the policy is
    ``error`` (timeliness cannot be computed). An undeclared current year under ``weekends`` is reported by
    ``current_year_declared`` but still ``ok``.
    """
    today = today or dt.date.today()
    status: dict[str, Any] = {
        "library": "chinesecalendar",
        "library_version": _library_version(),
        "known_years": [_LIB_YEARS[0], _LIB_YEARS[-1]],
        "last_declared_year": _LIB_YEARS[-1],
        "extra_holidays": 0,
        "extra_workdays": 0,
        "extra_years": [],
        "policy": get_settings().workdays_unknown_year,
        "current_year": today.year,
        "current_year_declared": today.year in _LIB_YEARS,
        "ok": True,
        "problem": None,
    }
    try:
        cal = _current()
    except ConfigurationError as exc:
        status.update(ok=False, problem=exc.message)
        return status
    status.update(
        extra_holidays=len(cal.extra_holidays),
        extra_workdays=len(cal.extra_workdays),
        extra_years=sorted(cal.extra_years),
        last_declared_year=max(_LIB_YEARS[-1], *cal.extra_years) if cal.extra_years else _LIB_YEARS[-1],
        policy=cal.policy,
        current_year_declared=cal.is_declared(today.year),
    )
    if not status["current_year_declared"]:
        message = f"{today.year} 年的节假日安排未收录"
        if cal.policy == "error":
            status.update(ok=False, problem=message + "，工作日无法计算")
        else:
            status["problem"] = message + "，暂按周一至周五为工作日计算"
    return status


def _library_version() -> str | None:
    try:
        return importlib.metadata.version("chinesecalendar")
    except importlib.metadata.PackageNotFoundError:  # vendored or installed without metadata
        return None
