"""Input and output shapes of the collection API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from xinyong.core.batches import BatchOutBase


class PushIn(BaseModel):
    """An API push: rows keyed by the standard's column names (Chinese, coded CF_*/XK_*, or legacy 2016)."""

    # penalty / licence (双公示), or another information class with a data standard (issue #18):
    # honour, judicial, qualification, contract, tax_arrears, social_insurance, annual_report, spot_check …
    kind: str = Field(pattern=r"^[a-z][a-z0-9_]{1,31}$")
    rows: list[dict[str, Any]] = Field(min_length=1, max_length=10_000)
    reject_all_on_error: bool = False


class BatchOut(BatchOutBase):
    kind: str
    standard: str | None
    encoding: str | None
    withdrawn: int
    late: int
    name_mismatches: int
    error_counts: dict[str, int]
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
