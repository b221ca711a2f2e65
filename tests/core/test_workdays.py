"""Chinese working days: declared calendars of 2024-2026, the 7-working-day rule, undeclared years, extra dates."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator

import chinese_calendar
import pytest

from xinyong.core import workdays
from xinyong.core.errors import ConfigurationError
from xinyong.core.settings import reset_settings
from xinyong.core.workdays import (
    add_workdays,
    calendar_status,
    deadline,
    is_workday,
    known_years,
    reset_calendar,
    workdays_between,
)

D = dt.date
ONE = dt.timedelta(days=1)
#: The first year the installed library does not declare (tests keep working after a library upgrade).
UNKNOWN = known_years().stop


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def _first_weekday(year: int, weekday: int) -> dt.date:
    d = D(year, 1, 1)
    while d.weekday() != weekday:
        d += ONE
    return d


@pytest.fixture(autouse=True)
def _fresh_calendar() -> Iterator[None]:
    reset_calendar()
    yield
    reset_calendar()


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Set workday settings through the environment, as an operator would."""

    def apply(*, holidays: str | None = None, workdays_: str | None = None, policy: str | None = None) -> None:
        for name, value in (
            ("XINYONG_EXTRA_HOLIDAYS", holidays),
            ("XINYONG_EXTRA_WORKDAYS", workdays_),
            ("XINYONG_WORKDAYS_UNKNOWN_YEAR", policy),
        ):
            if value is not None:
                monkeypatch.setenv(name, value)
        reset_settings()

    return apply


# Declared calendars --------------------------------------------------------------------------------------------


def test_national_day_2025_golden_week_and_adjusted_weekends() -> None:
    assert all(not is_workday(d) for d in _days(D(2025, 10, 1), D(2025, 10, 8)))
    assert is_workday(D(2025, 9, 28))  # Sunday, adjusted working day
    assert is_workday(D(2025, 10, 11))  # Saturday, adjusted working day
    assert is_workday(D(2025, 9, 30)) and is_workday(D(2025, 10, 9))
    assert not is_workday(D(2025, 10, 12))  # an ordinary Sunday
    assert not is_workday(D(2025, 9, 27))  # an ordinary Saturday


def test_spring_festival_2026() -> None:
    assert all(not is_workday(d) for d in _days(D(2026, 2, 15), D(2026, 2, 23)))
    assert is_workday(D(2026, 2, 14))  # Saturday before, adjusted
    assert is_workday(D(2026, 2, 28))  # Saturday after, adjusted
    assert is_workday(D(2026, 2, 24))
    assert add_workdays(D(2026, 2, 13), 2) == D(2026, 2, 24)


def test_2024_national_day_and_new_year_2026_with_working_sunday() -> None:
    assert all(not is_workday(d) for d in _days(D(2024, 10, 1), D(2024, 10, 7)))
    assert is_workday(D(2024, 9, 29)) and is_workday(D(2024, 10, 12))
    # 2026-01-01..03 are holidays and Sunday 2026-01-04 is worked: the next working day after New Year's Eve.
    assert add_workdays(D(2025, 12, 31), 1) == D(2026, 1, 4)
    assert workdays_between(D(2025, 12, 31), D(2026, 1, 5)) == 2


def test_every_day_of_every_known_year_agrees_with_the_library() -> None:
    for d in _days(D(known_years()[0], 1, 1), D(known_years()[-1], 12, 31)):
        assert is_workday(d) == chinese_calendar.is_workday(d), d


# The 7-working-day rule ----------------------------------------------------------------------------------------


def test_seven_working_days_across_national_day() -> None:
    decided = D(2025, 9, 30)
    # 10-09, 10-10, 10-11 (Saturday, worked), 10-13, 10-14, 10-15, 10-16
    assert deadline(decided, 7) == D(2025, 10, 16)
    assert workdays_between(decided, D(2025, 10, 16)) == 7
    assert workdays_between(decided, D(2025, 10, 17)) == 8  # late
    assert workdays_between(decided, D(2025, 10, 8)) == 0  # the whole golden week counts nothing
    # a naive Monday-Friday count would have put the deadline on 10-09
    assert workdays_between(decided, D(2025, 10, 9)) == 1


