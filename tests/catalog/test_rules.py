"""Publicity arithmetic: month ends, leap years, window edges, never-published penalties, deadlines."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from xinyong.catalog.rules import (
    Deadline,
    PublicityRule,
    Window,
    add_months,
    describe_publicity,
    due_date,
    earliest_early_end,
    is_never_published,
    parse_party_kind,
    publicity_status,
    publicity_window,
)
from xinyong.catalog.spec import load_catalog
from xinyong.core.errors import ValidationFailed

D = dt.date


@pytest.fixture(scope="module")
def rules() -> dict[str, PublicityRule]:
    return load_catalog().rules()


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (D(2024, 1, 31), 3, D(2024, 4, 30)),  # no 31 April: the month's last day
        (D(2024, 1, 31), 1, D(2024, 2, 29)),  # leap February
        (D(2023, 1, 31), 1, D(2023, 2, 28)),
        (D(2024, 2, 29), 12, D(2025, 2, 28)),  # leap day + 1 year
        (D(2024, 2, 29), 36, D(2027, 2, 28)),
        (D(2024, 2, 29), 48, D(2028, 2, 29)),
        (D(2023, 2, 28), 12, D(2024, 2, 28)),  # a corresponding day exists: no jump to the 29th
        (D(2023, 11, 30), 3, D(2024, 2, 29)),  # across the year end
        (D(2024, 1, 15), 3, D(2024, 4, 15)),
        (D(2024, 12, 31), 12, D(2025, 12, 31)),
        (D(2024, 3, 31), -1, D(2024, 2, 29)),
        (D(2024, 5, 10), 0, D(2024, 5, 10)),
    ],
)
def test_add_months(start: dt.date, months: int, expected: dt.date) -> None:
    assert add_months(start, months) == expected


def test_penalty_windows_by_severity(rules) -> None:
    penalty = rules["penalty"]
    assert publicity_window(penalty, decision_date=D(2024, 1, 31), severity="general") == (
        D(2024, 1, 31),
        D(2024, 4, 30),
        D(2025, 1, 31),
    )
    assert publicity_window(penalty, decision_date=D(2024, 2, 29), severity="serious") == (
        D(2024, 2, 29),
        D(2025, 2, 28),
        D(2027, 2, 28),
    )


def test_severity_is_required_when_a_class_has_several_windows(rules) -> None:
    with pytest.raises(ValidationFailed) as err:
        publicity_window(rules["penalty"], decision_date=D(2024, 1, 1))
    assert err.value.code == "severity_required"
    with pytest.raises(ValidationFailed) as err:
        publicity_window(rules["penalty"], decision_date=D(2024, 1, 1), severity="catastrophic")
    assert err.value.code == "unknown_severity"
    # A single window needs no severity.
    _start, end_min, end_max = publicity_window(rules["market_serious_illegal_list"], decision_date=D(2022, 3, 31))
    assert (end_min, end_max) == (D(2023, 3, 31), D(2025, 3, 31))


def test_licence_public_while_valid(rules) -> None:
    licence = rules["licence"]
    assert publicity_window(licence, decision_date=D(2024, 5, 6), validity_end=D(2029, 5, 5)) == (
        D(2024, 5, 6),
        None,
        D(2029, 5, 5),
    )
    assert publicity_window(licence, decision_date=D(2024, 5, 6)).end_max is None  # no validity end: open
    with pytest.raises(ValidationFailed) as err:
        publicity_window(licence, decision_date=D(2024, 5, 6), validity_end=D(2024, 5, 5))
    assert err.value.code == "validity_before_start"
    assert publicity_window(rules["registration"], decision_date=D(2001, 1, 1)) == (D(2001, 1, 1), None, None)


def test_day_windows() -> None:
    rule = PublicityRule.model_validate(
        {
            "code": "x",
            "name_zh": "测试",
            "public_attribute": "public",
            "natural_person_attribute": "restricted",
            "publicity": {"mode": "fixed_period", "windows": {"default": {"min_days": 10, "max_days": 30}}},
            "repair": {"repairable": True, "mode": "repair_other"},
        }
    )
    assert publicity_window(rule, decision_date=D(2024, 2, 20)) == (D(2024, 2, 20), D(2024, 3, 1), D(2024, 3, 21))
    assert earliest_early_end(rule, decision_date=D(2024, 2, 20)) == D(2024, 3, 2)


@pytest.mark.parametrize(
    ("types", "fine", "kind", "expected"),
    [
        (["警告"], None, "legal_person", True),
        (["警告", "通报批评"], None, "natural_person", True),
        ([" 通报批评 "], None, "个体工商户", True),
        (["罚款"], Decimal("200"), "natural_person", True),
        (["罚款"], Decimal("200.01"), "natural_person", False),
        (["警告", "罚款"], Decimal("150"), "自然人", True),
        (["罚款"], Decimal("3000"), "legal_person", True),
        (["罚款"], Decimal("3000.01"), "法人及非法人组织", False),
        (["罚款"], Decimal("200"), "individual_business", True),
        (["罚款"], Decimal("1000"), "individual_business", False),
        (["罚款", "没收违法所得"], Decimal("100"), "legal_person", False),  # not only a small fine
        (["警告", "吊销许可证件"], None, "legal_person", False),
        (["责令停产停业"], None, "legal_person", False),
        ([], None, "legal_person", False),
    ],
)
def test_is_never_published(rules, types, fine, kind, expected) -> None:
    verdict, reason = is_never_published(rules["penalty"], penalty_types=types, fine_yuan=fine, party_kind=kind)
    assert verdict is expected
    if expected:
        assert "不予公示" in reason  # a positive answer always explains itself


def test_unknown_fine_amount_is_published_with_a_reason(rules) -> None:
    verdict = is_never_published(rules["penalty"], penalty_types=["罚款"], fine_yuan=None, party_kind="legal_person")
    assert verdict == (False, verdict.reason) and "罚款金额未知" in verdict.reason


def test_classes_without_conditions_are_always_published(rules) -> None:
    assert (
        is_never_published(rules["licence"], penalty_types=["警告"], fine_yuan=None, party_kind="legal_person").value
        is False
    )


def test_party_kind_is_checked() -> None:
    assert parse_party_kind("个体工商户") == "individual_business"
    with pytest.raises(ValidationFailed) as err:
        parse_party_kind("company")
    assert err.value.code == "unknown_party_kind"


def test_publicity_status_edges(rules) -> None:
    penalty = rules["penalty"]
    kw = {
        "decision_date": D(2024, 1, 31),
        "severity": "general",
        "party_kind": "legal_person",
        "penalty_types": ["罚款"],
        "fine_yuan": Decimal("50000"),
    }
    assert not publicity_status(penalty, today=D(2024, 1, 30), **kw).value
    assert publicity_status(penalty, today=D(2024, 1, 31), **kw).value
    assert publicity_status(penalty, today=D(2025, 1, 31), **kw).value  # the last day of the maximum
    assert not publicity_status(penalty, today=D(2025, 2, 1), **kw).value
    assert publicity_status(penalty, today=D(2025, 2, 1), **{**kw, "severity": "serious"}).value
    status = publicity_status(penalty, today=D(2024, 6, 1), ended_on=D(2024, 6, 1), **kw)  # repaired
    assert not status.value and "终止公示" in status.reason
    assert publicity_status(penalty, today=D(2024, 5, 31), ended_on=D(2024, 6, 1), **kw).value


def test_never_published_and_attributes_hide_records(rules) -> None:
    penalty = rules["penalty"]
    base = {"today": D(2024, 3, 1), "decision_date": D(2024, 2, 1), "severity": "general"}
    small = publicity_status(penalty, party_kind="legal_person", penalty_types=["警告"], **base)
    assert not small.value and "不予公示" in small.reason
    person = publicity_status(
        penalty, party_kind="natural_person", penalty_types=["罚款"], fine_yuan=Decimal("5000"), **base
    )
    assert not person.value and "自然人" in person.reason
    debtor = {"today": D(2024, 3, 1), "decision_date": D(2024, 2, 1), "validity_end": D(2026, 2, 1)}
    assert publicity_status(rules["dishonest_judgment_debtor"], party_kind="natural_person", **debtor).value
    shared = publicity_status(
        rules["evaluation"], party_kind="legal_person", today=D(2024, 3, 1), decision_date=D(2024, 2, 1)
    )
    assert not shared.value and "政务共享" in shared.reason


def test_earliest_early_end(rules) -> None:
    penalty = rules["penalty"]
    assert earliest_early_end(penalty, decision_date=D(2024, 1, 31), severity="general") == D(2024, 5, 1)
    assert earliest_early_end(penalty, decision_date=D(2024, 2, 29), severity="serious") == D(2025, 3, 1)
    assert earliest_early_end(rules["abnormal_operations"], decision_date=D(2024, 2, 1)) == D(2024, 2, 1)
    assert earliest_early_end(rules["licence"], decision_date=D(2024, 2, 1)) is None


def _weekdays_only(start: dt.date, n: int) -> dt.date:
    """A stand-in for ``core.workdays.deadline`` without holidays: the n-th weekday after start."""
    day = start
    while n:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            n -= 1
    return day


def test_due_dates(rules) -> None:
    publicity = rules["penalty"].publicity
    # Decided on Friday 2024-03-01: 7 working days later is Tuesday 2024-03-12.
    assert due_date(publicity.timeliness, start=D(2024, 3, 1), workday_deadline=_weekdays_only) == D(2024, 3, 12)
    assert due_date(publicity.withdrawal, start=D(2024, 3, 1), workday_deadline=_weekdays_only) == D(2024, 3, 6)
    calendar_days = Deadline(days=3, unit="day")
    assert due_date(calendar_days, start=D(2024, 2, 28), workday_deadline=_weekdays_only) == D(2024, 3, 2)


def test_due_dates_with_the_statutory_calendar(rules) -> None:
    from xinyong.core import workdays

    publicity = rules["penalty"].publicity
    # Decided the day before the 2024 National Day holiday (1–7 Oct off, Sat 12 Oct worked).
    assert due_date(publicity.timeliness, start=D(2024, 9, 30), workday_deadline=workdays.deadline) == D(2024, 10, 15)
    assert due_date(publicity.withdrawal, start=D(2024, 9, 30), workday_deadline=workdays.deadline) == D(2024, 10, 10)


def test_window_validation() -> None:
    with pytest.raises(ValueError, match="不得长于"):
        Window(min_months=13, max_months=12)
    with pytest.raises(ValueError, match="同一单位"):
        Window(min_months=1, max_days=90)
    assert Window(max_months=6).min_months is None


def test_describe_publicity(rules) -> None:
    text = describe_publicity(rules["penalty"].publicity)
    assert "一般失信行为 3–12个月" in text and "严重失信行为 12–36个月" in text and "不予公示" in text
    assert "有效期内" in describe_publicity(rules["licence"].publicity)
