"""Request and response bodies of the cases API."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from xinyong.core.bounds import Id, Revision

TargetType = Literal["record", "list_entry"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VerificationIn(_In):
    subject: str = Field(min_length=1, max_length=40, description="统一社会信用代码、其他登记代码或身份证号")
    purpose: Literal["objection", "repair", "financing", "access_log"]


class VerificationOut(BaseModel):
    challenge: str
    channel: str
    address: str = Field(description="验证码发送到的已登记联系方式（脱敏）")
    expires_at: dt.datetime


class _Verified(_In):
    challenge: str = Field(min_length=1, max_length=40)
    code: str = Field(min_length=4, max_length=10)


class PublicObjectionIn(_Verified):
    target_type: TargetType
    target_id: Id
    facts: str = Field(min_length=1, max_length=4000, description="异议的事实与理由")
    applicant_name: str = Field(min_length=1, max_length=100)


class PublicRepairIn(_Verified):
    target_type: TargetType
    target_id: Id
    facts: str = Field(min_length=1, max_length=4000, description="纠正失信行为、履行义务的情况")
    applicant_name: str = Field(min_length=1, max_length=100)
    obligations_fulfilled: bool
    commitment_signed: bool = Field(description="签署信用承诺书")


class ComplaintIn(_In):
    subject: str | None = Field(None, max_length=40, description="被举报主体的代码（可选）")
    subject_name: str | None = Field(None, max_length=200)
    department: str | None = Field(None, max_length=32, description="主管部门代码（可选，留空由信用办转交）")
    facts: str = Field(min_length=1, max_length=4000)
    anonymous: bool = False
    reporter_name: str | None = Field(None, max_length=100)
    reporter_channel: Literal["sms", "email"] | None = None
    reporter_address: str | None = Field(None, max_length=200)


class ObjectionIn(_In):
    target_type: TargetType
    target_id: Id
    facts: str = Field(min_length=1, max_length=4000)
    applicant_name: str | None = Field(None, max_length=100)


class RepairIn(_In):
    target_type: TargetType
    target_id: Id
    facts: str = Field(min_length=1, max_length=4000)
    applicant_name: str | None = Field(None, max_length=100)
    obligations_fulfilled: bool
    commitment_signed: bool


class ActionIn(_In):
    reason: str | None = Field(None, max_length=4000)
    outcome: str | None = Field(None, max_length=30)
    version: Revision | None = Field(None, description="您看到的案件版本；案件已被他人改动时返回 409")
    correction: Literal["withdraw", "correct", "none"] | None = None
    changes: dict[str, Any] | None = None
    false_materials: bool = False
    department: str | None = Field(None, max_length=32)

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.correction is not None:
            out["correction"] = self.correction
        if self.changes is not None:
            out["changes"] = self.changes
        if self.false_materials:
            out["false_materials"] = True
        if self.department is not None:
            out["department"] = self.department
        return out


class WithdrawIn(_In):
    reason: str = Field(min_length=1, max_length=2000)


class ContactIn(_In):
    channel: Literal["sms", "email"]
    address: str = Field(min_length=3, max_length=200)
    source: str = Field("部门登记", max_length=200)


class DocumentOut(BaseModel):
    id: int
    kind: str
    filename: str
    media_type: str
    size: int
    sha256: str
    created_at: dt.datetime


class CaseOut(BaseModel):
    id: int
    case_no: str
    kind: str
    kind_label: str
    state: str
    state_label: str
    open: bool
    version: int
    target_type: str
    target_id: int | None
    subject: dict[str, Any] | None
    department: dict[str, Any] | None
    filed_via: str
    anonymous: bool
    facts: str
    opened_on: dt.date
    due_on: dt.date | None
    overdue: bool
    escalated: bool
    closed_on: dt.date | None
    closed_late: bool | None
    outcome: str | None
    outcome_label: str | None
    outcome_reason: str | None
    bar_until: dt.date | None
    data: dict[str, Any]
    actions: list[str]
    documents: list[DocumentOut]
    applicant: dict[str, Any] | None


class FiledOut(BaseModel):
    case: CaseOut
    access_token: str = Field(description="查询凭证：仅此一次显示，凭案件编号和凭证查询进度、补充材料")


class EventOut(BaseModel):
    id: int
    action: str
    from_state: str | None
    to_state: str | None
    actor: str | None = None
    reason: str | None
    due_on: dt.date | None
    data: dict[str, Any] | None = None
    at: dt.datetime


class PublicCaseOut(BaseModel):
    case: CaseOut
    events: list[EventOut]


class StatOut(BaseModel):
    department: dict[str, Any] | None
    kind: str
    filed: int
    open: int
    closed: int
    overdue_open: int
    closed_late: int
    overdue: int
    overdue_rate: float
    mean_workdays: float | None
    max_workdays: int | None


class NotificationOut(BaseModel):
    id: int
    case_id: int | None
    channel: str
    recipient_kind: str
    address: str
    title: str
    body: str
    status: str
    attempts: int
    last_error: str | None
    created_at: dt.datetime
    sent_at: dt.datetime | None
