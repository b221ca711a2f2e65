"""The measures file format (``data/measures.yaml``) and the check's vocabulary. Pure: YAML and rules, no database.

A measure names its memorandum (or law), its legal basis, the department that implements it, the scenarios where
it applies, the list types that trigger it and whether it is mandatory (国办发〔2020〕49号: a punishment must
directly cite a law, regulation or central policy document, so a punishment without a legal basis is refused).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, cast

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from xinyong.catalog.fields import record_kinds
from xinyong.catalog.rules import PARTY_KINDS
from xinyong.core.errors import ValidationFailed
from xinyong.ingest.standards import PENALTY_TYPES
from xinyong.measures.models import MeasureKind
from xinyong.subjects.related import ROLE_LABELS

DEFAULT_MEASURES_PATH = Path(__file__).parent / "data" / "measures.yaml"
LIST_TYPES_PATH = Path(__file__).parent.parent / "lists" / "data" / "list_types.yaml"
CODE_PATTERN = r"^[a-z][a-z0-9_]{1,59}$"

#: Scenario codes of the check. A measure applies in the scenarios it lists; a check in ``general`` gets every
#: measure (a measure tagged only ``general`` — e.g. more frequent inspections — appears only there).
SCENARIOS: dict[str, str] = {
    "approval": "行政审批（行政许可、资质资格审核）",
    "procurement": "政府采购",
    "trading": "公共资源交易（工程招投标、土地出让等）",
    "funding": "财政资金支持、政府投资项目",
    "subsidy": "政府补贴、扶持政策",
    "honour": "评优评先、表彰奖励",
    "hiring": "任职、录用（公务员、事业单位、国有企业管理人员）",
    "general": "综合核查（日常监管；返回全部适用措施）",
}
KIND_LABELS: dict[str, str] = {MeasureKind.PUNISH: "惩戒措施", MeasureKind.REWARD: "激励措施"}
CATEGORY_LABELS = {
    "rights": "减损权益或增加义务的措施",
    "management": "管理性措施",
    "market": "市场化、社会化措施",
    "incentive": "激励措施",
}
MEMORANDUM_KIND_LABELS = {
    "memorandum": "合作备忘录",
    "law": "法律",
    "regulation": "行政法规",
    "judicial": "司法解释",
    "policy": "中央政策文件",
    "rule": "部门规章、规范性文件",
}

Confidence = Literal["verified", "unverified", "low"]
Kind = MeasureKind
Category = Literal["rights", "management", "market", "incentive"]
MemorandumKind = Literal["memorandum", "law", "regulation", "judicial", "policy", "rule"]
PartyKind = Literal["legal_person", "individual_business", "natural_person"]


class LegalBasis(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=300)
    article: str | None = None
    confidence: Confidence | None = None
    note: str | None = None


class MemorandumSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=CODE_PATTERN)
    kind: MemorandumKind
    title: str = Field(min_length=1, max_length=300)
    doc_no: str | None = Field(None, max_length=100)
    issued_on: dt.date | None = None
    issuers: list[str] = Field(default_factory=list)
    url: str | None = None
    confidence: Confidence = "unverified"
    note: str = ""

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


#: Record kinds a record trigger may name (``records.models.CreditRecord.kind``).
RECORD_KINDS = ("penalty", "licence")


class RecordTrigger(BaseModel):
    """``triggers.records`` of a measure: the measure applies because of credit records, not (only) list entries.

    A record counts when it is of one of ``kinds``, was decided within the look-back window (counted from the check
    date back to the decision date, both days included: ``lookback_years`` / ``lookback_months``), is not withdrawn
    (a revoked or changed decision never counts; a correction counts only as corrected — the record's current
    values), is not repaired on the check date unless ``include_repaired``, and meets **at least one** of the
    criteria given: one of ``penalty_types`` (the national 处罚类别 code list, ``ingest.standards.PENALTY_TYPES``), a
    fine of at least ``min_fine_wan`` 万元 (较大数额 is set locally: this is data), a ``severities`` value (the
    catalog's severity keys, e.g. ``serious``). Without any criterion every record of the kinds counts. The trigger
    needs its own legal basis: the rule that makes such a record bar the subject (国办发〔2020〕49号).
    """

    model_config = ConfigDict(extra="forbid")

    #: Record kinds: penalty / licence, or any other information class with a data standard (issue #18).
    kinds: list[str] = Field(default_factory=lambda: ["penalty"], min_length=1)
    penalty_types: list[str] = Field(default_factory=list)
    min_fine_wan: Decimal | None = Field(None, gt=0, max_digits=14, decimal_places=6)
    severities: list[str] = Field(default_factory=list)
    lookback_years: int | None = Field(None, ge=1, le=20)
    lookback_months: int | None = Field(None, ge=1, le=240)
    include_repaired: bool = False
    #: Only records still in effect on the check date (their validity end — e.g. a tax arrears' 缴清日期 — not
    #: passed): "欠税未缴清" rather than "once announced".
    in_effect: bool = False
    legal_basis: list[LegalBasis] = Field(default_factory=list)
    note: str = ""

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, value: list[str]) -> list[str]:
        unknown = [k for k in value if k not in record_kinds()]
        if unknown:
            raise ValueError(f"未知的记录类别 {unknown}（可选：{' / '.join(record_kinds())}）")
        return value

    @field_validator("penalty_types")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        unknown = [t for t in value if t not in PENALTY_TYPES]
        if unknown:
            raise ValueError(f"未知的处罚类别 {unknown}（应为国家标准处罚类别代码表中的值）")
        return value

    @model_validator(mode="after")
    def _complete(self) -> RecordTrigger:
        if not self.legal_basis:
            raise ValueError("按信用记录触发的措施必须写明其法律依据（triggers.records.legal_basis 不能为空）")
        if (self.lookback_years is None) == (self.lookback_months is None):
            raise ValueError("请给出回溯期限 lookback_years 或 lookback_months 之一")
        if (self.penalty_types or self.min_fine_wan is not None) and self.kinds != ["penalty"]:
            raise ValueError("处罚类别和罚款金额条件只适用于行政处罚记录（kinds: [penalty]）")
        return self

    @property
    def months(self) -> int:
        return self.lookback_months if self.lookback_months is not None else 12 * (self.lookback_years or 0)


class Triggers(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records: RecordTrigger | None = None


#: Roles a measure may extend to (``subjects.related.RelatedRole``), with their labels.
RELATED_ROLE_LABELS: dict[str, str] = dict(ROLE_LABELS)


class ExtendsTo(BaseModel):
    """``extends_to`` of a measure: it reaches, beyond the listed organisation, the persons who hold one of ``roles``
    in it on the check date (``subjects.related``), where the memoranda say so — with the legal basis of that
    extension (国办发〔2020〕49号: a punishment of a person rests on a rule that names such persons).
    ``related_only``: the measure applies to those persons only, not to the organisation itself (e.g. 担任法定代表人、
    董事、监事、高级管理人员受限 is about persons; a company is not appointed)."""

    model_config = ConfigDict(extra="forbid")

    roles: list[str] = Field(min_length=1)
    legal_basis: list[LegalBasis] = Field(default_factory=list)
    related_only: bool = False
    note: str = ""

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, value: list[str]) -> list[str]:
        unknown = [r for r in value if r not in RELATED_ROLE_LABELS]
        if unknown:
            allowed = "、".join(f"{k}（{v}）" for k, v in RELATED_ROLE_LABELS.items())
            raise ValueError(f"未知的关联人员职务 {unknown}，应为 {allowed} 之一")
        if len(set(value)) != len(value):
            raise ValueError("关联人员职务重复")
        return value

    @model_validator(mode="after")
    def _has_basis(self) -> ExtendsTo:
        if not self.legal_basis:
            raise ValueError("延伸至关联人员的措施必须写明延伸的法律依据（extends_to.legal_basis 不能为空）")
        return self


class MeasureSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=CODE_PATTERN)
    memorandum: str = Field(pattern=CODE_PATTERN)
    kind: Kind
    category: Category
    title: str = Field(min_length=1, max_length=200)
    content: str = Field(min_length=1)
    legal_basis: list[LegalBasis] = Field(default_factory=list)
    department: str = Field(min_length=1, max_length=200)
    scenarios: list[str] = Field(min_length=1)
    list_types: list[str] = Field(default_factory=list)
    triggers: Triggers | None = None
    extends_to: ExtendsTo | None = None
    mandatory: bool = False
    party_kinds: list[PartyKind] = Field(default_factory=lambda: cast(list[PartyKind], list(PARTY_KINDS)), min_length=1)
    confidence: Confidence = "unverified"
    note: str = ""
    sort_order: int = 0

    @field_validator("scenarios")
    @classmethod
    def _known_scenarios(cls, value: list[str]) -> list[str]:
        unknown = [s for s in value if s not in SCENARIOS]
        if unknown:
            raise ValueError(f"未知的适用场景 {unknown}，应为 {list(SCENARIOS)} 之一")
        if len(set(value)) != len(value):
            raise ValueError("适用场景重复")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MeasureSpec:
        if self.kind == "punish" and not self.legal_basis:
            raise ValueError("惩戒措施必须直接援引法律、法规或党中央、国务院政策文件（legal_basis 不能为空）")
        if (self.kind == "reward") != (self.category == "incentive"):
            raise ValueError("激励措施的类别应为 incentive，惩戒措施的类别应为 rights / management / market")
        records = self.triggers.records if self.triggers else None
        if not self.list_types and records is None:
            raise ValueError("措施必须由名单类型（list_types）或信用记录（triggers.records）触发")
        if records is not None and self.kind != "punish":
            raise ValueError("按信用记录触发的只能是惩戒措施")
        if self.extends_to is not None:
            if self.kind != "punish":
                raise ValueError("只有惩戒措施可以延伸至关联人员（extends_to）")
            if not self.list_types:
                raise ValueError("延伸至关联人员的措施须由名单类型（list_types）触发")
            if not set(self.party_kinds) & {"legal_person", "individual_business"}:
                raise ValueError("延伸至关联人员的措施须适用于法人或个体工商户（party_kinds）")
        return self

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class MeasuresFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    edition: str = Field(min_length=1)
    memoranda: list[MemorandumSpec] = Field(min_length=1)
    measures: list[MeasureSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> MeasuresFile:
        for label, codes in (("备忘录", [m.code for m in self.memoranda]), ("措施", [m.code for m in self.measures])):
            dup = [c for c, n in Counter(codes).items() if n > 1]
            if dup:
                raise ValueError(f"{label}代码重复：{dup}")
        known = {m.code for m in self.memoranda}
        missing = sorted({m.memorandum for m in self.measures} - known)
        if missing:
            raise ValueError(f"措施引用了未定义的备忘录：{missing}")
        return self

    def check_list_types(self, list_kinds: dict[str, str]) -> None:
        """Every triggering list type must exist; rewards come only from red lists, punishments never do."""
        problems = []
        for m in self.measures:
            for code in m.list_types:
                kind = list_kinds.get(code)
                if kind is None:
                    problems.append({"measure": m.code, "list_type": code, "reason": "未知的名单类型代码"})
                elif (kind == "red") != (m.kind == "reward"):
                    problems.append(
                        {
                            "measure": m.code,
                            "list_type": code,
                            "reason": "激励措施只能由红名单触发，惩戒措施不能由红名单触发",
                        }
                    )
        if problems:
            raise ValidationFailed(
                f"措施文件中有 {len(problems)} 处名单类型引用错误：{problems[0]['measure']} "
                f"{problems[0]['list_type']} {problems[0]['reason']}",
                code="measures_unknown_list_type",
                details=problems,
            )


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    return [{"location": [str(p) for p in e.get("loc", ())], "reason": e.get("msg")} for e in exc.errors()]


def parse_measures(data: Any, *, origin: str = "措施文件") -> MeasuresFile:
    try:
        return MeasuresFile.model_validate(data)
    except ValidationError as exc:
        details = validation_details(exc)
        first = details[0]
        raise ValidationFailed(
            f"{origin}不符合要求：{'.'.join(first['location'])}：{first['reason']}",
            code="measures_file_invalid",
            details=details,
        ) from None


@lru_cache(maxsize=1)
def seeded_list_kinds() -> dict[str, str]:
    """List type code -> kind, from the lists seed file (the triggers a measures file may name)."""
    data = yaml.safe_load(LIST_TYPES_PATH.read_text(encoding="utf-8"))
    return {t["code"]: t["kind"] for t in data["types"]}


def load_measures(path: Path | str | None = None, *, list_kinds: dict[str, str] | None = None) -> MeasuresFile:
    """Read and validate a measures file; list type codes are checked against ``list_kinds`` (default: the lists
    seed file)."""
    path = Path(path) if path else DEFAULT_MEASURES_PATH
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationFailed(f"无法读取措施文件 {path.name}：{exc}", code="measures_file_unreadable") from None
    spec = parse_measures(data, origin=f"措施文件 {path.name} ")
    spec.check_list_types(list_kinds if list_kinds is not None else seeded_list_kinds())
    return spec


def require_scenario(code: str) -> str:
    if code not in SCENARIOS:
        raise ValidationFailed(
            f"未知的核查场景 {code!r}，应为 {', '.join(SCENARIOS)} 之一",
            code="unknown_scenario",
            details={"scenario": code, "allowed": list(SCENARIOS)},
        )
    return code
