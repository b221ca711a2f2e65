"""The model schema and the pure arithmetic (no database): validation of model files, points, caps, bands,
thresholds in both directions, forcing overrides and caps, explanations, and who may see a grade."""

from __future__ import annotations

import copy

import pytest

from xinyong.core.errors import ValidationFailed
from xinyong.evaluation import rules
from xinyong.evaluation.spec import Indicator, parse_model, shipped_models


def _general():
    return next(m for m in shipped_models() if m.code == "public_credit_legal_person")


def test_shipped_models_are_valid_and_include_two_domain_models() -> None:
    models = {m.code: m for m in shipped_models()}
    assert {"public_credit_legal_person", "medical_institution_demerit", "environment_credit"} <= set(models)
    assert [g.label for g in models["public_credit_legal_person"].grades] == [
        "诚信优良",
        "基本诚信",
        "失信观察",
        "严重失信",
    ]
    assert [g.label for g in models["environment_credit"].grades] == ["环保诚信", "环保良好", "环保警示", "环保不良"]
    assert models["medical_institution_demerit"].score.direction == "lower_better"


@pytest.mark.parametrize(
    "change, fragment",
    [
        (lambda d: d["grades"].reverse(), "threshold"),
        (
            lambda d: d["grades"][:3].reverse() or d.update(grades=[d["grades"][1], d["grades"][0], *d["grades"][2:]]),
            "从最好到最差",
        ),
        (
            lambda d: d["overrides"].append(
                {"code": "x_x", "indicator": "nope", "min_value": 1, "grade": "D", "text": "t"}
            ),
            "不存在的指标",
        ),
        (lambda d: d["indicators"][0].update(source="tea_leaves"), "未知的指标数据来源"),
        (lambda d: d["indicators"][1].update(bands=[{"min": 1, "points": 1}]), "二选一"),
        (lambda d: d["indicators"][0].update(window_months=12), "没有事件日期"),
        (lambda d: d["indicators"][4].update(window_months=12), "in_force"),
        (lambda d: d["indicators"][2].update(list_kinds=["black"]), "不适用于数据来源"),
        (lambda d: d["score"].update(base=120), "min ≤ base ≤ max"),
    ],
)
def test_invalid_models_are_refused_with_the_reason(change, fragment) -> None:
    data = copy.deepcopy(_general().dump())
    change(data)
    with pytest.raises(ValidationFailed) as exc:
        parse_model(data)
    assert exc.value.code == "evaluation_model_invalid" and fragment in exc.value.message


def test_points_per_unit_with_cap_and_bands() -> None:
    per = Indicator(code="pen", name="处罚", dimension="d", source="penalties", per=-3, cap=-18, window_months=12)
    assert rules.points_for(per, 0) == 0 and rules.points_for(per, 1.5) == -4.5 and rules.points_for(per, 10) == -18
    bands = Indicator(
        code="yrs",
        name="年限",
        dimension="d",
        source="registered_years",
        unit="年",
        bands=[{"min": 10, "points": 6}, {"min": 3, "points": 2}],
    )
    assert [rules.points_for(bands, v) for v in (0, 3, 9, 10, 30)] == [0, 2, 2, 6, 6]


def test_score_is_clamped_and_grade_follows_thresholds_overrides_and_caps() -> None:
    spec = _general()
    clean = rules.evaluate(spec, {"years_registered": 12, "licences_held": 4})
    assert (clean.score, clean.grade, clean.rule) == (90.0, "A", None)
    # An abnormal-operations entry caps at C even though the score would give B.
    capped = rules.evaluate(spec, {"years_registered": 12, "abnormal_operations": 1})
    assert capped.score == 78 and (capped.grade, capped.rule) == ("C", "abnormal_cap")
    # A serious black-list entry means D regardless of score; forcing rules win over caps.
    forced = rules.evaluate(
        spec, {"years_registered": 12, "licences_held": 4, "red_list": 2, "black_list": 1, "abnormal_operations": 1}
    )
    assert (forced.grade, forced.rule) == ("D", "serious_black_list")
    floor = rules.evaluate(spec, {"black_list": 2, "court_debtor": 2, "penalties_serious": 5})
    assert floor.score == 0  # 80 − 40 − 40 − 36 clamped at the minimum


def test_lower_better_model_grades_demerit_points() -> None:
    spec = next(m for m in shipped_models() if m.code == "medical_institution_demerit")
    assert rules.evaluate(spec, {}).grade == "A"
    assert rules.evaluate(spec, {"health_penalties_general": 1}).grade == "B"  # 3 points
    assert rules.evaluate(spec, {"health_penalties_general": 3}).grade == "C"  # 9 points
    assert rules.evaluate(spec, {"health_penalties_serious": 1}).grade == "D"  # 12 points


def test_explanation_gives_every_line_the_score_and_why_the_grade() -> None:
    spec = _general()
    ev = rules.evaluate(spec, {"years_registered": 12, "abnormal_operations": 1})
    e = rules.explain(spec, score=ev.score, grade=ev.grade, rule=ev.rule, contributions=ev.contributions)
    assert len(e["lines"]) == len(spec.indicators)
    line = next(x for x in e["lines"] if x["indicator"] == "abnormal_operations")
    assert line["points"] == -8 and "每条 -8分" in line["text"]
    assert e["score_text"] == "得分 78 = 基础分 80 − 2"
    assert "经营异常名录" in e["grade_text"] and "最高评为 C" in e["grade_text"] and "应为 B" in e["grade_text"]
    assert e["supervision"]["sampling_ratio"] == 0.15


@pytest.mark.parametrize(
    "attribute, role, expected",
    [
        ("shared", None, False),
        ("shared", "bank", False),
        ("shared", "dept_viewer", True),
        ("shared", "business_system", True),
        ("restricted", "dept_operator", False),
        ("restricted", "admin", True),
        ("public", None, True),
        ("conditional", "bank", True),
        ("conditional", None, False),
    ],
)
def test_who_may_see_a_grade_follows_the_public_attribute(attribute, role, expected) -> None:
    assert rules.may_see(attribute, role) is expected
