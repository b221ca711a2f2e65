"""Data standards of the information classes as data (issue #18): one YAML file per class in
``catalog/data/classes/<code>.yaml``. Pure: reading and validating YAML, no database.

A class's standard names its fields (Chinese and coded column names, aliases, type, length, required and
conditional-required rules, enumerations, which fields are public), the fields that identify one decision (the
identity key), which date fields feed the catalog's publicity rule (its start and, for ``while_valid`` classes, its
end), the government file's look-back, and the legal basis of collecting and publishing it. The publicity *mode*
and its periods stay in the catalog (``catalog.yaml`` → ``catalog_classes``, editable by the admin with a reason):
the standard only says which field is the start and which the end.

The files sit beside ``catalog.yaml`` because every layer above the catalog reads them: ``ingest`` validates rows
with them, ``records`` keys and stores records by them, ``reports`` and ``web`` show their public fields.

Licences and penalties (双公示) have a file too, generated from ``ingest.standards`` (``scripts/class_fields.py``;
``tests/catalog/test_fields.py`` asserts they agree): one field definition, while their rows keep the fast,
specialised validator of ``ingest.validate`` (``fast_path: true``).

:func:`load_standards` reads every file at start and refuses a malformed one with a clear message
(``ValidationFailed``, code ``invalid_class_standard``, naming the file and the field).
"""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from xinyong.catalog.spec import CODE_PATTERN, LegalBasis, validation_details
from xinyong.core.errors import ValidationFailed

DEFAULT_CLASSES_DIR = Path(__file__).parent / "data" / "classes"

FieldType = Literal["text", "date", "amount", "enum", "code", "int"]
Check = Literal["uscc", "org_code", "id_number"]
#: What a field means to the platform beyond its data: the record's party, its identity and its publicity inputs.
Role = Literal[
    "party_name",
    "party_kind",
    "party_uscc",
    "party_id_type",
    "party_id_no",
    "legal_rep",
    "doc_no",
    "authority",
    "authority_uscc",
    "source_unit",
    "source_unit_uscc",
    "valid_from",
    "status",
    "severity",
    "domain",  # the record's 领域: picks a publicity exception of the class (catalog params.publicity_overrides)
]
KEY_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"


class RequiredIf(BaseModel):
    """Conditional requirement: the field is required when ``field`` has one of ``values`` (after normalising:
    party kinds as ``legal_person`` / ``individual_business`` / ``natural_person``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str
    values: list[str] = Field(min_length=1)


class FieldSpec(BaseModel):
    """One field of a class's data standard (the same attributes as ``ingest.standards.StandardField``, plus its
    meaning to the platform and whether the public may see it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(pattern=KEY_PATTERN)
    zh: str | None = None  # Chinese column name
    coded: str | None = None  # coded column name (national exchange format)
    legacy: list[str] = Field(default_factory=list)  # older coded names
    aliases: list[str] = Field(default_factory=list)  # other spellings real exports use
    type: FieldType = "text"
    max_len: int = Field(2000, ge=1, le=100_000)
    required: bool = False
    legacy_required: bool = False  # 双公示 2016 format only
    rule: str | None = None  # 双公示: the named conditional rule of ingest.validate
    required_if: RequiredIf | None = None
    enum: str | None = None  # 双公示: a vocabulary of ingest.standards (penalty_type, id_type …)
    values: list[str] = Field(default_factory=list)  # an enumeration given here
    check: Check | None = None
    unit: Literal["元", "万元"] | None = None  # amounts
    personal: bool = False  # masked in every message and stored masked
    public: bool = False  # shown to the public (portal, public credit report)
    role: Role | None = None
    description: str = ""
    confidence: Literal["verified", "unverified", "low"] = "verified"

    @model_validator(mode="after")
    def _consistent(self) -> FieldSpec:
        if not (self.zh or self.coded or self.legacy or self.aliases):
            raise ValueError(f"字段 {self.key} 至少要有一个列名（zh / coded / legacy / aliases）")
        if self.values and self.type != "enum":
            raise ValueError(f"字段 {self.key} 列出了取值（values），类型应为 enum")
        if self.type == "enum" and not (self.values or self.enum):
            raise ValueError(f"字段 {self.key} 为枚举类型，须列出取值（values）或引用词表（enum）")
        if self.personal and self.public:
            raise ValueError(f"字段 {self.key} 为个人证件信息（personal），不能向社会公开（public）")
        if self.unit is not None and self.type != "amount":
            raise ValueError(f"字段 {self.key} 不是金额，不应设置单位（unit）")
        return self

    @property
    def label(self) -> str:
        return self.zh or self.coded or self.key

    def names(self) -> list[str]:
        """Every column name the field is recognised under."""
        return [n for n in (self.zh, self.coded, *self.legacy, *self.aliases) if n]


