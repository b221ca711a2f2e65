"""The evaluation model as data: the YAML schema (pydantic), its loading, and the Chinese text of its rules. Pure.

A model (``evaluation/data/models/*.yaml``) is versioned: ``code`` + ``version`` name one immutable definition; a
stored result names the version it was computed with, so any past grade is explained by the rules then in force.

- ``population``: which subjects the model grades (kinds, excluded registry statuses, and optionally any of:
  licences or records from named departments, name fragments, organisation types);
- ``indicators``: each reads one :data:`SOURCES` of the platform's data with filters (departments, severity, list
  kinds …), a time ``window`` or step ``decay`` over the event date, and turns the value into points, either
  ``per`` unit with a ``cap`` or by ``bands``;
- ``score``: ``base`` + Σ points, clamped to ``[min, max]``; ``direction`` says whether a higher score is better
  (the general public credit evaluation) or worse (demerit points, 记分);
- ``grades``: best first, each with its threshold, label and supervision intensity (the 双随机 sampling ratio);
- ``overrides``: rules that set the grade regardless of score (``grade``) or cap it (``max_grade``), e.g. an active
  serious black-list entry means D.

Every number here is data marked with its confidence; nothing in the engine hard-codes one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from xinyong.catalog.fields import record_kinds
from xinyong.core.errors import ValidationFailed

MODELS_DIR = Path(__file__).parent / "data" / "models"

#: The data an indicator can read, with what its value counts (the unit shown in explanations by default).
SOURCES: dict[str, str] = {
    "registered_years": "成立年限（周年）",
    "licences": "有效行政许可（件）",
    "penalties": "行政处罚（件，按时间衰减加权）",
    "list_entries": "名单条目（条）",
    "commitments_kept": "已履行的信用承诺（项）",
    "commitments_broken": "违诺的信用承诺（项，按时间衰减加权）",
    "repairs": "准予信用修复（次）",
    "complaints": "经查属实的举报（件）",
    "registry_status": "登记状态命中（是=1）",
    # Any information class with a data standard (issue #18): records of ``record_kinds``, optionally of some
    # ``domains`` only (or all but ``exclude_domains``: the record's 领域 / 类别, e.g. a spot check's 检查结果).
    "records": "信用记录（件，按时间衰减加权）",
}
#: Sources whose events carry a date, so a window or decay applies.
DATED_SOURCES = {
    "records",
    "penalties",
    "list_entries",
    "commitments_kept",
    "commitments_broken",
    "repairs",
    "complaints",
}
LIST_KINDS = ("red", "black", "abnormal", "debtor", "other")
Confidence = Literal["verified", "unverified", "low"]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LegalBasis(_Part):
    title: str
    article: str | None = None
    confidence: Confidence = "unverified"
    note: str | None = None


class PopulationRule(_Part):
    """One way a subject qualifies for a domain model (any one is enough)."""

    licence_from: list[str] = Field(default_factory=list, description="持有（曾持有）这些部门的行政许可")
    records_from: list[str] = Field(default_factory=list, description="有这些部门的许可或处罚记录")
    name_contains: list[str] = Field(default_factory=list, description="名称含有其中之一")
    org_types: list[str] = Field(default_factory=list, description="组织类型之一")

    @model_validator(mode="after")
    def _one(self) -> PopulationRule:
        if not (self.licence_from or self.records_from or self.name_contains or self.org_types):
            raise ValueError("适用范围条件不能为空")
        return self


class Population(_Part):
    kinds: list[Literal["legal_person", "individual_business", "natural_person"]] = Field(min_length=1)
    exclude_status: list[str] = Field(default_factory=list)
    any_of: list[PopulationRule] = Field(default_factory=list)


class DecayStep(_Part):
    """Events within ``months`` before the evaluation date (and after the previous step) count × ``factor``."""

    months: int = Field(gt=0, le=240)
    factor: float = Field(ge=0, le=1)


class Band(_Part):
    min: float
    points: float


class Indicator(_Part):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")
    name: str
    dimension: str
    source: str
    unit: str = "项"
    # Filters (each applies to the sources where it makes sense; checked below).
    departments: list[str] = Field(default_factory=list)
    severity: list[Literal["general", "serious"]] = Field(default_factory=list)
    penalty_types: list[str] = Field(default_factory=list)
    exclude_ended: bool = False
    list_kinds: list[Literal["red", "black", "abnormal", "debtor", "other"]] = Field(default_factory=list)
    list_codes: list[str] = Field(default_factory=list)
    in_force: bool = True
    statuses: list[str] = Field(default_factory=list)
    commitment_types: list[str] = Field(default_factory=list)
    record_kinds: list[str] = Field(default_factory=list)  # source records: the classes counted
    domains: list[str] = Field(default_factory=list)  # source records: only these 领域 / 类别
    exclude_domains: list[str] = Field(default_factory=list)  # source records: all but these
    in_effect: bool = False  # source records: only records still in effect (validity end not passed)
    # Time: a plain window (months) or step decay (the last step is the window).
    window_months: int | None = Field(None, gt=0, le=240)
    decay: list[DecayStep] = Field(default_factory=list)
    # Points: per unit with a cap, or bands (first band whose min ≤ value, best first).
    per: float | None = None
    cap: float | None = None
    bands: list[Band] = Field(default_factory=list)
    confidence: Confidence = "unverified"
    note: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Indicator:
        if self.source not in SOURCES:
            raise ValueError(f"未知的指标数据来源 {self.source!r}（可选：{', '.join(SOURCES)}）")
        if (self.per is None) == (not self.bands):
            raise ValueError("计分方式须二选一：per（每单位分值，可设 cap 上限）或 bands（分档）")
        if self.cap is not None and (self.per is None or self.cap * self.per < 0):
            raise ValueError("cap 须与 per 同号")
        if self.bands and [b.min for b in self.bands] != sorted((b.min for b in self.bands), reverse=True):
            raise ValueError("bands 须按 min 从大到小排列")
        if self.decay:
            months = [d.months for d in self.decay]
            if months != sorted(set(months)):
                raise ValueError("decay 的 months 须严格递增")
            if self.window_months is not None:
                raise ValueError("window_months 与 decay 只能二选一（decay 的最后一档即时间窗口）")
        timed = self.window_months is not None or bool(self.decay)
        if timed and self.source not in DATED_SOURCES:
            raise ValueError(f"数据来源 {self.source} 没有事件日期，不能设时间窗口或衰减")
        if self.source == "list_entries" and self.in_force and timed:
            raise ValueError(
                "名单条目按评价日是否有效计数（in_force: true）时不设时间窗口；统计历史条目请设 in_force: false"
            )
        if self.source == "records":
            if not self.record_kinds:
                raise ValueError("数据来源 records 须列出 record_kinds（信息类别代码）")
            unknown = [k for k in self.record_kinds if k not in record_kinds()]
            if unknown:
                raise ValueError(f"未知的信息类别 {unknown}（可选：{' / '.join(record_kinds())}）")
        if self.source == "registry_status" and not self.statuses:
            raise ValueError("registry_status 须列出 statuses")
        allowed = {
            "departments": {"licences", "penalties", "records"},
            "record_kinds": {"records"},
            "domains": {"records"},
            "exclude_domains": {"records"},
            "in_effect": {"records"},
            "severity": {"penalties"},
            "penalty_types": {"penalties"},
            "exclude_ended": {"penalties"},
            "list_kinds": {"list_entries"},
            "list_codes": {"list_entries"},
            "statuses": {"registry_status"},
            "commitment_types": {"commitments_kept", "commitments_broken"},
        }
        for name, sources in allowed.items():
            if getattr(self, name) and self.source not in sources:
                raise ValueError(f"{name} 不适用于数据来源 {self.source}")
        return self

    @property
    def steps(self) -> list[DecayStep]:
        """The time weighting as steps (a plain window is one step of factor 1; no window: none)."""
        if self.decay:
            return list(self.decay)
        if self.window_months is not None:
            return [DecayStep(months=self.window_months, factor=1.0)]
        return []


class Grade(_Part):
    code: str = Field(pattern=r"^[A-Z][A-Z0-9+-]{0,3}$")
    label: str
    threshold: float | None = Field(
        None, description="higher_better: 分数 ≥ threshold；lower_better: 分数 ≤ threshold；最后一档为空"
    )
    sampling_ratio: float = Field(ge=0, le=1, description="双随机抽查比例")
    supervision: str = Field(description="监管措施说明")


class Override(_Part):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")
    indicator: str
    min_value: float = Field(gt=0)
    grade: str | None = None
    max_grade: str | None = None
    text: str
    confidence: Confidence = "unverified"

    @model_validator(mode="after")
    def _one(self) -> Override:
        if (self.grade is None) == (self.max_grade is None):
            raise ValueError("修正规则须二选一：grade（直接判定）或 max_grade（最高等级）")
        return self


class Score(_Part):
    base: float = 0
    min: float = 0
    max: float = 100
    direction: Literal["higher_better", "lower_better"] = "higher_better"

    @model_validator(mode="after")
    def _range(self) -> Score:
        if not self.min <= self.base <= self.max:
            raise ValueError("须满足 min ≤ base ≤ max")
        return self


class Supervision(_Part):
    """Which subjects a department samples from: those holding its licences, or the whole graded population."""

    pool: Literal["licensees", "population"] = "population"
    note: str | None = None


class ModelSpec(_Part):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,59}$")
    version: str = Field(min_length=1, max_length=30)
    name: str
    domain: str
    description: str
    info_class: str = "evaluation"
    owner_department: str | None = None
    legal_basis: list[LegalBasis] = Field(default_factory=list)
    confidence: Confidence = "unverified"
    note: str | None = None
    population: Population
    score: Score
    indicators: list[Indicator] = Field(min_length=1)
    grades: list[Grade] = Field(min_length=2)
    overrides: list[Override] = Field(default_factory=list)
    supervision: Supervision = Supervision()

    @field_validator("name", "description")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("不能为空")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        codes = [i.code for i in self.indicators]
        if len(set(codes)) != len(codes):
            raise ValueError("指标代码重复")
        grades = [g.code for g in self.grades]
        if len(set(grades)) != len(grades):
            raise ValueError("等级代码重复")
        thresholds = [g.threshold for g in self.grades[:-1]]
        if any(t is None for t in thresholds) or self.grades[-1].threshold is not None:
            raise ValueError("除最后一档外每个等级须有 threshold，最后一档不设")
        ordered = sorted((t for t in thresholds if t is not None), reverse=self.score.direction == "higher_better")
        if thresholds != ordered or len(set(thresholds)) != len(thresholds):
            raise ValueError("等级须从最好到最差排列，阈值严格单调")
        for o in self.overrides:
            if o.indicator not in codes:
                raise ValueError(f"修正规则 {o.code} 引用了不存在的指标 {o.indicator}")
            if (o.grade or o.max_grade) not in grades:
                raise ValueError(f"修正规则 {o.code} 引用了不存在的等级 {o.grade or o.max_grade}")
        return self

    def grade_rank(self, code: str) -> int:
        return [g.code for g in self.grades].index(code)

    def grade(self, code: str) -> Grade:
        return self.grades[self.grade_rank(code)]

    def indicator(self, code: str) -> Indicator:
        for i in self.indicators:
            if i.code == code:
                return i
        raise KeyError(code)

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    def digest(self) -> str:
        """SHA-256 of the canonical content: the same version must never change content."""
        text = json.dumps(self.dump(), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


# Loading -------------------------------------------------------------------------------------------------------


def _reason(err: Any) -> str:
    loc = ".".join(str(p) for p in err["loc"])
    return f"{loc}: {err['msg']}" if loc else err["msg"]


def parse_model(data: Any, *, origin: str = "评价模型") -> ModelSpec:
    try:
        return ModelSpec.model_validate(data)
    except ValidationError as exc:
        problems = [_reason(e) for e in exc.errors()]
        raise ValidationFailed(
            f"{origin}无效：{'；'.join(problems[:5])}", code="evaluation_model_invalid", details={"problems": problems}
        ) from None


def load_model_file(path: Path | str) -> ModelSpec:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationFailed(f"无法读取评价模型文件 {path.name}：{exc}", code="evaluation_model_unreadable") from None
    return parse_model(data, origin=f"评价模型文件 {path.name} ")


def shipped_models(directory: Path | str | None = None) -> list[ModelSpec]:
    """The models shipped as data (sorted by file name)."""
    return [load_model_file(p) for p in sorted(Path(directory or MODELS_DIR).glob("*.yaml"))]


# Chinese text of the rules (explanations) -----------------------------------------------------------------------


def _num(x: float) -> str:
    return f"{x:g}"


def _signed(x: float) -> str:
    return f"{x:+g}"


def _span(months: int) -> str:
    return f"{months // 12}年" if months % 12 == 0 else f"{months}个月"


def describe_time(ind: Indicator) -> str:
    steps = ind.steps
    if not steps:
        return ""
    if len(steps) == 1 and steps[0].factor == 1:
        return f"近{_span(steps[0].months)}内"
    parts, previous = [], 0
    for s in steps:
        span = f"{_span(s.months)}内" if previous == 0 else f"{_span(previous)}至{_span(s.months)}"
        parts.append(f"{span}×{_num(s.factor)}")
        previous = s.months
    return "按时间衰减：" + "，".join(parts) + f"；{_span(previous)}以前不计"


def describe_points(ind: Indicator) -> str:
    if ind.bands:
        return "；".join(f"≥{_num(b.min)}{ind.unit} {_signed(b.points)}分" for b in ind.bands) + "；其余 0分"
    assert ind.per is not None
    text = f"每{ind.unit} {_signed(ind.per)}分"
    if ind.cap is not None:
        text += f"，累计不超过 {_signed(ind.cap)}分"
    return text


def describe_rule(ind: Indicator) -> str:
    """The indicator's rule in one Chinese line, as shown to the subject and in court."""
    parts = [p for p in (describe_time(ind), describe_points(ind)) if p]
    return "；".join(parts)


def describe_grades(spec: ModelSpec) -> list[str]:
    sign = "≥" if spec.score.direction == "higher_better" else "≤"
    out = []
    for g in spec.grades:
        cond = f"分数{sign}{_num(g.threshold)}" if g.threshold is not None else "其余"
        out.append(f"{g.code}（{g.label}）：{cond}；抽查比例 {g.sampling_ratio:.0%}；{g.supervision}")
    return out
