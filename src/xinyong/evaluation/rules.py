"""Scoring arithmetic of an evaluation model for one subject: points, score, grade, explanation. Pure: no database.

The engine (``evaluation.engine``) computes the same thing for every subject at once in SQL; these functions are the
reference it is tested against, and they turn a stored result (indicator values and points) back into the Chinese
line-by-line explanation given to the subject and to a court.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xinyong.catalog.rules import OPENNESS, PublicAttribute
from xinyong.evaluation.spec import Indicator, ModelSpec, _num, _signed, describe_rule


def round2(x: float) -> float:
    return float(f"{x:.2f}") + 0.0  # + 0.0: no "-0.0"


def points_for(ind: Indicator, value: float) -> float:
    if ind.bands:
        for b in ind.bands:
            if value >= b.min:
                return b.points
        return 0.0
    assert ind.per is not None
    pts = value * ind.per
    if ind.cap is not None:
        pts = min(pts, ind.cap) if ind.per > 0 else max(pts, ind.cap)
    return round2(pts)


def score_for(spec: ModelSpec, points: list[float]) -> float:
    s = spec.score
    return round2(min(max(s.base + sum(points), s.min), s.max))


def threshold_grade(spec: ModelSpec, score: float) -> str:
    higher = spec.score.direction == "higher_better"
    for g in spec.grades[:-1]:
        assert g.threshold is not None
        if (score >= g.threshold) if higher else (score <= g.threshold):
            return g.code
    return spec.grades[-1].code


def grade_for(spec: ModelSpec, score: float, values: dict[str, float]) -> tuple[str, str | None]:
    """The grade and the code of the override that decided it (None: the score's threshold decided).

    A forcing override (``grade``) wins, the first in model order; otherwise the worst of the threshold grade and
    every applicable cap (``max_grade``)."""
    for o in spec.overrides:
        if o.grade is not None and values.get(o.indicator, 0) >= o.min_value:
            return o.grade, o.code
    grade, rule = threshold_grade(spec, score), None
    for o in spec.overrides:
        if (
            o.max_grade is not None
            and values.get(o.indicator, 0) >= o.min_value
            and spec.grade_rank(o.max_grade) > spec.grade_rank(grade)
        ):
            grade, rule = o.max_grade, o.code
    return grade, rule


@dataclass(frozen=True)
class Evaluated:
    score: float
    grade: str
    rule: str | None
    contributions: list[list[float]]  # [value, points] per indicator, in model order


def evaluate(spec: ModelSpec, values: dict[str, float]) -> Evaluated:
    contributions = []
    for ind in spec.indicators:
        v = round2(values.get(ind.code, 0.0))
        contributions.append([v, points_for(ind, v)])
    score = score_for(spec, [p for _, p in contributions])
    grade, rule = grade_for(spec, score, {i.code: c[0] for i, c in zip(spec.indicators, contributions, strict=True)})
    return Evaluated(score, grade, rule, contributions)


def explain(
    spec: ModelSpec, *, score: float, grade: str, rule: str | None, contributions: list[list[float]]
) -> dict[str, Any]:
    """A stored result as lines: each indicator with its value, points and rule; the score; the grade and why."""
    lines = []
    for ind, (value, pts) in zip(spec.indicators, contributions, strict=True):
        lines.append(
            {
                "indicator": ind.code,
                "name": ind.name,
                "dimension": ind.dimension,
                "value": value,
                "unit": ind.unit,
                "points": pts,
                "rule": describe_rule(ind),
                "text": f"{ind.name}：{_num(value)}{ind.unit}，{_signed(pts)}分（{describe_rule(ind)}）",
            }
        )
    g = spec.grade(grade)
    higher = spec.score.direction == "higher_better"
    total = sum(p for _, p in contributions)
    score_text = f"得分 {_num(score)} = 基础分 {_num(spec.score.base)} {'+' if total >= 0 else '−'} {_num(abs(total))}"
    if round2(spec.score.base + total) != score:
        score_text += f"（限定在 {_num(spec.score.min)}–{_num(spec.score.max)} 之间）"
    if rule is None:
        sign = "≥" if higher else "≤"
        why = (
            f"分数{sign}{_num(g.threshold)}，评为 {g.code}（{g.label}）"
            if g.threshold is not None
            else f"分数未达到 {spec.grades[-2].code} 档，评为 {g.code}（{g.label}）"
        )
    else:
        o = next(o for o in spec.overrides if o.code == rule)
        kind = "直接评为" if o.grade else "最高评为"
        why = f"修正规则「{o.text}」：{kind} {g.code}（{g.label}）；按分数应为 {threshold_grade(spec, score)}"
    return {
        "lines": lines,
        "score_text": score_text,
        "grade_text": why,
        "supervision": {"sampling_ratio": g.sampling_ratio, "text": g.supervision},
    }


def may_see(attribute: str, role: str | None) -> bool:
    """Whether a caller of ``role`` (None: the public) may see information of this 公开属性: the admin always; the
    departments and their business systems what is shared (政务共享) or more open; a bank (authorised query) what
    is conditional (授权查询) or public; the public only what is public."""
    rank = OPENNESS[PublicAttribute(attribute)]
    if role == "admin":
        return True
    if role in ("dept_operator", "dept_viewer", "business_system"):
        return rank >= OPENNESS[PublicAttribute.SHARED]
    if role == "bank":
        return rank >= OPENNESS[PublicAttribute.CONDITIONAL]
    return rank >= OPENNESS[PublicAttribute.PUBLIC]
