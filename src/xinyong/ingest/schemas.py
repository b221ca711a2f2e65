"""Input and output shapes of the collection API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class PushIn(BaseModel):
    """An API push: rows keyed by the standard's column names (Chinese, coded CF_*/XK_*, or legacy 2016)."""

    # penalty / licence (双公示), or another information class with a data standard (issue #18):
    # honour, judicial, qualification, contract, tax_arrears, social_insurance, annual_report, spot_check …
    kind: str = Field(pattern=r"^[a-z][a-z0-9_]{1,31}$")
    rows: list[dict[str, Any]] = Field(min_length=1, max_length=10_000)
    reject_all_on_error: bool = False


class BatchOut(BaseModel):
    batch: int
    department_id: int
    kind: str
    channel: str
    file: str | None
    sha256: str
    format: str | None
    standard: str | None
    encoding: str | None
    mode: str
    status: str
    received_at: str | None
    rows: int
    accepted: int
    created: int
    updated: int
    unchanged: int
    withdrawn: int
    rejected: int
    late: int
    subjects_created: int
    name_mismatches: int
    error_counts: dict[str, int]
    unknown_columns: list[str]
    errors: list[dict[str, Any]]
    duplicate_of: int | None = None
    #: True when the file had been submitted before: nothing was written (every count of what was written is 0)
    #: and ``batch``/``duplicate_of`` name the original batch.
    duplicate: bool = False


class TimelinessOut(BaseModel):
    department: str
    name: str
    batches: int
    rows: int
    accepted: int
    late: int
    late_rate: float | None
    rejected: int
    rejection_rate: float | None
