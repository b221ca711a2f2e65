"""The department assessment: scoring rules, the ranking on the known month, the XLSX report."""

from __future__ import annotations

import io

import openpyxl
import pytest

from tests.analytics.fixture import MARCH, TODAY, build
from xinyong.analytics import assessment
from xinyong.core.errors import ConfigurationError

METHOD = """
title: 测试考核
indicators:
  - {code: timeliness, name: 及时率, figure: timeliness.rate, weight: 50, full_at: 1.0, zero_at: 0.0, no_data: exclude}
  - {code: feedback, name: 反馈率, figure: checks.rate, weight: 30, full_at: 1.0, zero_at: 0.0, no_data: full}
  - {code: rejection, name: 退回率, figure: quality.rejection_rate, weight: 20, full_at: 0.0, zero_at: 0.5, no_data: zero}
"""


def test_indicator_points():
    rate = assessment.Indicator(code="ti", name="t", figure="timeliness.rate", weight=30, full_at=1.0, zero_at=0.8)
    assert rate.points(1.0) == 30 and rate.points(0.9) == 15 and rate.points(0.5) == 0 and rate.points(None) is None
    lower = assessment.Indicator(code="re", name="r", figure="quality.rejection_rate", weight=10, full_at=0.0,
                                 zero_at=0.2, no_data="full")
    assert lower.points(0.0) == 10 and lower.points(0.05) == 7.5 and lower.points(0.3) == 0 and lower.points(None) == 10
    assert "越低越好" in lower.rule


def test_method_file_is_validated(tmp_path):
    default = assessment.load_method()
    assert default.indicators and len(default.sha256) == 64
    assert {i.code for i in default.indicators} >= {"timeliness", "rejection", "completeness", "feedback",
                                                     "case_on_time", "list_notice"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("indicators:\n  - {code: x, name: x, figure: nowhere.rate, weight: 1, full_at: 1, zero_at: 0}\n",
                   encoding="utf-8")
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
    assert rows["scjgj"]["indicators"]["timeliness"] == {"value": 0.75, "points": 37.5, "weight": 50}
    assert rows["scjgj"]["indicators"]["rejection"]["points"] == 12
    assert rows["scjgj"]["total"] == 64.5
    # swj: everything full (no check with measures: full by rule) → 100.
    assert rows["swj"]["total"] == 100
    # zjj: no records (timeliness excluded), feedback full, rejection zero → 30 of 50 → 60.
    assert rows["zjj"]["indicators"]["timeliness"]["points"] is None
    assert rows["zjj"]["total"] == 60
    assert [(r["department_code"], r["rank"]) for r in result["rows"]] == [("swj", 1), ("scjgj", 2), ("zjj", 3)]

    book = openpyxl.load_workbook(io.BytesIO(assessment.to_xlsx(result, city="沁阳市")))
    sheet = book["考核排名"]
    assert "测试考核" in sheet["A1"].value and "2024-03-01" in sheet["A1"].value
    header = [c.value for c in sheet[2]]
    assert header[:4] == ["排名", "部门代码", "部门", "总分"] and "及时率（得分/50）" in header
    body = [[c.value for c in row] for row in sheet.iter_rows(min_row=3)]
    assert [(r[0], r[1], r[3]) for r in body] == [(1, "swj", 100), (2, "scjgj", 64.5), (3, "zjj", 60)]
    assert body[1][4:6] == [0.75, 37.5]
    method = book["考核方法"]
    assert [c.value for c in method[1]][:2] == ["指标代码", "指标"] and method["A2"].value == "timeliness"


def test_ties_share_a_rank(session, tmp_path):
    build(session)
    path = tmp_path / "flat.yaml"
    path.write_text("indicators:\n  - {code: fb, name: f, figure: checks.rate, weight: 1, full_at: 1, zero_at: 0, "
                    "no_data: full}\n", encoding="utf-8")
    result = assessment.assess(session, period=MARCH, method=assessment.load_method(path), today=TODAY)
    assert [(r["department_code"], r["rank"], r["total"]) for r in result["rows"]] == [
        ("swj", 1, 100), ("zjj", 1, 100), ("scjgj", 3, 50)]