def test_seven_working_days_across_spring_festival_and_the_weekend_after_the_deadline() -> None:
    decided = D(2026, 2, 12)
    # 02-13, 02-14 (Saturday, worked), 02-24 .. 02-27, 02-28 (Saturday, worked)
    assert deadline(decided, 7) == D(2026, 2, 28)
    assert workdays_between(decided, D(2026, 2, 28)) == 7
    # Sunday 03-01 is after the deadline but no working day has passed: the count rule still says 7.
    assert D(2026, 3, 1) > deadline(decided, 7)
    assert workdays_between(decided, D(2026, 3, 1)) == 7
    assert workdays_between(decided, D(2026, 3, 2)) == 8


def test_decision_on_a_holiday_counts_from_the_next_working_day() -> None:
    assert add_workdays(D(2025, 10, 3), 1) == D(2025, 10, 9)
    assert workdays_between(D(2025, 10, 3), D(2025, 10, 9)) == 1
    assert deadline(D(2025, 10, 3), 7) == D(2025, 10, 16)  # same as from 09-30: the holidays count nothing


def test_zero_and_negative() -> None:
    assert add_workdays(D(2025, 10, 1), 0) == D(2025, 10, 9)  # holiday -> next working day
    assert add_workdays(D(2025, 10, 9), 0) == D(2025, 10, 9)  # working day -> itself
    assert add_workdays(D(2025, 9, 28), 0) == D(2025, 9, 28)  # adjusted working Sunday -> itself
    assert add_workdays(D(2025, 10, 9), -1) == D(2025, 9, 30)
    assert add_workdays(D(2025, 10, 8), -1) == D(2025, 9, 30)  # d itself never counts
    assert add_workdays(D(2025, 9, 29), -1) == D(2025, 9, 28)
    assert add_workdays(D(2026, 1, 4), -1) == D(2025, 12, 31)  # across the year
    assert add_workdays(D(2025, 10, 16), -7) == D(2025, 9, 30)
    assert workdays_between(D(2025, 10, 9), D(2025, 10, 9)) == 0
    assert workdays_between(D(2025, 10, 10), D(2025, 10, 9)) == 0
    assert deadline(D(2025, 10, 1), 0) == D(2025, 10, 9)
    with pytest.raises(ValueError):
        deadline(D(2025, 10, 1), -1)


def test_long_spans_cross_many_years() -> None:
    first, last = D(known_years()[0], 1, 1), D(known_years()[-1], 12, 31)
    expected = sum(chinese_calendar.is_workday(d) for d in _days(first + ONE, last))
    first_working = min(d for d in _days(first + ONE, last) if chinese_calendar.is_workday(d))
    last_working = max(d for d in _days(first + ONE, last) if chinese_calendar.is_workday(d))
    assert workdays_between(first, last) == expected
    assert add_workdays(first, expected) == last_working
    assert add_workdays(last_working, -(expected - 1)) == first_working


def test_datetime_is_refused() -> None:
    with pytest.raises(TypeError):
        is_workday(dt.datetime(2025, 10, 9, 12, 0, tzinfo=dt.UTC))  # type: ignore[arg-type]


# Consistency over a range of dates, against a naive day-by-day oracle ---------------------------------------------


