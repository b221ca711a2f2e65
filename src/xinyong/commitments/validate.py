"""Validation of one 信用承诺 row against the national data standard → :class:`CommitmentInput` or issues. Pure.

Columns are found by their Chinese names (brackets, spaces and ``*`` marks ignored, a parenthesised explanation
after the name too: ``承诺人代码（统一社会信用代码或身份证号码）``) or, for JSON, by snake_case English keys
(``commitment_code``, ``promisor_name`` …). Unknown columns are kept aside (``extra``), never fail a row.

Rules (codes in brackets), reported per cell with the row, the column as the sender named it and a Chinese message:

- required fields [``required_missing``], length limits of the standard (200 / 512 / 4000) [``too_long``];
- 承诺编码: 20 digits = 6-digit 行政区划 (GB/T 2260, current or retired) + 8-digit date + 6-digit serial
  [``commitment_code_length``, ``commitment_code_charset``, ``commitment_code_region``, ``commitment_code_date``];
  its date differing from 承诺作出日期 is a warning [``commitment_code_date_mismatch``];
- 承诺人代码: a valid USCC for 法人及非法人组织 / 个体工商户, a valid resident ID for 自然人 [``uscc_*``,
  ``resident_id_*``]; ID numbers never appear unmasked in an issue; the clear number is only in
  ``promisor_id_number`` (for the service to hash and encrypt);
- 承诺受理单位代码 / 履行状态认定单位代码: valid USCCs;
- the authority rule (when the batch passes the submitting department's :class:`~xinyong.auth.authorities.Authorities`):
  承诺受理单位 / 承诺受理单位代码 must be one of the department's authorities, the name agreeing with the registered
  one [``authority_not_registered``, ``authority_name_mismatch``]. 履行状态认定单位 is not held to it: the unit that
  determines whether a commitment was kept may be another (a court, the unit that inspected);
- enumerations 承诺人类别, 承诺类型, 承诺履行状态, 公开类型 [``enum_invalid``];
- dates [``date_invalid``, ``date_out_of_range``, ``date_in_future``, ``date_order``]: 承诺有效期 and 履行状态认定日期
  not before 承诺作出日期; 承诺有效期 ``长期`` (or on/after 2099-12-31) is open-ended;
- 承诺履行状态 other than 全部履行 needs 未履行的承诺内容 and 违诺责任追究内容
  [``unfulfilled_content_missing``, ``liability_pursued_missing``]; an empty 承诺履行状态 means not yet determined
  (``pending``): a commitment is usually reported when it is made, before anyone can know whether it is kept.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from xinyong.auth.authorities import Authorities
from xinyong.catalog.rules import PartyKind
from xinyong.commitments.models import CommitmentType, FulfilmentStatus, PublicType
from xinyong.identifiers import masking, regions, resident_id, uscc
from xinyong.ingest import standards as std
from xinyong.ingest.readers import normalize_header
from xinyong.ingest.validate import EARLIEST_DATE, cell_text
from xinyong.ingest.values import is_formula_error, parse_date
from xinyong.records.inputs import RowIssue

_SHOWN = 60

#: Labels by stored value (the keys are the enum's members, equal to their values).
TYPE_LABELS: dict[str, str] = {
    CommitmentType.APPROVAL_SUBSTITUTE: "审批替代型",
    CommitmentType.TOLERANCE_ACCEPTANCE: "容缺受理型",
    CommitmentType.CERTIFICATION: "证明事项型",
    CommitmentType.CREDIT_REPAIR: "信用修复型",
    CommitmentType.SELF_DISCIPLINE: "行业自律型",
    CommitmentType.VOLUNTARY: "主动型",
    CommitmentType.OTHER: "其他",
}
STATUS_LABELS: dict[str, str] = {
    FulfilmentStatus.PENDING: "待认定",
    FulfilmentStatus.FULFILLED: "全部履行",
    FulfilmentStatus.PARTIAL: "部分履行",
    FulfilmentStatus.UNFULFILLED: "全部未履行",
}
PUBLIC_TYPE_LABELS: dict[str, str] = {
    PublicType.PUBLIC: "可向社会公开",
    PublicType.SCOPED: "特定范围内公开",
    PublicType.PRIVATE: "不可公开",
}
#: Statuses that are a breach of the commitment (违诺) once determined.
BREACH_STATUSES = frozenset({FulfilmentStatus.PARTIAL, FulfilmentStatus.UNFULFILLED})

_TYPES: dict[str, CommitmentType] = {
    **{label: CommitmentType(key) for key, label in TYPE_LABELS.items()},
    **{key: key for key in CommitmentType},
    "审批替代": CommitmentType.APPROVAL_SUBSTITUTE,
    "容缺受理": CommitmentType.TOLERANCE_ACCEPTANCE,
    "证明事项": CommitmentType.CERTIFICATION,
    "证明事项告知承诺": CommitmentType.CERTIFICATION,
    "信用修复": CommitmentType.CREDIT_REPAIR,
    "行业自律": CommitmentType.SELF_DISCIPLINE,
    "主动承诺": CommitmentType.VOLUNTARY,
    "主动承诺型": CommitmentType.VOLUNTARY,
    "主动": CommitmentType.VOLUNTARY,
}
#: Every spelling of a 履行状态 the import and the API take -> the status.
STATUS_SPELLINGS: dict[str, FulfilmentStatus] = {
    **{label: FulfilmentStatus(key) for key, label in STATUS_LABELS.items()},
    **{key: key for key in FulfilmentStatus},
    "部分未履行": FulfilmentStatus.PARTIAL,
    "未履行": FulfilmentStatus.UNFULFILLED,
    "履行中": FulfilmentStatus.PENDING,
    "未认定": FulfilmentStatus.PENDING,
}
_PUBLIC_TYPES: dict[str, PublicType] = {
    **{label: PublicType(key) for key, label in PUBLIC_TYPE_LABELS.items()},
    **{key: key for key in PublicType},
    "社会公开": PublicType.PUBLIC,
    "公开": PublicType.PUBLIC,
    "向社会公开": PublicType.PUBLIC,
    "政务共享": PublicType.SCOPED,
    "特定范围公开": PublicType.SCOPED,
    "不公开": PublicType.PRIVATE,
    "不予公开": PublicType.PRIVATE,
}


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    aliases: tuple[str, ...]
    max_len: int
    kind: str = "text"  # text | date | enum | uscc | promisor_code | commitment_code
    required: bool = False


FIELDS: tuple[Field, ...] = (
    Field("code", "承诺编码", ("commitment_code", "code"), 20, "commitment_code", True),
    Field("promisor_name", "承诺人名称", ("promisor_name", "name"), 200, required=True),
    Field("promisor_kind", "承诺人类别", ("promisor_kind", "promisor_category"), 20, "enum", True),
    Field("promisor_code", "承诺人代码", ("promisor_code",), 18, "promisor_code", True),
    Field("commitment_type", "承诺类型", ("commitment_type", "type"), 50, "enum", True),
    Field("reason", "承诺事由", ("reason", "commitment_reason"), 512, required=True),
    Field("content", "承诺内容", ("content", "commitment_content"), 4000, required=True),
    Field("liability", "违诺责任", ("liability", "breach_liability"), 4000, required=True),
    Field("made_on", "承诺作出日期", ("made_on", "commitment_date"), 0, "date", True),
    Field("valid_until", "承诺有效期", ("valid_until", "validity", "valid_to"), 0, "date"),
    Field("fulfilment_status", "承诺履行状态", ("fulfilment_status", "status"), 20, "enum"),
    Field("unfulfilled_content", "未履行的承诺内容", ("unfulfilled_content",), 4000),
    Field("liability_pursued", "违诺责任追究内容", ("liability_pursued",), 4000),
    Field("determined_on", "履行状态认定日期", ("determined_on", "determination_date"), 0, "date"),
    Field("determined_by", "履行状态认定单位", ("determined_by", "determination_unit"), 200),
    Field("determined_by_code", "履行状态认定单位代码", ("determined_by_code", "determination_unit_code"), 18, "uscc"),
    Field("accepting_unit", "承诺受理单位", ("accepting_unit",), 200, required=True),
    Field("accepting_unit_code", "承诺受理单位代码", ("accepting_unit_code",), 18, "uscc", True),
    Field("public_type", "公开类型", ("public_type", "disclosure"), 20, "enum", True),
    Field("remarks", "备注", ("remarks", "note", "bz"), 512),
)
FIELD_BY_KEY = {f.key: f for f in FIELDS}
_CAP = 64  # raw length cap of a date / enum / code cell before parsing


def _hkey(header: Any) -> str:
    text = normalize_header(header)
    if "(" in text and not text.startswith("("):
        text = text.split("(", 1)[0]
    return text.lower().replace("-", "_")


_BY_HEADER: dict[str, str] = {}
for _f in FIELDS:
    _BY_HEADER[_hkey(_f.label)] = _f.key
    for _a in _f.aliases:
        _BY_HEADER[_hkey(_a)] = _f.key
# Spellings seen in exports.
_BY_HEADER.update(
    {
        "承诺人统一社会信用代码": "promisor_code",
        "承诺主体名称": "promisor_name",
        "承诺主体类别": "promisor_kind",
        "承诺有效期至": "valid_until",
        "承诺受理单位统一社会信用代码": "accepting_unit_code",
        "履行状态认定单位统一社会信用代码": "determined_by_code",
        "承诺日期": "made_on",
    }
)
KNOWN_HEADERS = set(_BY_HEADER)


@dataclass
class HeaderMap:
    """Which column holds which field (by index), and the other columns (kept as ``extra``)."""

    columns: dict[str, int]
    headers: list[str]
    extra: dict[int, str] = field(default_factory=dict)

    def label(self, key: str) -> str:
        idx = self.columns.get(key)
        return self.headers[idx] if idx is not None and self.headers[idx] else FIELD_BY_KEY[key].label


def map_headers(headers: list[str], raw_headers: list[Any] | None = None) -> tuple[HeaderMap, list[str]]:
    """The header map and the required fields that have no column (a file-level error for the caller)."""
    columns: dict[str, int] = {}
    extra: dict[int, str] = {}
    shown = [str(h) if h is not None else "" for h in (raw_headers or headers)]
    for i, h in enumerate(headers):
        key = _BY_HEADER.get(_hkey(h))
        if key is not None and key not in columns:
            columns[key] = i
        elif h:
            extra[i] = shown[i] if i < len(shown) else h
    missing = [f.label for f in FIELDS if f.required and f.key not in columns]
    return HeaderMap(columns, shown if len(shown) == len(headers) else list(headers), extra), missing


@dataclass
class CommitmentInput:
    """One valid row, normalised (enumerations as codes, dates as dates, codes compacted)."""

    row: int
    code: str
    promisor_name: str
    promisor_kind: PartyKind
    promisor_uscc: str | None  # organisations
    promisor_id_number: str | None  # natural persons: clear, normalised (never stored in clear)
    commitment_type: str
    reason: str
    content: str
    liability: str
    made_on: dt.date
    valid_until: dt.date | None
    fulfilment_status: str
    unfulfilled_content: str | None
    liability_pursued: str | None
    determined_on: dt.date | None
    determined_by: str | None
    determined_by_code: str | None
    accepting_unit: str
    accepting_unit_code: str
    public_type: str
    remarks: str | None
    type_text: str | None = None  # 其他-… as written
    extra: dict[str, Any] = field(default_factory=dict)
    warnings: list[RowIssue] = field(default_factory=list)

    @property
    def promisor_code_masked(self) -> str:
        if self.promisor_uscc:
            return self.promisor_uscc
        return masking.mask_resident_id(self.promisor_id_number or "")

    def content_dict(self) -> dict[str, Any]:
        """The stored (and hashed) content: JSON-safe, the person's number masked."""

        def iso(d: dt.date | None) -> str | None:
            return d.isoformat() if d else None

        return {
            "code": self.code,
            "promisor_name": self.promisor_name,
            "promisor_kind": self.promisor_kind.value,
            "promisor_code": self.promisor_code_masked,
            "commitment_type": self.commitment_type,
            "type_text": self.type_text,
            "reason": self.reason,
            "content": self.content,
            "liability": self.liability,
            "made_on": iso(self.made_on),
            "valid_until": iso(self.valid_until),
            "fulfilment_status": self.fulfilment_status,
            "unfulfilled_content": self.unfulfilled_content,
            "liability_pursued": self.liability_pursued,
            "determined_on": iso(self.determined_on),
            "determined_by": self.determined_by,
            "determined_by_code": self.determined_by_code,
            "accepting_unit": self.accepting_unit,
            "accepting_unit_code": self.accepting_unit_code,
            "public_type": self.public_type,
            "remarks": self.remarks,
            "extra": self.extra,
        }