class ClassPublicity(BaseModel):
    """Which fields feed the catalog's publicity rule of the class, and the government file's look-back."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_field: str  # a date field: the start of publicity (决定日期, 公告日期 …)
    end_field: str | None = None  # a date field: the end of validity, for ``while_valid`` classes
    lookback_years: int | None = Field(None, ge=0, le=30)  # 政务共享 look-back (None: the catalog's / 5 years)
    note: str = ""


class ClassStandard(BaseModel):
    """The data standard of one information class (``catalog/data/classes/<code>.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=CODE_PATTERN, max_length=32)  # the catalog class; the records' ``kind``
    name_zh: str = Field(min_length=1, max_length=100)
    standard: str = Field(min_length=1, max_length=200)  # the standard's title
    description: str = ""
    confidence: Literal["verified", "unverified", "low"] = "unverified"
    legal_basis: list[LegalBasis] = Field(min_length=1)
    fast_path: bool = False  # 双公示: rows validated by ingest.validate, not by the generic path
    identity: list[str] = Field(min_length=1)  # field keys identifying one decision (with the authority's USCC)
    publicity: ClassPublicity
    fields: list[FieldSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> ClassStandard:
        keys = [f.key for f in self.fields]
        twice = sorted(k for k, n in Counter(keys).items() if n > 1)
        if twice:
            raise ValueError(f"字段代码重复：{twice}")
        by_key = {f.key: f for f in self.fields}
        roles = [f.role for f in self.fields if f.role]
        twice = sorted(str(r) for r, n in Counter(roles).items() if n > 1)
        if twice:
            raise ValueError(f"字段角色（role）重复：{twice}")
        for key in self.identity:
            if key not in by_key:
                raise ValueError(f"识别字段（identity）{key!r} 不是本标准的字段")
        for what, ref in (("start_field", self.publicity.start_field), ("end_field", self.publicity.end_field)):
            if ref is None:
                continue
            if ref not in by_key:
                raise ValueError(f"publicity.{what} {ref!r} 不是本标准的字段")
            if by_key[ref].type != "date":
                raise ValueError(f"publicity.{what} {ref!r} 须为日期字段")
        for f in self.fields:
            if f.required_if is not None and f.required_if.field not in by_key:
                raise ValueError(f"字段 {f.key} 的 required_if 引用了不存在的字段 {f.required_if.field!r}")
        if not self.fast_path:
            have = set(roles)
            for role in ("party_name", "authority", "authority_uscc"):
                if role not in have:
                    raise ValueError(f"缺少角色为 {role} 的字段（记录的当事人和决定机关）")
            if "party_uscc" not in have and "party_id_no" not in have:
                raise ValueError("须有角色为 party_uscc 或 party_id_no 的字段（识别信用主体）")
            if "authority_uscc" in {by_key[k].role for k in self.identity}:
                raise ValueError("identity 不必列出决定机关统一社会信用代码：记录总是按机关区分")
            names = [n.upper() for f in self.fields for n in f.names()]
            twice = sorted(n for n, c in Counter(names).items() if c > 1)
            if twice:
                raise ValueError(f"列名重复：{twice}")
        return self

    def field(self, key: str) -> FieldSpec:
        for f in self.fields:
            if f.key == key:
                return f
        raise KeyError(key)

    def by_role(self, role: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.role == role), None)

    @property
    def public_keys(self) -> list[str]:
        return [f.key for f in self.fields if f.public]

    def table(self) -> list[dict[str, Any]]:
        """The fields as rows for docs and ``xinyong catalog fields`` (JSON-ready)."""
        identity = set(self.identity)
        out = []
        for f in self.fields:
            required: str = "是" if f.required else ""
            if f.required_if is not None:
                required = f"当 {f.required_if.field} ∈ {'/'.join(f.required_if.values)}"
            elif f.rule and not f.required:
                required = f"条件（{f.rule}）"
            out.append(
                {
                    "key": f.key,
                    "zh": f.zh,
                    "coded": f.coded,
                    "type": f.type + (f"/{f.check}" if f.check else "") + (f"（{f.unit}）" if f.unit else ""),
                    "max_len": f.max_len,
                    "required": required,
                    "values": f.values or ([f.enum] if f.enum else []),
                    "identity": f.key in identity,
                    "public": f.public,
                    "personal": f.personal,
                    "role": f.role,
                }
            )
        return out


