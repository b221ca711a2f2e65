"""Pure publicity mapping of stored record fields onto the catalog's default rules (no database)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from xinyong.catalog.rules import PublicAttribute, PublicityRule
from xinyong.catalog.spec import load_catalog
from xinyong.core import workdays
from xinyong.records import publicity
from xinyong.records.publicity import RecordFacts

D = dt.date


@pytest.fixture(scope="module")
def rules() -> dict[str, PublicityRule]:
    return load_catalog().rules()


def pen(decided: D, **kw) -> RecordFacts:
    kw.setdefault("penalty_types", ("罚款",))
    kw.setdefault("fine_yuan", Decimal("50000"))
    return RecordFacts(kind="penalty", party_kind=kw.pop("party_kind", "legal_person"), decision_date=decided, **kw)


def test_general_penalty_public_one_year_then_gone_the_day_after(rules):
    rule, f = rules["penalty"], pen(D(2024, 3, 15))
    assert not publicity.status(rule, f, D(2024, 3, 14)).value
    assert publicity.status(rule, f, D(2024, 3, 15)).value
    assert publicity.status(rule, f, D(2025, 3, 15)).value  # last day of 12 months (inclusive)
    gone = publicity.status(rule, f, D(2025, 3, 16))
    assert not gone.value and "届满" in gone.reason
    assert publicity.status_label(rule, f, D(2025, 3, 16))[0] == "expired"


def test_serious_penalty_three_years_and_month_end_clamp(rules):
    rule, f = rules["penalty"], pen(D(2024, 2, 29), severity="serious")
    assert publicity.status(rule, f, D(2027, 2, 28)).value  # 2027 has no 29 February
    assert not publicity.status(rule, f, D(2027, 3, 1)).value
    general = pen(D(2024, 2, 29))
    assert not publicity.status(rule, general, D(2025, 3, 1)).value


def test_warning_only_and_small_fines_never_published(rules):
    rule = rules["penalty"]
    assert not publicity.status(rule, pen(D(2024, 3, 15), penalty_types=("警告",), fine_yuan=None), D(2024, 4, 1)).value
    small = pen(D(2024, 3, 15), penalty_types=("警告", "罚款"), fine_yuan=Decimal("3000"))
    assert not publicity.status(rule, small, D(2024, 4, 1)).value  # legal person ≤ 3000 yuan
    bigger = pen(D(2024, 3, 15), penalty_types=("罚款",), fine_yuan=Decimal("3000.01"))
    assert publicity.status(rule, bigger, D(2024, 4, 1)).value
    with_confiscation = pen(D(2024, 3, 15), penalty_types=("罚款", "没收违法所得"), fine_yuan=Decimal("100"))
    assert publicity.status(rule, with_confiscation, D(2024, 4, 1)).value


def test_licence_public_while_valid_and_gone_when_withdrawn(rules):
    rule = rules["licence"]
    f = RecordFacts(
        kind="licence", party_kind="legal_person", decision_date=D(2024, 3, 15), licence_valid_to=D(2026, 3, 14)
    )
    assert publicity.status(rule, f, D(2026, 3, 14)).value
    assert not publicity.status(rule, f, D(2026, 3, 15)).value
    withdrawn = RecordFacts(**{**f.__dict__, "withdrawn_on": D(2025, 1, 10)})
    assert publicity.status(rule, withdrawn, D(2025, 1, 9)).value
    assert publicity.status_label(rule, withdrawn, D(2025, 1, 10))[0] == "withdrawn"


def test_natural_persons_follow_the_catalog_attribute(rules):
    rule = rules["penalty"]
    person = pen(D(2024, 3, 15), party_kind="natural_person")
    verdict = publicity.status(rule, person, D(2024, 4, 1))
    assert not verdict.value and "自然人" in verdict.reason  # default: 政务共享 only
    opened = rule.model_copy(update={"natural_person_attribute": PublicAttribute.PUBLIC})
    assert publicity.status(opened, person, D(2024, 4, 1)).value


def test_earliest_public_decision_is_exact(rules):
    rule = rules["penalty"]
    for today in (D(2025, 3, 16), D(2025, 2, 28), D(2024, 2, 29), D(2025, 12, 31)):
        for severity in ("general", "serious"):
            bound = publicity.earliest_public_decision(rule, severity, today)
            assert publicity.status(rule, pen(bound, severity=severity), today).value
            assert not publicity.status(rule, pen(bound - dt.timedelta(days=1), severity=severity), today).value


def test_severity_from_data_or_extra(rules):
    rule = rules["penalty"]
    assert publicity.severity_of(rule, {}, {}) == ("general", None)
    assert publicity.severity_of(rule, {"severity": "serious"}, {})[0] == "serious"
    assert publicity.severity_of(rule, {}, {"失信严重程度": "严重失信行为"})[0] == "serious"
    assert publicity.severity_of(rule, {}, {"失信严重程度": "严重"})[0] == "serious"
    key, problem = publicity.severity_of(rule, {}, {"失信严重程度": "特别严重？"})
    assert key == "general" and problem


def test_timeliness_counts_working_days(rules):
    deadline = rules["penalty"].publicity.timeliness
    # 2024-09-27 (Fri) decision; National Day holiday 10-01..10-07, adjusted working Sunday 09-29 and Sat 10-12.
    days, late = publicity.timeliness(
        deadline, decision_date=D(2024, 9, 27), received_on=D(2024, 10, 11), workdays_between=workdays.workdays_between
    )
    assert (days, late) == (workdays.workdays_between(D(2024, 9, 27), D(2024, 10, 11)), days > 7)
    assert publicity.timeliness(
        deadline, decision_date=D(2024, 3, 15), received_on=D(2024, 3, 26), workdays_between=workdays.workdays_between
    ) == (7, False)
    assert publicity.timeliness(
        deadline, decision_date=D(2024, 3, 15), received_on=D(2024, 3, 27), workdays_between=workdays.workdays_between
    ) == (8, True)


def test_publicity_exception_by_domain_and_other_class_rules(rules):
    """Issue #18.5: 合同履行信息 is 政务共享, except 守合同重信用 (a catalog exception with its own legal basis), public
    while valid; other classes by their catalog rule (spot checks: 36 months; tax arrears: until settled)."""
    rule = rules["contract"]
    day = D(2025, 6, 1)
    honoured = RecordFacts(
        kind="contract",
        party_kind="legal_person",
        decision_date=D(2025, 1, 2),
        licence_valid_to=D(2026, 12, 31),
        domain="守合同重信用",
    )
    procured = RecordFacts(kind="contract", party_kind="legal_person", decision_date=D(2025, 1, 2), domain="政府采购")
    assert publicity.status(rule, honoured, day).value
    assert publicity.status_label(rule, honoured, D(2027, 1, 1))[0] == "expired"  # validity over
    assert not publicity.status(rule, procured, day).value
    assert publicity.status_label(rule, procured, day)[0] == "not_public"
    person = RecordFacts(
        kind="contract", party_kind="natural_person", decision_date=D(2025, 1, 2), domain="守合同重信用"
    )
    assert not publicity.status(rule, person, day).value  # the exception keeps persons restricted
    spot = RecordFacts(kind="spot_check", party_kind="legal_person", decision_date=D(2022, 6, 1))
    assert publicity.status(rules["spot_check"], spot, D(2025, 6, 1)).value
    assert not publicity.status(rules["spot_check"], spot, D(2025, 6, 2)).value
    arrears = RecordFacts(kind="tax_arrears", party_kind="legal_person", decision_date=D(2024, 1, 5))
    settled = RecordFacts(
        kind="tax_arrears", party_kind="legal_person", decision_date=D(2024, 1, 5), licence_valid_to=D(2024, 9, 1)
    )
    assert publicity.status(rules["tax_arrears"], arrears, day).value
    assert not publicity.status(rules["tax_arrears"], settled, day).value
