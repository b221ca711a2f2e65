"""Shapes of `lists`: the list-type seed file (validated whole before anything is written) and the API's bodies.

:class:`ListTypeSpec` / :class:`ListTypesFile` validate ``lists/data/list_types.yaml`` (or an operator's own file):
known kind, party kinds and removal reasons, a maximum term not below the default term, a notice period for every
type that requires notice, unique codes. The API shapes follow; the public entry shape carries no internal field.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from xinyong.catalog.rules import Confidence, PartyKind
from xinyong.catalog.spec import LegalBasis
from xinyong.core.bounds import Revision
from xinyong.lists.models import ListKind, RemovalReason, Stage

CODE_PATTERN = r"^[a-z][a-z0-9_]{1,59}$"


# The seed file ---------------------------------------------------------------------------------------------------


class RemovalRule(BaseModel):
    """When and how an entry leaves the list (``min_months``: earliest removal for that reason after listing)."""

    model_config = ConfigDict(extra="forbid")

    reason: RemovalReason
    text: str = Field(min_length=1)
    min_months: int | None = Field(None, ge=1, le=120)
    confidence: Confidence | None = None
    note: str | None = None


class ListTypeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=CODE_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    kind: ListKind
    domain: str = Field(min_length=1, max_length=40)
    authority: str = Field(min_length=1, max_length=200)
    # The kind of department that owns the list (catalog.yaml ``department_kinds``; checked against the catalog
    # when seeding). Stored in ``params`` (no column of its own).
    owner_department_kind: str | None = Field(None, pattern=CODE_PATTERN)
    info_class: str = Field(min_length=1, max_length=60)
    legal_basis: list[LegalBasis] = Field(min_length=1)
    term_months: int | None = Field(None, ge=1, le=240)
    max_term_months: int | None = Field(None, ge=1, le=240)
    requires_notice: bool = False
    notice_workdays: int | None = Field(None, ge=1, le=60)
    removal_rules: list[RemovalRule] = Field(default_factory=list)
    party_kinds: list[PartyKind] = Field(min_length=1)
    external: bool = False
    managing_departments: list[str] = Field(default_factory=list)
    sync_format: str | None = Field(None, max_length=40)
    params: dict[str, Any] = Field(default_factory=dict)
    confidence: Confidence = "unverified"
    note: str = ""
    sort_order: int = 0
    active: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> ListTypeSpec:
        if (
            self.term_months is not None
            and self.max_term_months is not None
            and self.max_term_months < self.term_months
        ):
            raise ValueError(f"max_term_months（{self.max_term_months}）不能小于 term_months（{self.term_months}）")
        if self.requires_notice and not self.notice_workdays:
            raise ValueError("requires_notice 为 true 时必须给出 notice_workdays（告知后陈述申辩的工作日数）")
        if not self.requires_notice and self.notice_workdays:
            raise ValueError("requires_notice 为 false 时不应给出 notice_workdays")
        if len(set(self.party_kinds)) != len(self.party_kinds):
            raise ValueError("party_kinds 有重复项")
        if "owner_department_kind" in self.params:
            raise ValueError("owner_department_kind 应写在名单类型的顶层，不要写在 params 中")
        return self

    def dump(self) -> dict[str, Any]:
        """The stored form (JSON-safe, as the columns of :class:`~xinyong.lists.models.ListType` hold it)."""
        data = self.model_dump(mode="json")
        owner = data.pop("owner_department_kind")
        if owner:
            data["params"] = {**data["params"], "owner_department_kind": owner}
        data["legal_basis"] = [
            LegalBasis.model_validate(b).model_dump(mode="json", exclude_none=True) for b in self.legal_basis
        ]
        data["removal_rules"] = [r.model_dump(mode="json", exclude_none=True) for r in self.removal_rules]
        return data


class ListTypesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    types: list[ListTypeSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> ListTypesFile:
        twice = [c for c, n in Counter(t.code for t in self.types).items() if n > 1]
        if twice:
            raise ValueError("名单类型代码重复：" + "、".join(twice))
        return self


# API: list types -------------------------------------------------------------------------------------------------


class ListTypeOut(BaseModel):
    code: str
    name: str
    kind: str
    kind_label: str
    domain: str
    authority: str
    owner_department_kind: str | None = None
    info_class: str
    legal_basis: list[dict[str, Any]]
    term_months: int | None
    max_term_months: int | None
    requires_notice: bool
    notice_workdays: int | None
    removal_rules: list[dict[str, Any]]
    party_kinds: list[str]
    external: bool
    managing_departments: list[str]
    sync_format: str | None
    confidence: str
    note: str
    active: bool


# API: entries ----------------------------------------------------------------------------------------------------


class EntryEventOut(BaseModel):
    id: int
    action: str
    actor: str
    reason: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    sync_id: int | None = None
    at: dt.datetime


class EntrySubjectOut(BaseModel):
    id: int
    name: str
    kind: str
    uscc: str | None = None
    resident_id: str | None = Field(None, description="自然人身份证号码（已脱敏）")


class EntryOut(BaseModel):
    """The department view of an entry: the stored decision and its effective status on ``as_of``."""

    id: int
    list_code: str
    list_name: str
    kind: str
    entry_key: str
    subject: EntrySubjectOut | None = None
    party_name: str
    party_code: str | None = None
    party_kind: str | None = None
    reason: str
    facts: str
    legal_basis: str
    decision_no: str | None = None
    authority: str
    department_id: int | None = None
    status: str
    effective_status: str
    status_label: str
    counts: bool
    as_of: dt.date
    notice_given_on: dt.date | None = None
    notice_until: dt.date | None = None
    listed_on: dt.date | None = None
    term_end: dt.date | None = None
    removed_on: dt.date | None = None
    removal_reason: str | None = None
    removal_reason_label: str | None = None
    removal_note: str | None = None
    source: str
    match_status: str
    revision: int
    created_at: dt.datetime
    updated_at: dt.datetime
    history: list[EntryEventOut] | None = None
    objection: str | None = Field(None, description="有未办结的异议时为“异议处理中”")


class PublicEntryOut(BaseModel):
    """What the public sees: an entry counting today, a person's name and ID masked, no internal fields."""

    list_code: str
    list_name: str
    kind: str
    party_kind: str | None = None
    party_name: str
    party_code: str | None = Field(None, description="统一社会信用代码；自然人为脱敏的身份证号码")
    authority: str
    reason: str
    legal_basis: str
    decision_no: str | None = None
    listed_on: dt.date
    term_end: dt.date | None = None
    objection: str | None = Field(None, description="有未办结的异议时为“异议处理中”")