def parse_standard(data: Any, *, origin: str) -> ClassStandard:
    try:
        return ClassStandard.model_validate(data)
    except ValidationError as exc:
        details = validation_details(exc)
        first = details[0] if details else {"location": [], "reason": ""}
        where = ".".join(first["location"])
        raise ValidationFailed(
            f"信息类别数据标准 {origin} 校验失败：{where + '：' if where else ''}{first['reason']}",
            code="invalid_class_standard",
            details=details,
        ) from None


def load_standard_file(path: Path) -> ClassStandard:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValidationFailed(
            f"无法读取数据标准文件 {path}：{exc.strerror}", code="class_standard_unreadable"
        ) from None
    except yaml.YAMLError as exc:
        raise ValidationFailed(
            f"数据标准文件 {path.name} 不是有效的 YAML：{exc}", code="class_standard_invalid_yaml"
        ) from None
    standard = parse_standard(data, origin=path.name)
    if standard.code != path.stem:
        raise ValidationFailed(
            f"数据标准文件 {path.name} 的 code 为 {standard.code!r}，应与文件名 {path.stem!r} 相同",
            code="invalid_class_standard",
        )
    return standard


def load_standards(directory: Path | str | None = None) -> dict[str, ClassStandard]:
    """Every class standard of a directory by code (default: the files shipped with the package), validated."""
    folder = Path(directory) if directory else DEFAULT_CLASSES_DIR
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise ValidationFailed(f"目录 {folder} 中没有信息类别数据标准文件", code="class_standards_missing")
    return {s.code: s for s in (load_standard_file(p) for p in files)}


@functools.cache
def standards() -> dict[str, ClassStandard]:
    """The shipped standards, read and validated once per process."""
    return load_standards()


def standard_of(code: str) -> ClassStandard:
    try:
        return standards()[code]
    except KeyError:
        raise ValidationFailed(
            f"没有信息类别 {code!r} 的数据标准（可选：{' / '.join(standards())}）",
            code="unknown_kind",
            details={"kind": code, "kinds": list(standards())},
        ) from None


def record_kinds() -> tuple[str, ...]:
    """Every class that has records (``credit_records.kind``): 双公示 first, then the others by code."""
    found = standards()
    fast = [c for c in ("licence", "penalty") if c in found]
    return (*fast, *sorted(c for c in found if c not in fast))


def generic_kinds() -> tuple[str, ...]:
    """The classes collected through the generic path (not 双公示)."""
    return tuple(c for c in record_kinds() if not standards()[c].fast_path)
