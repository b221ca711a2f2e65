"""The catalog's file format: one information class (:class:`InfoClassSpec`) and the whole catalog
(:class:`CatalogFile`, ``data/catalog.yaml``). Pure: reading and validating YAML, no database.

The same models validate the seed file, an admin's edit (the edited class is re-validated whole) and the export,
so a catalog exported from the database seeds an identical one.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from xinyong.catalog.rules import (
    OPENNESS,
    Confidence,
    PartyKind,
    PublicAttribute,
    PublicityOverride,
    PublicityRule,
    PublicitySpec,
    RepairSpec,
)
from xinyong.core.errors import ValidationFailed

DEFAULT_CATALOG_PATH = Path(__file__).parent / "data" / "catalog.yaml"

CODE_PATTERN = r"^[a-z][a-z0-9_]{1,59}$"


class LegalBasis(BaseModel):
    """A law, regulation or policy document the class (or one of its numbers) rests on."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    article: str | None = None
    url: str | None = None
    confidence: Confidence | None = None
    note: str | None = None


class Source(BaseModel):
    """A document the catalog's defaults were taken from."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1)
    number: str | None = None  # 文号
    issued: str | None = None  # date or year as printed
    url: str | None = None
    confidence: Confidence | None = None
    note: str | None = None


class AppliesTo(BaseModel):
    """Which kinds of credit subjects the class has records about."""

    model_config = ConfigDict(extra="forbid")

    legal_person: bool
    individual_business: bool
    natural_person: bool

    def kinds(self) -> list[PartyKind]:
        return [k for k in PartyKind if getattr(self, k.value)]


class InfoClassSpec(BaseModel):
    """One information class of the catalog (信用信息目录中的一类信息)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=CODE_PATTERN)
    name_zh: str = Field(min_length=1, max_length=100)
    name_en: str = Field(min_length=1, max_length=200)
    category: str = Field(min_length=1, max_length=100)  # 全国公共信用信息基础目录 category
    description: str = ""
    public_attribute: PublicAttribute
    # 自然人: public only where a law says so, cited in natural_person_basis.
    natural_person_attribute: PublicAttribute = PublicAttribute.RESTRICTED
    applies_to: AppliesTo
    owner_departments: list[str] = Field(min_length=1)  # department kinds (catalog's department_kinds)
    legal_basis: list[LegalBasis] = Field(min_length=1)
    natural_person_basis: list[LegalBasis] = Field(default_factory=list)
    publicity: PublicitySpec
    repair: RepairSpec = RepairSpec(repairable=False)
    params: dict[str, Any] = Field(default_factory=dict)  # class-specific numbers read by the owning domain
    # 政务共享 look-back in years (reports.government_file); None: the platform default (5 years).
    share_lookback_years: int | None = Field(None, ge=0, le=30)
    confidence: Confidence = "unverified"
    note: str = ""
    sort_order: int = 0

    @field_validator("name_zh", "name_en", "category")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("不能为空")
        return value.strip()

    @model_validator(mode="after")
    def _natural_persons(self) -> InfoClassSpec:
        np = self.natural_person_attribute
        if OPENNESS[np] > OPENNESS[self.public_attribute]:
            raise ValueError(f"自然人公开属性（{np.value}）不得比类别公开属性（{self.public_attribute.value}）更公开")
        if np is PublicAttribute.PUBLIC and not self.natural_person_basis:
            raise ValueError("自然人信息向社会公开须有法律依据：请填写 natural_person_basis")
        if not self.applies_to.natural_person and np is not PublicAttribute.RESTRICTED:
            raise ValueError("该类别不适用于自然人，natural_person_attribute 应为 restricted")
        self.overrides()  # a malformed publicity exception refuses the class here
        return self

    def overrides(self) -> tuple[PublicityOverride, ...]:
        """The class's publicity exceptions (``params.publicity_overrides``, issue #18.5), validated."""
        raw = self.params.get("publicity_overrides") or []
        if not isinstance(raw, list):
            raise ValueError("params.publicity_overrides 须为列表")
        found = []
        for i, item in enumerate(raw):
            try:
                found.append(PublicityOverride.model_validate(item))
            except ValidationError as exc:
                reason = "；".join(
                    _reason(e) + f"（{'.'.join(str(p) for p in e.get('loc', ()))}）" for e in exc.errors()
                )
                raise ValueError(f"params.publicity_overrides[{i}] 无效：{reason}") from None
        return tuple(found)

    def check_vocabulary(self, *, categories: list[str], department_kinds: dict[str, str]) -> None:
        """Raise :class:`ValidationFailed` if the category or a department kind is not in the catalog's lists."""
        problems = []
        if self.category not in categories:
            problems.append(
                {"location": ["category"], "reason": f"未知的目录类别 {self.category!r}", "allowed": categories}
            )
        unknown = [d for d in self.owner_departments if d not in department_kinds]
        if unknown:
            problems.append(
                {
                    "location": ["owner_departments"],
                    "reason": f"未知的部门类型 {unknown}",
                    "allowed": sorted(department_kinds),
                }
            )
        if problems:
            raise ValidationFailed(
                f"信息类别 {self.code} 不符合目录的分类或部门类型", code="invalid_info_class", details=problems
            )

    def dump(self) -> dict[str, Any]:
        """JSON-ready form, without unset optional fields (as stored, audited and exported)."""
        return self.model_dump(mode="json", exclude_none=True)

    def rule(self) -> PublicityRule:
        """The class's publicity rule, for the functions of ``catalog.rules``."""
        return PublicityRule(
            code=self.code,
            name_zh=self.name_zh,
            public_attribute=self.public_attribute,
            natural_person_attribute=self.natural_person_attribute,
            publicity=self.publicity,
            repair=self.repair,
            overrides=self.overrides(),
        )


