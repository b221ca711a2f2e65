"""Pydantic models of 信易贷 requests and answers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from xinyong.core.bounds import Id


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OnlineAuthorisationIn(_In):
    challenge: str = Field(min_length=1, max_length=40, description="发送验证码时返回的凭据（用途 financing）")
    code: str = Field(min_length=1, max_length=12, description="收到的验证码")
    institution: str = Field(min_length=1, max_length=32, description="金融机构代码")
    scope: list[str] = Field(min_length=1, max_length=30, description="授权查询的信息类别代码")
    days: int = Field(90, ge=1, le=366, description="授权期限（天）")
    purpose: str = Field("融资授信", min_length=1, max_length=200)


class PublicRevokeIn(_In):
    challenge: str = Field(min_length=1, max_length=40)
    code: str = Field(min_length=1, max_length=12)
    reason: str | None = Field(None, max_length=500)


class RevokeIn(_In):
    reason: str = Field(min_length=1, max_length=500)


class FeedbackIn(_In):
    authorisation_id: Id
    outcome: Literal["granted", "declined"]
    amount_yuan: Decimal | None = Field(
        None, gt=0, lt=Decimal("1e14"), max_digits=16, decimal_places=2, description="放款金额（元）"
    )
    rate_band: Literal["below_lpr", "lpr", "lpr_plus_50", "lpr_plus_150", "above"] | None = None
    reference: str | None = Field(None, max_length=100, description="机构内部业务编号")


class AuthorisationOut(BaseModel):
    id: int
    subject_id: int
    subject_name: str | None
    subject_code: str | None
    institution: str | None
    institution_name: str | None
    scope: list[str]
    purpose: str
    starts_at: dt.datetime
    expires_at: dt.datetime
    method: str
    method_label: str
    document_sha256: str | None
    status: str
    status_label: str
    revoked_at: dt.datetime | None
    revoked_reason: str | None
    created_at: dt.datetime


class FeedbackOut(BaseModel):
    id: int
    authorisation_id: int
    outcome: str
    outcome_label: str
    amount_yuan: str | None
    rate_band: str | None
    rate_band_label: str | None
    reference: str | None
    created_at: dt.datetime


class ProfileOut(BaseModel):
    subject: dict[str, Any]
    institution: str
    purpose: str
    authorisations: list[dict[str, Any]]
    classes: list[str]
    sections: dict[str, Any]
    as_of: dt.datetime