class _Cell(Exception):
    def __init__(self, code: str, reason: str) -> None:
        self.code = code
        self.reason = reason


def check_commitment_code(value: str, *, today: dt.date) -> tuple[str, dt.date]:
    """The normalised code and the date it carries; raises ``_Cell`` with the reason when malformed."""
    code = "".join(unicodedata.normalize("NFKC", value).split())
    if len(code) != 20:
        raise _Cell(
            "commitment_code_length",
            f"「{code[:_SHOWN]}」应为20位（6位行政区划代码 + 8位日期 + 6位流水号），实为{len(code)}位",
        )
    if not code.isdigit() or not code.isascii():
        raise _Cell("commitment_code_charset", f"「{code}」只能由数字组成（6位行政区划代码 + 8位日期 + 6位流水号）")
    if regions.lookup(code[:6]) is None:
        raise _Cell("commitment_code_region", f"「{code}」前6位 {code[:6]} 不是有效的行政区划代码（GB/T 2260）")
    ymd = code[6:14]
    try:
        when = dt.date(int(ymd[:4]), int(ymd[4:6]), int(ymd[6:]))
    except ValueError:
        raise _Cell("commitment_code_date", f"「{code}」第7-14位 {ymd} 不是有效日期（应为 YYYYMMDD）") from None
    if when < EARLIEST_DATE or when > today:
        raise _Cell(
            "commitment_code_date",
            f"「{code}」第7-14位日期 {when.isoformat()} 不在合理范围内（不能早于 1949-10-01或晚于今天）",
        )
    return code, when