class CatalogFile(BaseModel):
    """The whole catalog: its edition, the documents it follows, its vocabularies and its classes."""

    model_config = ConfigDict(extra="forbid")

    edition: str = Field(min_length=1, max_length=60)
    title: str = Field(min_length=1, max_length=200)
    note: str = ""
    sources: list[Source] = Field(default_factory=list)
    categories: list[str] = Field(min_length=1)
    department_kinds: dict[str, str] = Field(min_length=1)
    classes: list[InfoClassSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_codes(self) -> CatalogFile:
        duplicates = [code for code, n in Counter(c.code for c in self.classes).items() if n > 1]
        if duplicates:
            raise ValueError(f"信息类别代码重复：{sorted(duplicates)}")
        for kind in self.department_kinds:
            if not re.match(CODE_PATTERN, kind):
                raise ValueError(f"部门类型代码 {kind!r} 须为小写字母、数字和下划线")
        return self

    def rules(self) -> dict[str, PublicityRule]:
        """Every class's publicity rule by code (for pure code and tests that need no database)."""
        return {spec.code: spec.rule() for spec in self.classes}

    def check(self) -> CatalogFile:
        """Validate every class against the catalog's vocabularies; returns self for chaining."""
        for spec in self.classes:
            spec.check_vocabulary(categories=self.categories, department_kinds=self.department_kinds)
        return self


def _reason(err: Any) -> str:
    kind, ctx = err.get("type"), err.get("ctx") or {}
    if kind in ("enum", "literal_error"):
        return f"取值无效，应为 {ctx.get('expected', '')}"
    if kind == "missing":
        return "必填"
    if kind == "extra_forbidden":
        return "不认识的字段"
    return str(err.get("msg", "")).removeprefix("Value error, ")


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors as the platform's ``details`` list (location, reason, pydantic error type)."""
    return [
        {"location": [str(p) for p in err.get("loc", ())], "reason": _reason(err), "type": err.get("type")}
        for err in exc.errors()
    ]


def parse_catalog(data: Any, *, origin: str = "目录文件") -> CatalogFile:
    """Validate a catalog document (already parsed YAML/JSON) whole."""
    try:
        catalog = CatalogFile.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(f"{origin}校验失败", code="invalid_catalog", details=validation_details(exc)) from None
    return catalog.check()


def load_catalog(path: Path | str | None = None) -> CatalogFile:
    """Read and validate a catalog YAML file (default: the national defaults shipped with the package)."""
    path = Path(path) if path else DEFAULT_CATALOG_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationFailed(f"无法读取目录文件 {path}：{exc.strerror}", code="catalog_file_unreadable") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidationFailed(f"目录文件 {path} 不是有效的 YAML：{exc}", code="catalog_file_invalid_yaml") from None
    return parse_catalog(data, origin=f"目录文件 {path.name} ")


def dump_catalog(catalog: CatalogFile) -> str:
    """The catalog as YAML (Chinese kept readable), in the same shape as the seed file."""
    data = catalog.model_dump(mode="json", exclude_none=True)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=120)
