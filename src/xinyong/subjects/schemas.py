"""Input and output shapes of the subject registry API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class AliasOut(BaseModel):
    scheme: str
    value: str


class NameOut(BaseModel):
    name: str
    from_: str = Field(alias="from")
    to: str | None = None

    model_config = {"populate_by_name": True}


class SubjectOut(BaseModel):
    id: int
    kind: str
    kind_label: str
    org_type: str | None = None
    org_type_label: str | None = None
    name: str
    uscc: str | None = None
    uscc_flagged: bool = False
    resident_id: str | None = Field(None, description="自然人身份证号码（已脱敏）")
    region_code: str | None = None
    legal_rep: str | None = None
    registered_on: str | None = None
    status: str | None = None
    address: str | None = None
    registration_authority: str | None = None
    profession: str | None = None
    source: str | None = None
    aliases: list[AliasOut] = []
    names: list[NameOut] = []


class OrganisationIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    uscc: str = Field(min_length=1, max_length=40)
    legal_rep: str | None = Field(None, max_length=100)
    reason: str | None = Field(None, max_length=500)


class PersonIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    resident_id: str = Field(min_length=15, max_length=20)
    profession: str | None = Field(None, max_length=40)
    reason: str | None = Field(None, max_length=500)


class ImportReportOut(BaseModel):
    import_id: int
    file: str
    rows: int
    created: int
    updated: int
    renamed: int
    converted: int
    unchanged: int
    rejected: int
    duplicate_rows: int
    problem_counts: dict[str, int]
    problems: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    duplicates: list[dict[str, Any]]
    without_uscc: dict[str, Any]
    uscc_conversion_rate: float | None
    unknown_columns: list[str]
