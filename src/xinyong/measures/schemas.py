"""Input and output shapes of the measures catalogue and the credit check API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from xinyong.core.bounds import Id
from xinyong.evaluation.schemas import GradeBrief


class SubjectQueryIn(BaseModel):
    """A subject: its code (USCC, legacy code, resident ID), or its name with the region (6-digit code)."""

    code: str | None = Field(None, max_length=60, description="统一社会信用代码、组织机构代码、注册号或居民身份证号码")
    name: str | None = Field(None, max_length=200, description="名称或姓名（无代码时按名称查找候选主体）")
    region: str | None = Field(None, max_length=12, description="6位行政区划代码（按名称查询时）")
    kind: str | None = Field(None, max_length=30, description="legal_person / individual_business / natural_person")


class CheckIn(BaseModel):
    scenario: str = Field(
        max_length=30, description="approval procurement trading funding subsidy honour hiring general"
    )
    subjects: list[SubjectQueryIn] = Field(min_length=1, description="最多10,000个")
    reference: str | None = Field(None, max_length=200, description="本系统的业务编号（办件编号），可选")


class ReasonOut(BaseModel):
    entry_id: int
    list_type: str | None
    list_name: str
    listed_on: str | None
    term_end: str | None
    authority: str
    text: str


class RecordReasonOut(BaseModel):
    """A credit record that triggered the measure (triggers.records): which decision, by whom, when, what."""

    record_id: int
    kind: str
    doc_no: str = Field(description="决定文书号")
    authority: str = Field(description="作出决定的机关")
    decision_date: str
    penalty_types: list[str]
    fine_wan: str | None = Field(None, description="罚款金额（万元）")
    rule: str = Field(description="触发条件")
    text: str


class RecordOut(BaseModel):
    id: int
    kind: str
    doc_no: str
    authority: str
    decision_date: str
    penalty_types: list[str]
    fine_wan: str | None
    severity: str
    repaired: bool = Field(description="已信用修复（只在措施含已修复记录时出现）")


class _MeasureText(BaseModel):
    """What a measure says, as the list of measures and a check's answer both show it first."""

    code: str
    kind: str
    kind_label: str
    category: str
    category_label: str
    title: str
    content: str


class RelatedReasonOut(BaseModel):
    """An organisation's list entry that reaches the person checked through a role held there (extends_to)."""

    related_id: int
    role: str = Field(description="legal_rep / principal / director / supervisor / senior_manager")
    role_label: str
    company: dict[str, Any] = Field(description="单位：id、名称、统一社会信用代码、类别")
    entry_id: int
    list_type: str | None
    list_name: str
    listed_on: str | None
    term_end: str | None
    authority: str
    objection: str | None = None
    text: str


class MeasureAnswerOut(_MeasureText):
    department: str
    mandatory: bool
    confidence: str
    legal_basis: list[dict[str, Any]]
    memorandum: dict[str, Any]
    reasons: list[ReasonOut]
    record_reasons: list[RecordReasonOut] = Field(
        default_factory=list, description="触发该措施的信用记录（按记录触发的措施）"
    )
    record_legal_basis: list[dict[str, Any]] = Field(default_factory=list, description="按信用记录触发该措施的法律依据")
    related_reasons: list[RelatedReasonOut] = Field(
        default_factory=list, description="自然人因在失信单位担任职务而适用该措施：单位、职务、名单记录"
    )
    related_legal_basis: list[dict[str, Any]] = Field(
        default_factory=list, description="措施延伸至关联人员（法定代表人等）的法律依据"
    )


class EntryOut(BaseModel):
    id: int
    list_type: str | None
    list_name: str | None
    list_kind: str | None
    authority: str
    decision_no: str | None
    listed_on: str | None
    term_end: str | None
    reason: str
    legal_basis: str
    objection: str | None = Field(None, description="该名单记录有未办结的异议时为“异议处理中”（仍然有效）")


class CheckResultOut(BaseModel):
    item_id: int
    position: int
    query: dict[str, Any]
    outcome: str = Field(description="matched / candidates / not_found / invalid")
    reason: str | None
    warnings: list[str]
    subject: dict[str, Any] | None
    candidates: list[dict[str, Any]]
    entries: list[EntryOut]
    records: list[RecordOut] = Field(default_factory=list, description="触发措施的信用记录（行政处罚等）")
    related: list[dict[str, Any]] = Field(
        default_factory=list, description="自然人现任职务且有有效名单记录的单位（关联人员）"
    )
    measures: list[MeasureAnswerOut]
    conclusion: str
    grades: list[GradeBrief] = Field(
        default_factory=list, description="主体当前信用评价等级（信用信息目录允许调用方查看时）"
    )


class CheckOut(BaseModel):
    check_id: int
    scenario: str
    scenario_label: str
    checked_on: str
    checked_at: str
    reference: str | None
    summary: dict[str, int]
    results: list[CheckResultOut]


class CheckRecordOut(BaseModel):
    id: int
    at: str
    checked_on: str
    actor: str
    role: str | None
    department_id: int | None
    system: str
    reference: str | None
    scenario: str
    subject_count: int
    with_measures: bool
    summary: dict[str, Any]


class CheckDetailOut(CheckRecordOut):
    items: list[dict[str, Any]]
    measures: dict[str, Any]


class FeedbackItemIn(BaseModel):
    item_id: Id | None = Field(None, description="核查结果中的 item_id（只有一个主体适用措施时可省略）")
    measure_code: str = Field(max_length=60)
    applied: bool
    reason: str | None = Field(None, max_length=2000, description="未实施时必须说明原因")


class FeedbackIn(BaseModel):
    items: list[FeedbackItemIn] = Field(min_length=1, max_length=100_000)


class FeedbackOut(BaseModel):
    check_id: int
    recorded: int


class FeedbackRateOut(BaseModel):
    department_id: int | None
    department_code: str | None
    department_name: str
    checks: int
    checks_with_measures: int
    checks_with_feedback: int
    rate: float | None


class ScenarioOut(BaseModel):
    code: str
    label: str


class MeasureOut(_MeasureText):
    legal_basis: list[dict[str, Any]]
    department: str
    scenarios: list[str]
    list_types: list[str]
    triggers: dict[str, Any] | None = None
    extends_to: dict[str, Any] | None = Field(None, description="延伸至关联人员：职务、依据、是否仅关联人员")
    record_rule: str | None = Field(None, description="按信用记录触发的条件（文字）")
    mandatory: bool
    party_kinds: list[str]
    confidence: str
    note: str
    active: bool
    active_reason: str | None
    memorandum: dict[str, Any]


class MemorandumOut(BaseModel):
    code: str
    kind: str
    kind_label: str
    title: str
    doc_no: str | None
    issued_on: str | None
    issuers: list[str]
    url: str | None
    confidence: str
    note: str
    measure_count: int | None = None


class ActiveIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)
