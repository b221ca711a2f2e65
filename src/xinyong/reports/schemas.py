"""Request and response bodies of the credit-report API."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field


class ReportRequestIn(BaseModel):
    subject: str = Field(..., min_length=1, max_length=60, description="统一社会信用代码（或本人身份证号码）")
    # A natural person: the challenge and the code sent to the registered contact (POST /reports/verifications).
    challenge: str | None = Field(None, max_length=60)
    code: str | None = Field(None, max_length=12)
    # An official printing a person's report at a service window (admin only): why, e.g. the ID card checked.
    reason: str | None = Field(None, max_length=200)


class PersonVerificationIn(BaseModel):
    subject: str = Field(..., min_length=1, max_length=60, description="本人身份证号码")


class PersonVerificationOut(BaseModel):
    challenge: str
    channel: str
    address: str
    expires_at: dt.datetime


class ReportSummaryOut(BaseModel):
    number: str
    short_code: str
    subject_name: str
    subject_code: str | None
    subject_kind: str
    subject_kind_label: str
    issued_at: dt.datetime
    as_of: dt.datetime
    sha256: str
    size: int
    pages: int
    sections: dict[str, Any]


class VerificationResultOut(BaseModel):
    status: Literal["registered", "valid", "mismatch", "not_found", "unknown_file"]
    valid: bool | None
    message: str
    report: ReportSummaryOut | None
    file_sha256: str | None