def _date(value: Any) -> dt.date:
    try:
        d = parse_date(value)
    except (ValueError, TypeError, OverflowError):
        raise _Cell(
            "date_invalid",
            f"不是有效日期：{str(value)[:_SHOWN]}（可用 2024-03-15、2024/3/15、2024年3月15日、20240315）",
        ) from None
    assert d is not None
    if d < EARLIEST_DATE:
        raise _Cell("date_out_of_range", f"{d.isoformat()} 早于 1949-10-01，应为误填")
    return d


def _enum(table: Mapping[str, str], value: str, choices: str) -> str:
    found = table.get(value)
    if found is None:
        raise _Cell("enum_invalid", f"取值「{value[:_SHOWN]}」无效，应为 {choices}")
    return found


def _uscc(value: str) -> str:
    check = uscc.validate(value)
    if check.valid and check.normalized:
        return check.normalized
    raise _Cell(check.errors[0].code, "不是有效的统一社会信用代码：" + "；".join(e.message for e in check.errors))


class _Row:
    def __init__(self, number: int, hm: HeaderMap) -> None:
        self.number = number
        self.hm = hm
        self.errors: list[RowIssue] = []
        self.warnings: list[RowIssue] = []
        self.bad: set[str] = set()

    def issue(self, key: str, value: Any, code: str, message: str, *, warning: bool = False) -> None:
        shown = None if value is None else str(value)[:_SHOWN]
        if key == "promisor_code" and shown is not None:
            check = uscc.validate(shown)
            if not check.valid:
                shown = masking.mask_resident_id(shown)
        label = self.hm.label(key)
        item = RowIssue(self.number, label, shown, code, f"{label}{message}")
        if warning:
            self.warnings.append(item)
        else:
            self.errors.append(item)
            self.bad.add(key)


