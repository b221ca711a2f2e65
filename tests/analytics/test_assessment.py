"""The department assessment: scoring rules (no data earns nothing), the ranking on the known month with each
score's parts, periods, the XLSX report."""

from __future__ import annotations

import io

import openpyxl
import pytest

from tests.analytics.fixture import MARCH, TODAY, build
from xinyong.analytics import assessment
from xinyong.core.errors import ConfigurationError, ValidationFailed

METHOD = """
title: 测试考核
indicators:
  - {code: timeliness, name: 及时率, figure: timeliness.rate, weight: 50, full_at: 1.0, zero_at: 0.0}
  - {code: feedback, name: 反馈率, figure: checks.rate, weight: 30, full_at: 1.0, zero_at: 0.0}
  - {code: rejection, name: 退回率, figure: quality.rejection_rate, weight: 20, full_at: 0.0, zero_at: 0.5, no_data: zero}
"""


def test_indicator_points():
    rate = assessment.Indicator(code="ti", name="t", figure="timeliness.rate", weight=30, full_at=1.0, zero_at=0.8)
    assert rate.points(1.0) == 30 and rate.points(0.9) == 15 and rate.points(0.5) == 0
    assert rate.points(None) == 0  # "—" earns nothing
    lower = assessment.Indicator(
        code="re", name="r", figure="quality.rejection_rate", weight=10, full_at=0.0, zero_at=0.2
    )
    assert lower.points(0.0) == 10 and lower.points(0.05) == 7.5 and lower.points(0.3) == 0 and lower.points(None) == 0
    assert "越低越好" in lower.rule and "无数据（—）不得分" in lower.rule