# The body of every change to an entry (its fields are named as the service functions take them).
class EntryBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expected_revision: Revision | None = Field(None, description="乐观并发：期望的当前版本号，不符时返回 409")


class EntryCreateIn(BaseModel):
    """A new entry. ``stage="notice"`` records the notice before listing (告知); ``"listed"`` lists directly
    (types requiring notice then need ``notice_given_on``, at least the notice period before ``listed_on``)."""

    model_config = ConfigDict(extra="forbid")

    list_code: str = Field(min_length=1, max_length=60)
    subject_code: str = Field(min_length=1, max_length=60, description="统一社会信用代码、身份证号码或其他登记代码")
    reason: str = Field(min_length=1, max_length=2000, description="列入事由")
    facts: str = Field("", max_length=20000, description="失信事实")
    legal_basis: str | None = Field(None, max_length=2000, description="认定依据（默认取名单类型的第一项依据）")
    decision_no: str = Field(min_length=1, max_length=200, description="决定文书号")
    stage: Stage = Stage.LISTED
    notice_given_on: dt.date | None = Field(None, description="告知日期")
    listed_on: dt.date | None = Field(None, description="列入日期（默认今天）")
    term_end: dt.date | None = Field(None, description="有效期至（默认按名单类型的期限计算）")
    department: str | None = Field(None, max_length=32, description="部门代码（仅平台管理员代录时使用）")
    authority: str | None = Field(
        None, max_length=200, description="认定机关（默认为本部门；填写时须为本部门或平台管理员为本部门登记的下属单位）"
    )
    authority_uscc: str | None = Field(None, max_length=40, description="认定机关统一社会信用代码")


class ListIn(EntryBody):
    listed_on: dt.date | None = None
    term_end: dt.date | None = None
    note: str | None = Field(None, max_length=2000)


class ExtendIn(EntryBody):
    term_end: dt.date
    reason: str = Field(min_length=1, max_length=2000, description="延长理由")


class RemoveIn(EntryBody):
    reason: RemovalReason
    note: str = Field(min_length=1, max_length=2000, description="说明（如：已完成信用修复，修复决定书文号）")
    on: dt.date | None = Field(None, description="移出日期（默认今天）：当日起不再生效")


class CorrectIn(EntryBody):
    reason: str | None = Field(None, min_length=1, max_length=2000, description="列入事由")
    facts: str | None = Field(None, max_length=20000, description="失信事实")
    legal_basis: str | None = Field(None, min_length=1, max_length=2000, description="认定依据")
    note: str = Field(min_length=1, max_length=2000, description="更正原因")


class WithdrawNoticeIn(EntryBody):
    note: str = Field(min_length=1, max_length=2000, description="不予列入的理由（如：陈述申辩理由成立）")


class ImportRowError(BaseModel):
    row: int
    column: str
    code: str
    message: str


class ImportOut(BaseModel):
    file: str
    sha256: str
    format: str
    rows: int
    created: int
    notified: int
    skipped: int
    rejected: int
    applied: bool
    errors: list[ImportRowError]
    entry_ids: list[int]


class ListSizeOut(BaseModel):
    list_code: str
    list_name: str
    kind: str
    active: int
    added_30d: int
    removed_30d: int
    expired_30d: int