def validate_row(
    hm: HeaderMap, number: int, values: list[Any], *, today: dt.date, authorities: Authorities | None = None
) -> tuple[CommitmentInput | None, list[RowIssue]]:
    """Validate one row; returns the input (with warnings) or ``None`` and every error of the row.

    ``authorities``: the submitting department's (``auth.service.authorities_of``); the accepting unit must be one
    of them. None checks no accepting unit (the rules of the standard only)."""
    row = _Row(number, hm)
    text: dict[str, str] = {}
    out: dict[str, Any] = {}
    width = len(values)
    for f in FIELDS:
        idx = hm.columns.get(f.key)
        raw = values[idx] if idx is not None and idx < width else None
        if raw is None:
            continue
        if f.kind == "date" and not isinstance(raw, str):
            value: Any = raw
            shown = cell_text(raw)
        else:
            shown = raw if isinstance(raw, str) else cell_text(raw)
            cap = f.max_len if f.kind == "text" else _CAP
            if len(shown) > cap + 64:
                row.issue(f.key, shown, "too_long", f"超过{f.max_len}个字符（实为{len(shown)}个）")
                continue
            shown = shown.strip()
            value = shown
        if shown == "" or is_formula_error(shown):
            continue
        if f.kind == "text" and len(shown) > f.max_len:
            row.issue(f.key, shown, "too_long", f"超过{f.max_len}个字符（实为{len(shown)}个）")
            continue
        text[f.key] = shown
        try:
            out[f.key] = _convert(f, value, shown, today)
        except _Cell as exc:
            row.issue(f.key, shown, exc.code, exc.reason)
    for f in FIELDS:
        if f.required and f.key not in text and f.key not in row.bad:
            row.issue(f.key, None, "required_missing", "为必填项，不能为空")
    _cross_rules(row, text, out, today)
    if authorities is not None and not row.bad & {"accepting_unit", "accepting_unit_code"}:
        problem = authorities.check(
            name=text.get("accepting_unit"), uscc=out.get("accepting_unit_code"), label="承诺受理单位"
        )
        if problem is not None:
            key = "accepting_unit_code" if problem.field == "uscc" else "accepting_unit"
            row.bad.add(key)
            row.errors.append(RowIssue(number, hm.label(key), text.get(key), problem.code, problem.message))
    extra = {
        name: _json_cell(values[i])
        for i, name in hm.extra.items()
        if i < width and values[i] is not None and str(values[i]).strip()
    }
    if row.errors:
        return None, row.errors
    kind: PartyKind = out["promisor_kind"]
    status = out.get("fulfilment_status", "pending")
    type_key, type_text = out["commitment_type"]
    valid_until = out.get("valid_until")
    return CommitmentInput(
        row=number,
        code=out["code"][0],
        promisor_name=text["promisor_name"],
        promisor_kind=kind,
        promisor_uscc=out.get("_uscc"),
        promisor_id_number=out.get("_id_number"),
        commitment_type=type_key,
        type_text=type_text,
        reason=text["reason"],
        content=text["content"],
        liability=text["liability"],
        made_on=out["made_on"],
        valid_until=None if valid_until is OPEN_ENDED else valid_until,
        fulfilment_status=status,
        unfulfilled_content=text.get("unfulfilled_content"),
        liability_pursued=text.get("liability_pursued"),
        determined_on=out.get("determined_on"),
        determined_by=text.get("determined_by"),
        determined_by_code=out.get("determined_by_code"),
        accepting_unit=text["accepting_unit"],
        accepting_unit_code=out["accepting_unit_code"],
        public_type=out["public_type"],
        remarks=text.get("remarks"),
        extra=extra,
        warnings=row.warnings,
    ), row.warnings


