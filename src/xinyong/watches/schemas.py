"""Request and response bodies of the `watches` API. A receiver's secret appears only in the answers to its
creation and to a rotation (``ReceiverCreated``); no response carries a clear personal ID."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from xinyong.core.bounds import Id


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ReceiverIn(_In):
    name: str = Field(description="接收端名称，如 工程建设项目审批系统")
    url: str = Field(description="推送地址（http:// 或 https://，建议 https）")
    department_id: Id | None = Field(None, description="所属部门；部门角色可省略（即本部门），平台管理员必填")
    event_types: list[str] = Field(
        default_factory=list, description="只接收这些事件类型（如 list.entered）；空表示全部"
    )
    reason: str | None = Field(None, description="原因（记入审计日志）")


class ReasonIn(_In):
    reason: str | None = Field(None, description="原因（记入审计日志）")


class ReceiverOut(_Out):
    id: int
    name: str
    department_id: int
    url: str
    secret_prefix: str = Field(description="当前签名密钥的前几位，用于核对接收端持有的是哪一个密钥")
    event_types: list[str]
    active: bool
    created_by: str
    created_at: dt.datetime
    secret_rotated_at: dt.datetime | None
    deactivated_at: dt.datetime | None


class ReceiverCreated(ReceiverOut):
    secret: str = Field(description="签名密钥明文：只显示这一次，请立即保存到接收端")


class SubjectsIn(_In):
    receiver_id: Id
    codes: list[str] = Field(description="主体代码：统一社会信用代码、居民身份证号码或旧代码，一次最多 10000 个")
    reason: str | None = None


class CodeItemOut(BaseModel):
    index: int = Field(description="在请求 codes 中的位置（从0开始）")
    code: str = Field(description="所提交的代码（身份证号码已脱敏）")
    subject_id: int | None
    status: str = Field(description="added · already · duplicate · removed · not_watched · not_found · invalid")
    message: str | None = None


class SubjectsResult(BaseModel):
    receiver_id: int
    summary: dict[str, int]
    items: list[CodeItemOut]


class WatchedSubjectOut(BaseModel):
    subject_id: int
    kind: str
    name: str
    uscc: str | None
    resident_id_masked: str | None
    watched_since: dt.datetime


class WatchedPage(BaseModel):
    receiver_id: int
    total: int
    offset: int
    limit: int
    items: list[WatchedSubjectOut]


class DeliveryOut(BaseModel):
    id: int
    receiver_id: int
    event_id: str = Field(description="事件编号（X-Xinyong-Event-Id）")
    event_type: str
    subject_id: int
    status: str = Field(description="pending 待发送 · delivered 已确认 · dead 已放弃")
    attempts: int
    next_attempt_at: dt.datetime
    last_attempt_at: dt.datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: dt.datetime | None
    created_at: dt.datetime

    @classmethod
    def of(cls, d: Any) -> DeliveryOut:
        return cls(
            id=d.id,
            receiver_id=d.receiver_id,
            event_id=d.event.uid,
            event_type=d.event.event_type,
            subject_id=d.event.subject_id,
            status=d.status,
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at,
            last_attempt_at=d.last_attempt_at,
            last_status_code=d.last_status_code,
            last_error=d.last_error,
            delivered_at=d.delivered_at,
            created_at=d.created_at,
        )


class DeliveryPage(BaseModel):
    total: int
    offset: int
    limit: int
    items: list[DeliveryOut]