@pytest.mark.parametrize("no_data", ["full", "exclude"])
def test_no_free_points_for_missing_data(tmp_path, no_data):
    """The old options gave a department that sent nothing full marks, or let it off being measured."""
    path = tmp_path / "old.yaml"
    path.write_text(
        "indicators:\n  - {code: fb, name: f, figure: checks.rate, weight: 1, full_at: 1, zero_at: 0, "
        f"no_data: {no_data}}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigurationError) as err:
        assessment.load_method(path)
    assert err.value.code == "assessment_config_invalid" and "无数据（—）一律不得分" in err.value.message


def test_method_file_is_validated(tmp_path):
    default = assessment.load_method()
    assert default.indicators and len(default.sha256) == 64
    assert {i.code for i in default.indicators} >= {
        "completeness",
        "timeliness",
        "rejection",
        "required_fields",
        "feedback",
        "case_on_time",
        "list_notice",
    }
    assert {i.code: i.figure for i in default.indicators}["completeness"] == "volume.completeness"
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "indicators:\n  - {code: x, name: x, figure: nowhere.rate, weight: 1, full_at: 1, zero_at: 0}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigurationError) as err:
        assessment.load_method(bad)
    assert err.value.code == "assessment_config_invalid"


def test_ranking_on_known_month_and_xlsx(session, tmp_path):
    build(session)
    path = tmp_path / "method.yaml"
    path.write_text(METHOD, encoding="utf-8")
    result = assessment.assess(session, period=MARCH, method=assessment.load_method(path), today=TODAY)
    rows = {r["department_code"]: r for r in result["rows"]}
    # scjgj: timeliness 0.75 → 37.5; feedback 0.5 → 15; rejection 0.2 → 20 × 0.6 = 12 → 64.5 of 100.
    timeliness = rows["scjgj"]["indicators"]["timeliness"]
    assert {k: timeliness[k] for k in ("value", "points", "weight")} == {"value": 0.75, "points": 37.5, "weight": 50}
    assert timeliness["parts"] == {
        "records": 4,
        "on_time": 3,
        "late": 1,
        "mean_workdays_late": timeliness["parts"]["mean_workdays_late"],
    }
    assert "报送 4 条，7 个工作日内 3 条，迟报 1 条" in timeliness["explanation"]
    assert "得 37.5/50 分" in timeliness["explanation"]
    rejection = rows["scjgj"]["indicators"]["rejection"]
    assert rejection["points"] == 12 and rejection["parts"]["rejected"] == 2 and rejection["parts"]["rows"] == 10
    assert rows["scjgj"]["total"] == 64.5
    # swj: timeliness full, rejection full; no check with measures: "—", nothing → 70.
    assert rows["swj"]["indicators"]["feedback"]["points"] == 0
    assert "无含奖惩措施的核查结果可反馈" in rows["swj"]["indicators"]["feedback"]["explanation"]
    assert rows["swj"]["total"] == 70
    # zjj: nothing at all → 0, last.
    assert rows["zjj"]["indicators"]["timeliness"]["points"] == 0
    assert "期间未报送" in rows["zjj"]["indicators"]["timeliness"]["explanation"]
    assert rows["zjj"]["total"] == 0 and rows["zjj"]["summary"].endswith("= 0 分")
    assert [(r["department_code"], r["rank"]) for r in result["rows"]] == [("swj", 1), ("scjgj", 2), ("zjj", 3)]
    assert result["period"]["granularity"] == "month" and result["period"]["label"] == "2024年3月"

    book = openpyxl.load_workbook(io.BytesIO(assessment.to_xlsx(result, city="沁阳市")))
    sheet = book["考核排名"]
    assert "测试考核" in sheet["A1"].value and "2024-03-01" in sheet["A1"].value
    header = [c.value for c in sheet[2]]
    assert header[:4] == ["排名", "部门代码", "部门", "总分"] and "及时率（得分/50）" in header
    body = [[c.value for c in row] for row in sheet.iter_rows(min_row=3)]
    assert [(r[0], r[1], r[3]) for r in body] == [(1, "swj", 70), (2, "scjgj", 64.5), (3, "zjj", 0)]
    assert body[1][4:6] == [0.75, 37.5]
    method = book["考核方法"]
    assert [c.value for c in method[1]][:2] == ["指标代码", "指标"] and method["A2"].value == "timeliness"
    explained = [[c.value for c in row] for row in book["得分说明"].iter_rows(min_row=2)]
    assert any(r[1] == "沁阳市市场监督管理局" and "迟报 1 条" in r[5] for r in explained)


def test_ties_share_a_rank(session, tmp_path):
    build(session)
    path = tmp_path / "flat.yaml"
    path.write_text(
        "indicators:\n  - {code: fb, name: f, figure: checks.rate, weight: 1, full_at: 1, zero_at: 0}\n",
        encoding="utf-8",
    )
    result = assessment.assess(session, period=MARCH, method=assessment.load_method(path), today=TODAY)
    assert [(r["department_code"], r["rank"], r["total"]) for r in result["rows"]] == [
        ("scjgj", 1, 50),
        ("swj", 2, 0),
        ("zjj", 2, 0),
    ]


def test_department_that_sent_nothing_never_ranks_first(session):
    """Issue #15 (6): with the shipped method, 住建局 (nothing at all in March) ranked first with 100."""
    build(session)
    result = assessment.assess(session, period=MARCH, today=TODAY)
    rows = {r["department_code"]: r for r in result["rows"]}
    assert rows["zjj"]["total"] == 0
    assert rows["zjj"]["rank"] > rows["scjgj"]["rank"] and rows["zjj"]["rank"] > rows["swj"]["rank"]


def test_periods():
    assert assessment.parse_period("2024-03") == MARCH
    assert assessment.parse_period("2024-3") == MARCH
    q2 = assessment.parse_period("2024-q2")
    assert (q2.date_from.isoformat(), q2.date_to.isoformat()) == ("2024-04-01", "2024-06-30")
    year = assessment.parse_period("2024")
    assert (year.date_from.isoformat(), year.date_to.isoformat()) == ("2024-01-01", "2024-12-31")
    assert assessment.period_label(q2) == {"granularity": "quarter", "label": "2024年第2季度"}
    assert assessment.period_label(year) == {"granularity": "year", "label": "2024年度"}
    assert assessment.parse_period(None, today=TODAY) == MARCH  # the last complete month
    for bad in ("2024-13", "2024-Q5", "2024-00", "0000", "abc", "2024-03-01", "9999-12"):
        with pytest.raises(ValidationFailed) as err:
            assessment.parse_period(bad)
        assert err.value.code == "bad_assessment_period" and "YYYY-Qn" in err.value.message, bad


def test_quarter_and_annual_roll_up(session):
    """A quarter or a year sums the months' parts (a quiet month counts against the department)."""
    build(session)
    q1 = assessment.assess(session, period=assessment.parse_period("2024-Q1"), today=TODAY)
    year = assessment.assess(session, period=assessment.parse_period("2024"), today=TODAY)
    for result in (q1, year):
        rows = {r["department_code"]: r for r in result["rows"]}
        # scjgj: March's 4 records and February's 1.
        assert rows["scjgj"]["indicators"]["timeliness"]["parts"]["records"] == 5
        assert rows["zjj"]["total"] == 0 and rows["zjj"]["rank"] == 3
    assert q1["period"]["granularity"] == "quarter" and year["period"]["label"] == "2024年度"
