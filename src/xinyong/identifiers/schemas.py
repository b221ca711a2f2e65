"""Pydantic models of the identifiers API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class IssueOut(BaseModel):
    code: str = Field(description="稳定的机器可读代码，如 uscc_check_digit")
    message: str = Field(description="中文说明，指明出错的位置与字符")


class CodeCheckOut(BaseModel):
    """One code's check. Personal ID numbers are masked (first 6 and last 4 at most; no birth date)."""

    kind: Literal["uscc", "org_code", "resident_id", "unknown"]
    input: str
    normalized: str | None
    valid: bool
    errors: list[IssueOut]
    warnings: list[IssueOut]
    details: dict[str, Any]
    masked: bool = Field(description="是否已对可能的个人身份证件号码作遮蔽处理")
