"""The market regulator's registry export: column names and row rules (pure, no database).

Exports differ between systems and years, so each field accepts the column names seen in practice. A row is
turned into a :class:`RegistryRow` or a list of problems, each naming the column, the value and the reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from xinyong.identifiers import orgcode, uscc
from xinyong.identifiers.names import normalize_org_name
from xinyong.ingest.readers import normalize_header
from xinyong.ingest.values import parse_date

COLUMNS: dict[str, tuple[str, ...]] = {
    "uscc": ("统一社会信用代码", "信用代码", "社会信用代码", "USCC", "TYSHXYDM"),
    "name": ("主体名称", "企业名称", "名称", "企业(机构)名称", "市场主体名称", "单位名称", "QYMC"),
    "registration_no": ("注册号", "工商注册号", "REGNO"),
    "org_code": ("组织机构代码", "ZZJGDM"),
    "legal_rep": ("法定代表人", "负责人", "经营者", "法定代表人(负责人)", "法定代表人/负责人", "FDDBR"),
    # The legal representative's resident ID (encrypted into subjects.related; never kept in the report).
    "legal_rep_id": ("法定代表人身份证号码", "法定代表人身份证号", "法定代表人证件号码", "负责人证件号码", "FDDBRZJHM"),
    "entity_type": ("主体类型", "企业类型", "市场主体类型", "类型", "企业(机构)类型"),
    "registered_on": ("成立日期", "注册日期", "登记日期", "CLRQ"),
    "status": ("登记状态", "经营状态", "状态", "企业状态"),
    "address": ("住所", "经营场所", "地址", "住所(经营场所)"),
    "registration_authority": ("登记机关", "DJJG"),
}

HEADER_TO_FIELD = {normalize_header(h): f for f, names in COLUMNS.items() for h in names}
KNOWN_HEADERS = set(HEADER_TO_FIELD)

MAX_LEN = {
    "name": 200,
    "legal_rep": 100,
    "address": 300,
    "status": 30,
    "registration_authority": 100,
    "registration_no": 60,
    "entity_type": 60,
}


@dataclass
class Problem:
    row: int
    column: str
    value: Any
    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "column": self.column,
            "value": None if self.value is None else str(self.value),
            "code": self.code,
            "message": self.message,
        }


@dataclass
class RegistryRow:
    row: int
    name: str
    name_norm: str
    kind: str
    org_type: str | None
    uscc: str | None = None
    uscc_flagged: bool = False
    region_code: str | None = None
    registration_no: str | None = None
    org_code: str | None = None
    legal_rep: str | None = None
    legal_rep_id: str | None = None
    registered_on: dt.date | None = None
    status: str | None = None
    address: str | None = None
    registration_authority: str | None = None
    warnings: list[Problem] = field(default_factory=list)


def column_map(headers: list[str]) -> dict[str, int]:
    """field → column index of the first header that names it."""
    found: dict[str, int] = {}
    for i, h in enumerate(headers):
        f = HEADER_TO_FIELD.get(h)
        if f and f not in found:
            found[f] = i
    return found


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _kind_from(entity_type: str | None, org_type: str | None) -> tuple[str, str | None]:
    if org_type == "individual_business" or (entity_type and "个体" in entity_type):
        return "individual_business", "individual_business"
    if entity_type and "合作社" in entity_type:
        return "legal_person", "farmers_cooperative"
    return "legal_person", org_type or "enterprise"


def _fast_uscc(raw: str) -> str | None:
    """The compact code when it is valid (the fast path: most rows of a registry export are)."""
    if uscc.is_valid(raw):
        return raw if len(raw) == 18 else uscc.compact(raw)
    return None


def parse_row(
    number: int, values: list[Any], cols: dict[str, int], *, allow_bad_check: bool = False
) -> tuple[RegistryRow | None, list[Problem]]:
    n = len(values)
    cells = {f: _text(values[i]) if i < n else None for f, i in cols.items() if f != "registered_on"}
    get = cells.get

    problems: list[Problem] = []
    warnings: list[Problem] = []
    name = get("name")
    if not name:
        problems.append(Problem(number, "名称", None, "name_missing", "主体名称为空"))
    for f, limit in MAX_LEN.items():
        v = get(f)
        if v and len(v) > limit:
            problems.append(Problem(number, f, v[:40] + "…", "too_long", f"长度 {len(v)} 超过上限 {limit}"))

    code_raw = get("uscc")
    code: str | None = None
    flagged = False
    if code_raw:
        code = _fast_uscc(code_raw)
        if code is None:
            check = uscc.validate(code_raw, allow_bad_check=allow_bad_check)
            if not check.valid:
                problems.append(
                    Problem(
                        number,
                        "统一社会信用代码",
                        code_raw,
                        check.errors[0].code,
                        "；".join(e.message for e in check.errors),
                    )
                )
            else:
                code = check.normalized
                flagged = any(w.code == "uscc_check_digit" for w in check.warnings)
                for w in check.warnings:
                    warnings.append(Problem(number, "统一社会信用代码", code_raw, w.code, w.message))

    org_raw = get("org_code")
    org_norm = None
    if org_raw:
        if orgcode.is_valid(org_raw):
            org_norm = orgcode.compact(org_raw)
            if code and code[8:17] != org_norm:
                problems.append(
                    Problem(
                        number,
                        "组织机构代码",
                        org_raw,
                        "org_code_mismatch",
                        f"组织机构代码与统一社会信用代码第9-17位（{code[8:17]}）不一致（错码）",
                    )
                )
        else:
            oc = orgcode.validate(org_raw)
            problems.append(
                Problem(
                    number,
                    "组织机构代码",
                    org_raw,
                    oc.errors[0].code if oc.errors else "org_code_invalid",
                    "；".join(e.message for e in oc.errors) or "组织机构代码无效",
                )
            )
    reg_no = get("registration_no")
    if code is None and not code_raw and not reg_no and not org_norm:
        problems.append(
            Problem(
                number, "统一社会信用代码", None, "code_missing", "统一社会信用代码、注册号、组织机构代码至少填写一项"
            )
        )

    registered_on = None
    i = cols.get("registered_on")
    raw_date = values[i] if i is not None and i < n else None
    try:
        registered_on = parse_date(raw_date)
        if registered_on and registered_on > dt.date.today():
            problems.append(Problem(number, "成立日期", raw_date, "date_in_future", "成立日期晚于今天"))
    except (ValueError, TypeError):
        problems.append(Problem(number, "成立日期", raw_date, "date_invalid", "无法识别的日期"))

    if problems:
        return None, problems
    assert name is not None
    kind, org_type = _kind_from(get("entity_type"), uscc.subject_type_of(code) if code else None)
    return RegistryRow(
        row=number,
        name=name,
        name_norm=normalize_org_name(name),
        kind=kind,
        org_type=org_type,
        uscc=code,
        uscc_flagged=flagged,
        region_code=code[2:8] if code else None,
        registration_no=reg_no,
        org_code=org_norm,
        legal_rep=get("legal_rep"),
        legal_rep_id=get("legal_rep_id"),
        registered_on=registered_on,
        status=get("status"),
        address=get("address"),
        registration_authority=get("registration_authority"),
        warnings=warnings,
    ), []