OPEN_ENDED = object()


def _convert(f: Field, value: Any, shown: str, today: dt.date) -> Any:
    if f.kind == "commitment_code":
        return check_commitment_code(shown, today=today)
    if f.kind == "date":
        if f.key == "valid_until" and isinstance(value, str) and shown in std.OPEN_ENDED_WORDS:
            return OPEN_ENDED
        d = _date(value)
        if f.key == "valid_until" and d >= std.OPEN_ENDED_FROM:
            return OPEN_ENDED
        return d
    if f.kind == "uscc":
        return _uscc(shown)
    if f.key == "promisor_kind":
        kind = std.PARTY_KINDS.get(shown)
        if kind is None:
            raise _Cell("enum_invalid", f"取值「{shown[:_SHOWN]}」无效，应为 法人及非法人组织 / 个体工商户 / 自然人")
        return kind
    if f.key == "commitment_type":
        if shown.startswith("其他"):
            return "other", shown
        return _enum(_TYPES, shown, " / ".join(TYPE_LABELS.values())), None
    if f.key == "fulfilment_status":
        return _enum(STATUS_SPELLINGS, shown, "全部履行 / 部分履行 / 全部未履行（尚未认定的留空）")
    if f.key == "public_type":
        return _enum(_PUBLIC_TYPES, shown, "可向社会公开 / 特定范围内公开 / 不可公开")
    return shown  # promisor_code: checked with the kind


