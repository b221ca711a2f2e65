"""Input and output shapes of the commitments API. The public shape carries no provenance and no clear ID."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from xinyong.commitments.models import CommitmentType, FulfilmentStatus, PublicType
from xinyong.core.batches import BatchOutBase
from xinyong.core.bounds import Revision


class PushIn(BaseModel):
    """An API push: rows keyed by the standard's Chinese column names (承诺编码 …) or snake_case keys."""

    rows: list[dict[str, Any]] = Field(min_length=1, max_length=10_000)
    reject_all_on_error: bool = False


class FulfilmentIn(BaseModel):
    """A determination of fulfilment (践诺) by the accepting department."""

    status: str = Field(
        ..., max_length=20, description="全部履行 / 部分履行 / 全部未履行（或 fulfilled / partial / unfulfilled）"
    )
    determined_on: dt.date | None = Field(None, description="履行状态认定日期（缺省为今天）")
    determined_by: str | None = Field(None, max_length=200, description="履行状态认定单位")
    determined_by_code: str | None = Field(None, max_length=40, description="履行状态认定单位统一社会信用代码")
    unfulfilled_content: str | None = Field(None, max_length=4000, description="未履行的承诺内容")
    liability_pursued: str | None = Field(None, max_length=4000, description="违诺责任追究内容")
    expected_revision: Revision | None = Field(None, description="读取时的 revision（并发修改时返回 409）")
    note: str | None = Field(None, max_length=2000, description="说明")
    list_code: str | None = Field(None, max_length=60, description="因违诺申请列入的名单代码（按名单规则告知、列入）")


class BatchOut(BatchOutBase):
    broken: int
    issue_counts: dict[str, int]
    rejected_rows: list[int]
    warnings: list[dict[str, Any]]
    outcomes: list[dict[str, Any]]


class SubjectRef(BaseModel):
    id: int
    name: str
    kind: str
    uscc: str | None = None
    resident_id: str | None = Field(None, description="自然人身份证号码（已脱敏）")


class _Common(BaseModel):
    id: int
    code: str
    promisor_name: str
    promisor_kind: str
    promisor_code: str
    commitment_type: str
    commitment_type_label: str
    reason: str
    content: str
    liability: str
    made_on: dt.date
    valid_until: dt.date | None = None
    fulfilment_status: str
    fulfilment_status_label: str
    unfulfilled_content: str | None = None
    liability_pursued: str | None = None
    determined_on: dt.date | None = None
    determined_by: str | None = None
    accepting_unit: str
    broken: bool


class PublicCommitmentOut(_Common):
    """A commitment as the public sees it (a person's name and ID masked)."""

    status_reason: str


class FulfilmentOut(BaseModel):
    id: int
    status: str
    status_label: str
    previous_status: str
    breach: bool
    determined_on: dt.date | None = None
    determined_by: str | None = None
    determined_by_code: str | None = None
    unfulfilled_content: str | None = None
    liability_pursued: str | None = None
    source: str
    batch_id: int | None = None
    note: str | None = None
    list_code: str | None = None
    list_entry_id: int | None = None
    actor: str
    at: dt.datetime


class VersionOut(BaseModel):
    version_no: int
    content_hash: str
    content: dict[str, Any]
    changed_fields: list[str]
    warnings: list[dict[str, Any]]
    batch_id: int | None = None
    source_row: int | None = None
    department_id: int
    actor: str
    received_at: dt.datetime


class CommitmentOut(_Common):
    """The government view: provenance, revision, publicity of the day."""

    department_id: int
    subject: SubjectRef
    determined_by_code: str | None = None
    accepting_unit_code: str
    public_type: str
    public_type_label: str
    remarks: str | None = None
    broken_on: dt.date | None = None
    list_entry_id: int | None = None
    versions: int
    revision: int
    batch_id: int | None = None
    source_row: int | None = None
    actor: str
    received_at: dt.datetime
    created_at: dt.datetime
    updated_at: dt.datetime
    public: bool | None = None
    public_reason: str | None = None


class CommitmentDetailOut(CommitmentOut):
    history: list[VersionOut] = []
    fulfilments: list[FulfilmentOut] = []


class SubjectCommitmentOut(CommitmentOut):
    fulfilments: list[FulfilmentOut] = []


# Query filters: the models' vocabularies.
TypeFilter = CommitmentType
StatusFilter = FulfilmentStatus
PublicTypeFilter = PublicType