def test_add_and_between_are_consistent_with_a_day_by_day_count() -> None:
    span = _days(D(2023, 12, 1), D(2026, 12, 31))
    working = [chinese_calendar.is_workday(d) for d in span]
    prefix = [0]
    for w in working:
        prefix.append(prefix[-1] + w)
    index = {d: i for i, d in enumerate(span)}

    def naive_between(a: dt.date, b: dt.date) -> int:
        return max(0, prefix[index[b] + 1] - prefix[index[a] + 1])

    for d in _days(D(2024, 1, 1), D(2026, 11, 30)):
        for gap in (1, 3, 9, 30, 200):
            if d + dt.timedelta(days=gap) <= span[-1]:
                assert workdays_between(d, d + dt.timedelta(days=gap)) == naive_between(d, d + dt.timedelta(days=gap))
        for n in range(0, 16):
            x = add_workdays(d, n)
            assert is_workday(x)
            # n == 0 moves a non-working d to the next working day, which then counts once
            assert workdays_between(d, x) == (n if n or is_workday(d) else 1)
            if n > 0:  # the earliest such date
                assert workdays_between(d, x - ONE) == n - 1
                assert deadline(d, n) == x
        for n in range(1, 16):
            y = add_workdays(d, -n)
            assert is_workday(y) and y < d
            assert naive_between(y, d - ONE) == n - 1  # exactly n - 1 working days strictly between
            if is_workday(d):
                assert add_workdays(y, n) == d
                assert add_workdays(add_workdays(d, n), -n) == d
        for x in (d + dt.timedelta(days=k) for k in range(0, 20)):
            if is_workday(x):
                assert (x <= deadline(d, 7)) == (workdays_between(d, x) <= 7)


# Years the library does not know ---------------------------------------------------------------------------------


