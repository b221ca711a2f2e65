"""Request and response bodies of the catalog API."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from xinyong.catalog.models import CatalogMeta, InfoClass
from xinyong.catalog.rules import PUBLIC_ATTRIBUTE_LABELS, describe_publicity
from xinyong.catalog.service import SeedReport, spec_of
from xinyong.catalog.spec import InfoClassSpec, Source
from xinyong.core.bounds import Revision


class InfoClassOut(InfoClassSpec):
    """An information class as the public sees it (who edited it is in the audit log, for the admin)."""

    id: int
    revision: int
    origin: Literal["seed", "admin"]
    seed_edition: str | None
    updated_at: dt.datetime
    public_attribute_label: str
    publicity_summary: str

    @classmethod
    def of(cls, obj: InfoClass) -> InfoClassOut:
        spec = spec_of(obj)
        return cls(
            **spec.model_dump(),
            id=obj.id,
            revision=obj.revision,
            origin=obj.origin,
            seed_edition=obj.seed_edition,
            updated_at=obj.updated_at,
            public_attribute_label=PUBLIC_ATTRIBUTE_LABELS[spec.public_attribute],
            publicity_summary=describe_publicity(spec.publicity),
        )


class CatalogOut(BaseModel):
    """The catalog as a whole: edition, the documents it follows, its vocabularies."""

    edition: str
    title: str
    note: str
    sources: list[Source]
    categories: list[str]
    department_kinds: dict[str, str]
    seeded_at: dt.datetime
    class_count: int

    @classmethod
    def of(cls, meta: CatalogMeta, *, class_count: int) -> CatalogOut:
        return cls(
            edition=meta.edition,
            title=meta.title,
            note=meta.note,
            sources=[Source.model_validate(s) for s in meta.sources],
            categories=meta.categories,
            department_kinds=meta.department_kinds,
            seeded_at=meta.seeded_at,
            class_count=class_count,
        )


class ClassPatch(BaseModel):
    """An admin's correction: fields or dotted paths with their new values, and why."""

    model_config = ConfigDict(extra="forbid")

    changes: dict[str, Any] = Field(
        description='字段或路径 → 新值，如 {"publicity.windows.general.max_months": 12}；null 表示恢复默认'
    )
    reason: str = Field(description="修改原因（必填，写入审计日志）")
    expected_revision: Revision | None = Field(default=None, description="期望的当前版本号；不一致时返回 409")


class SeedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    replace: bool = Field(default=False, description="覆盖管理员修改过的信息类别")
    reason: str | None = None


class SeedReportOut(BaseModel):
    edition: str
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    kept: list[str]
    not_in_file: list[str]

    @classmethod
    def of(cls, report: SeedReport) -> SeedReportOut:
        return cls(**report.to_dict())
