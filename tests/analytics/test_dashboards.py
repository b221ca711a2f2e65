"""Dashboard figures on a month whose every number is known (``tests/analytics/fixture.py``)."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.analytics.fixture import MARCH, TODAY, build
from xinyong.analytics import dashboards
from xinyong.analytics.dashboards import Period
from xinyong.core.errors import ValidationFailed


def _by_code(rows):
    return {r["department_code"]: r for r in rows}


def test_period_rules():
    assert Period.month(2024, 2) == Period(dt.date(2024, 2, 1), dt.date(2024, 2, 29))
    assert Period.month(2024, 12).date_to == dt.date(2024, 12, 31)
    assert Period(dt.date(2023, 11, 5), dt.date(2024, 2, 1)).months() == ["2023-11", "2023-12", "2024-01", "2024-02"]
    assert Period.last_months(3, today=dt.date(2024, 2, 10)) == Period(dt.date(2023, 12, 1), dt.date(2024, 2, 10))
    start, end = MARCH.utc_bounds()  # China Standard Time midnights
    assert start == dt.datetime(2024, 2, 29, 16, tzinfo=dt.UTC) and end == dt.datetime(2024, 3, 31, 16, tzinfo=dt.UTC)
    with pytest.raises(ValidationFailed):
        Period(dt.date(2024, 3, 2), dt.date(2024, 3, 1))
    with pytest.raises(ValidationFailed):
        Period(dt.date(2020, 1, 1), dt.date(2024, 1, 1))


def test_dashboard_figures(session):
    city = build(session)
    period = Period(dt.date(2024, 2, 1), dt.date(2024, 3, 31))

    rec = dashboards.records_by_month(session, period=period)
    assert rec["months"] == ["2024-02", "2024-03"]
    rows = _by_code(rec["departments"])
    assert rows["scjgj"]["penalty"] == [1, 3] and rows["scjgj"]["licence"] == [0, 1]
    assert rows["swj"]["penalty"] == [0, 2] and rows["zjj"]["total"] == 0
    assert rec["totals"] == [1, 6]

    t = _by_code(dashboards.timeliness(session, period=MARCH))
    assert (t["scjgj"]["records"], t["scjgj"]["late"], t["scjgj"]["rate"]) == (4, 1, 0.75)
    assert t["scjgj"]["mean_workdays_late"] > 0
    assert (t["swj"]["records"], t["swj"]["rate"]) == (2, 1.0)
    assert (t["zjj"]["records"], t["zjj"]["rate"]) == (0, None)

    q = _by_code(dashboards.data_quality(session, period=MARCH))
    assert (q["scjgj"]["rows"], q["scjgj"]["rejected"], q["scjgj"]["rejection_rate"]) == (10, 2, 0.2)
    assert (q["scjgj"]["rows_missing_required"], q["scjgj"]["completeness"]) == (1, 0.9)
    assert {e["code"] for e in q["scjgj"]["top_errors"]} == {"required_missing", "invalid_uscc"}
    assert (q["swj"]["rejection_rate"], q["swj"]["completeness"]) == (0.0, 1.0)
    assert q["zjj"]["rejection_rate"] is None

    c = _by_code(dashboards.check_feedback(session, period=MARCH))
    assert (c["scjgj"]["checks"], c["scjgj"]["with_measures"], c["scjgj"]["with_feedback"], c["scjgj"]["rate"]) == (
        3,
        2,
        1,
        0.5,
    )
    assert (c["swj"]["checks"], c["swj"]["rate"]) == (1, None)

    cases = _by_code(dashboards.case_handling(session, period=MARCH, today=TODAY))
    a = cases["scjgj"]
    assert (a["opened"], a["closed"], a["closed_on_time"], a["open_overdue"]) == (3, 2, 1, 1)
    assert a["on_time_rate"] == round(1 / 3, 4) and a["overdue_rate"] == round(2 / 3, 4)
    assert (a["mean_workdays"], a["max_workdays"]) == (8.5, 12)  # 03-01→03-08: 5; 03-04→03-20: 12
    assert (cases["swj"]["on_time_rate"], cases["swj"]["mean_workdays"]) == (1.0, 1)
    assert cases["zjj"]["on_time_rate"] is None

    n = _by_code(dashboards.list_notices(session, period=MARCH))
    assert (n["scjgj"]["listed"], n["scjgj"]["noticed"], n["scjgj"]["rate"]) == (2, 1, 0.5)
    assert n["swj"]["rate"] is None

    flows = dashboards.list_sizes_and_flows(session, period=period)
    assert flows["listed"] == [0, 2] and flows["removed"] == [0, 1]
    assert sum(s["active"] for s in flows["sizes"]) == 2

    # A department sees only itself.
    own = dashboards.overview(session, period=MARCH, department_id=city.b.id)
    assert [r["department_code"] for r in own["timeliness"]] == ["swj"]
    assert [r["department_code"] for r in own["records"]["departments"]] == ["swj"]
    assert own["lists"]["listed"] == [0]
