"""Output and input shapes of the records API. The public shape carries no internal field."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field


class PublicRecordOut(BaseModel):
    """A record as the public sees it: the decision, and the party (a person's name and ID masked)."""

    id: int
    kind: str
    doc_no: str
    authority: str
    decision_date: dt.date
    penalty_types: list[str] = []
    fine_yuan: str | None = None
    licence_valid_from: dt.date | None = None
    licence_valid_to: dt.date | None = None
    party_kind: str
    party_name: str
    party_uscc: str | None = None
    party_id: str | None = Field(None, description="自然人证件号码（已脱敏）")
    status_reason: str
    objection: str | None = Field(None, description="有未办结的异议时为“异议处理中”")
    class_name: str | None = Field(None, description="其他信息类别（issue #18）：类别名称")
    fields: list[dict[str, str]] | None = Field(
        None, description="其他信息类别：数据标准中可向社会公开的字段（key、label、value）"
    )


class RecordSubjectOut(BaseModel):
    id: int
    name: str
    uscc: str | None = None
    resident_id: str | None = Field(None, description="自然人身份证号码（已脱敏）")


class RecordOut(BaseModel):
    """The department view: provenance, timeliness, versions and the publicity of the day."""

    id: int
    kind: str
    doc_no: str
    doc_no_norm: str
    authority: str
    authority_uscc: str
    decision_date: dt.date
    severity: str
    penalty_types: list[str]
    fine_yuan: str | None = None
    licence_valid_from: dt.date | None = None
    licence_valid_to: dt.date | None = None
    party_kind: str
    party_name: str
    subject: RecordSubjectOut
    department_id: int
    current_version_id: int | None
    versions: int
    received_at: dt.datetime
    workdays_late: int
    late: bool
    withdrawn_at: dt.datetime | None = None
    withdrawn_reason: str | None = None
    ended_on: dt.date | None = None
    objection: str | None = Field(None, description="有未办结的异议时为“异议处理中”")
    public: bool
    status: str
    status_reason: str
    created_at: dt.datetime
    updated_at: dt.datetime


class VersionOut(BaseModel):
    id: int
    version_no: int
    content_hash: str
    content: dict[str, Any]
    data: dict[str, Any]
    extra: dict[str, Any]
    flags: list[dict[str, Any]]
    changed_fields: list[str]
    batch_id: int | None = None
    source_row: int | None = None
    department_id: int
    received_at: dt.datetime
    actor: str


class WithdrawIn(BaseModel):
    reason: str = Field(min_length=1, max_length=1000, description="撤回原因（如：处罚决定已被撤销）")