def test_unknown_year_weekends_policy_warns_once_per_year(caplog: pytest.LogCaptureFixture) -> None:
    monday, saturday = _first_weekday(UNKNOWN, 0), _first_weekday(UNKNOWN, 5)
    with caplog.at_level(logging.WARNING, logger="xinyong.core.workdays"):
        assert is_workday(monday)
        assert not is_workday(saturday)
        assert not is_workday(saturday + ONE)
        assert add_workdays(monday, 5) == monday + dt.timedelta(days=7)
        assert workdays_between(monday, monday + dt.timedelta(days=14)) == 10
    warnings = [r for r in caplog.records if str(UNKNOWN) in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING


def test_unknown_year_counting_continues_from_the_last_known_year() -> None:
    last = known_years()[-1]
    start, end = D(last, 12, 1), D(UNKNOWN, 1, 31)
    expected = sum(chinese_calendar.is_workday(d) for d in _days(start + ONE, D(last, 12, 31)))
    expected += sum(d.weekday() < 5 for d in _days(D(UNKNOWN, 1, 1), end))
    assert workdays_between(start, end) == expected
    assert add_workdays(start, expected) == max(d for d in _days(D(UNKNOWN, 1, 1), end) if d.weekday() < 5)


def test_unknown_year_error_policy(configure: Callable[..., None]) -> None:
    configure(policy="error")
    with pytest.raises(ConfigurationError) as exc:
        is_workday(D(UNKNOWN, 3, 2))
    assert exc.value.code == "workdays_year_unknown"
    assert f"{UNKNOWN} 年" in exc.value.message
    assert exc.value.details["year"] == UNKNOWN
    with pytest.raises(ConfigurationError):
        workdays_between(D(known_years()[-1], 12, 20), D(UNKNOWN, 1, 10))
    with pytest.raises(ConfigurationError):
        add_workdays(D(known_years()[-1], 12, 30), 10)  # runs into the unknown year
    with pytest.raises(ConfigurationError):
        is_workday(D(known_years()[0] - 1, 6, 1))  # before the library's first year too
    assert add_workdays(D(2025, 9, 30), 7) == D(2025, 10, 16)  # known years are unaffected


def test_bad_settings_are_configuration_errors(configure: Callable[..., None]) -> None:
    configure(policy="holidays")
    with pytest.raises(ConfigurationError) as exc:
        is_workday(D(2025, 1, 2))
    assert exc.value.code == "workdays_bad_policy"
    assert calendar_status()["ok"] is False

    configure(policy="weekends", holidays="2025-10-09, 2025/10/10")
    with pytest.raises(ConfigurationError) as exc:
        is_workday(D(2025, 1, 2))
    assert exc.value.code == "workdays_bad_extra_date"
    assert "2025/10/10" in exc.value.message

    configure(holidays="2025-10-09", workdays_="2025-10-09")
    with pytest.raises(ConfigurationError) as exc:
        is_workday(D(2025, 1, 2))
    assert exc.value.code == "workdays_extra_conflict"


# Extra dates -------------------------------------------------------------------------------------------------


def test_extra_dates_override_a_known_year(configure: Callable[..., None]) -> None:
    assert add_workdays(D(2025, 9, 30), 1) == D(2025, 10, 9)
    configure(holidays="2025-10-09", workdays_="2025-10-12")  # settings change: the calendar follows
    assert not is_workday(D(2025, 10, 9))
    assert is_workday(D(2025, 10, 12))
    assert add_workdays(D(2025, 9, 30), 1) == D(2025, 10, 10)
    assert workdays_between(D(2025, 9, 30), D(2025, 10, 16)) == 7  # one lost, one gained


def test_extra_dates_declare_an_unknown_year(configure: Callable[..., None], caplog: pytest.LogCaptureFixture) -> None:
    monday = _first_weekday(UNKNOWN, 0)
    saturday = monday + dt.timedelta(days=5)
    configure(
        policy="error",
        holidays=f" {monday.isoformat()}..{(monday + 2 * ONE).isoformat()} , ,{(monday + 4 * ONE).isoformat()}",
        workdays_=saturday.isoformat(),
    )
    with caplog.at_level(logging.WARNING, logger="xinyong.core.workdays"):
        assert [is_workday(monday + i * ONE) for i in range(7)] == [False, False, False, True, False, True, False]
        assert add_workdays(monday - ONE, 2) == saturday
    assert not caplog.records  # a declared year: no warning, no error
    status = calendar_status(today=monday)
    assert status["ok"] is True and status["current_year_declared"] is True
    assert status["last_declared_year"] == UNKNOWN
    assert status["extra_holidays"] == 4 and status["extra_workdays"] == 1
    assert status["extra_years"] == [UNKNOWN]
    assert status["policy"] == "error"


def test_calendar_status() -> None:
    status = calendar_status(today=D(2025, 6, 1))
    assert status["library"] == "chinesecalendar"
    assert status["library_version"]
    assert status["known_years"] == [known_years()[0], known_years()[-1]]
    assert status["last_declared_year"] == known_years()[-1]
    assert status["extra_holidays"] == 0 and status["extra_workdays"] == 0
    assert status["policy"] == "weekends"
    assert status["ok"] is True and status["problem"] is None
    later = calendar_status(today=D(UNKNOWN, 6, 1))
    assert later["current_year_declared"] is False
    assert later["ok"] is True and later["problem"]


def test_calendar_status_with_error_policy_in_an_undeclared_year(configure: Callable[..., None]) -> None:
    configure(policy="error")
    status = calendar_status(today=D(UNKNOWN, 6, 1))
    assert status["ok"] is False
    assert str(UNKNOWN) in status["problem"]


def test_reset_calendar_forgets_warnings(caplog: pytest.LogCaptureFixture) -> None:
    day = _first_weekday(UNKNOWN, 2)
    with caplog.at_level(logging.WARNING, logger="xinyong.core.workdays"):
        is_workday(day)
        is_workday(day)
        assert len(caplog.records) == 1
        reset_calendar()
        is_workday(day)
        assert len(caplog.records) == 2


def test_tables_are_per_year_sorted_arrays() -> None:
    """The speed promise: a query reads precomputed per-year tables, it does not walk the days."""
    workdays_between(D(2025, 1, 1), D(2025, 12, 31))
    cal = workdays._current()
    table = cal.table(2025)
    assert table == sorted(table)
    assert len(table) == sum(chinese_calendar.is_workday(d) for d in _days(D(2025, 1, 1), D(2025, 12, 31)))
    assert set(cal._tables) == {2025}  # only the year touched was built