def _cross_rules(row: _Row, text: dict[str, str], out: dict[str, Any], today: dt.date) -> None:
    kind = out.get("promisor_kind")
    code = text.get("promisor_code")
    if code is not None and kind is not None:
        compact = "".join(unicodedata.normalize("NFKC", code).split()).upper()
        if kind is PartyKind.NATURAL_PERSON:
            check = resident_id.validate(compact)
            if check.valid and check.normalized:
                out["_id_number"] = check.normalized
            else:
                row.issue(
                    "promisor_code",
                    compact,
                    check.errors[0].code if check.errors else "resident_id_invalid",
                    "不是有效的居民身份证号码：" + "；".join(e.message for e in check.errors),
                )
        else:
            try:
                out["_uscc"] = _uscc(compact)
            except _Cell as exc:
                row.issue("promisor_code", compact, exc.code, exc.reason)
            else:
                if (kind is PartyKind.INDIVIDUAL_BUSINESS) != out["_uscc"].startswith("92"):
                    row.issue(
                        "promisor_code",
                        compact,
                        "party_kind_code_mismatch",
                        f"前两位为 {compact[:2]}，与承诺人类别不符（个体工商户的代码以 92 开头），请核对",
                        warning=True,
                    )
    made = out.get("made_on")
    if made is not None and made > today:
        row.issue("made_on", made.isoformat(), "date_in_future", f"{made.isoformat()} 晚于今天，承诺作出日期不能在未来")
    determined = out.get("determined_on")
    if determined is not None and determined > today:
        row.issue(
            "determined_on",
            determined.isoformat(),
            "date_in_future",
            f"{determined.isoformat()} 晚于今天，履行状态认定日期不能在未来",
        )
    for key in ("valid_until", "determined_on"):
        d = out.get(key)
        if made is not None and isinstance(d, dt.date) and d < made:
            row.issue(key, d.isoformat(), "date_order", f"{d.isoformat()} 早于承诺作出日期 {made.isoformat()}")
    coded = out.get("code")
    if coded is not None and made is not None and coded[1] != made:
        row.issue(
            "code",
            coded[0],
            "commitment_code_date_mismatch",
            f"中的日期 {coded[1].isoformat()} 与承诺作出日期 {made.isoformat()} 不一致，请核对",
            warning=True,
        )
    status = out.get("fulfilment_status")
    if status is not None and status not in ("fulfilled", "pending"):
        if "unfulfilled_content" not in text and "unfulfilled_content" not in row.bad:
            row.issue(
                "unfulfilled_content",
                None,
                "unfulfilled_content_missing",
                "为空：承诺履行状态不是「全部履行」时须填写未履行的承诺内容",
            )
        if "liability_pursued" not in text and "liability_pursued" not in row.bad:
            row.issue(
                "liability_pursued",
                None,
                "liability_pursued_missing",
                "为空：承诺履行状态不是「全部履行」时须填写违诺责任追究内容",
            )
    if status is None and ("determined_on" in out or "unfulfilled_content" in text or "liability_pursued" in text):
        row.issue(
            "fulfilment_status",
            None,
            "fulfilment_status_missing",
            "为空，但已填写履行状态认定日期或未履行内容：请填写承诺履行状态",
        )


def _json_cell(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
