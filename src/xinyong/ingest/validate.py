"""Validation of one 双公示 row against the standard → :class:`~xinyong.records.inputs.RecordInput` or issues.

Pure (no database) and built for bulk: a :class:`~xinyong.ingest.standards.HeaderMap` is compiled once into a
plan of ``(key, column, length cap, converter)``; a row is one pass over the plan, then the cross-field rules. The
happy path raises no exception and calls the explaining validators (``uscc.validate`` …) only to explain a failure.

Order of checks per cell: length first (a 50 MB cell is rejected by ``len()`` before anything touches it), then
trimming, formula errors (``#VALUE!`` …; a formula text such as ``=HYPERLINK(…)`` is kept as text: escaping is
the exporter's job), then the field's converter. Then, per row: required fields, the conditional rules, the
date consistency rules.

Rules (codes in brackets):

- required fields of the format [``required_missing``]; length limits of the standard [``too_long``];
- 法人及非法人组织 / 个体工商户: a valid USCC (its check characters, and the embedded organisation code); when the
  USCC cell is empty a legacy code (工商注册号, 组织机构代码, 税务登记号, 事业单位证书号, 社会组织登记证号) stands in, as
  the standard's fill rule ("required for those that have one") allows [``party_code_missing``]; an organisation
  code is checked too and must match USCC positions 9–17 [``org_code_*``, ``org_code_mismatch``]; the USCC of the
  authority and of the source unit are checked alike [``uscc_*``]; an invalid check character is a warning
  instead when ``HeaderMap.allow_bad_check`` (pilot-region codes);
- 自然人: 证件类型 and 证件号码 [``id_type_missing``, ``id_number_missing``], a valid resident ID when the type is
  身份证 [``resident_id_*``]; the legal representative's 身份证 number likewise. ID numbers never appear unmasked
  in an issue (first 6 and last 4 digits at most) and ``data`` holds them masked; the clear, normalised numbers
  are only in ``party_id_number`` / ``legal_rep_id_number`` (for the records side to encrypt);
- the authority rule (when the batch passes the submitting department's :class:`~xinyong.auth.authorities.Authorities`):
  处罚机关 / 许可机关 and their USCC must name one of the department's authorities, by code (the name agreeing with
  the registered one) or, without a code, by name [``authority_not_registered``, ``authority_name_mismatch``];
- 处罚类别 with 罚款 needs 罚款金额 > 0 [``fine_missing``, ``fine_not_positive``]; 没收… needs its amount
  [``confiscation_missing``]; 暂扣/吊销 needs 暂扣或吊销证照名称及编号 [``suspension_licence_missing``];
- enumerations [``enum_invalid``]; dates [``date_invalid``, ``date_out_of_range``, ``date_in_future``,
  ``date_order``]; amounts [``amount_invalid``, ``amount_negative``, ``amount_too_large``, ``amount_precision``];
- amounts are in 万元 as the standard says; a value written in 元 (``"15,000元"``: ends in 元 but not 万元) is
  converted (÷ 10,000) and flagged, not rejected; at most 6 decimals after conversion;
- ``doc_no_norm`` (identity of a decision with the authority's USCC): NFKC, every bracket form → 〔〕, no spaces,
  upper case (:func:`~xinyong.ingest.values.normalize_doc_no`); ``doc_no`` keeps the text as written;
- 有效期至 ``长期`` / on or after 2099-12-31 is open-ended: ``licence_valid_to = None`` and
  ``data["valid_to_open_ended"] = True``;
- conversions are memoised per HeaderMap (authorities, dates and amounts repeat within a file); errors and
  warnings are never memoised, and personal ID numbers are never cached;
- warnings (kept in ``RecordInput.warnings``): ``amount_unit_converted`` (a value in 元 was converted to 万元),
  ``uscc_check_digit`` (allowed bad check character), ``legal_rep_missing``, ``party_kind_code_mismatch`` (a 92…
  code for a legal person or another code for an individual business: provincial rule, not national),
  ``fine_without_type``, ``valid_from_before_decision``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, Protocol

from xinyong.auth.authorities import Authorities
from xinyong.catalog.rules import PartyKind
from xinyong.identifiers import masking, orgcode, resident_id, uscc
from xinyong.identifiers._text import compact as _compact
from xinyong.ingest import standards as std
from xinyong.ingest.standards import HeaderMap
from xinyong.ingest.values import (
    FORMULA_ERRORS,
    AmountError,
    normalize_doc_no,
    parse_amount_wan,
    parse_date,
)
from xinyong.records.inputs import RecordInput, RecordKind, RowIssue

#: Extra characters tolerated around a value before trimming; beyond that a cell is too long without looking at it.
_TRIM_SLACK = 64
#: Raw length cap of a cell whose value is a checked code, date, amount (its real limit is checked after parsing).
_CODE_CAP = 64
#: Dates before this are misreadings (an Excel serial "5", a year typo), not decisions of a credit authority.
EARLIEST_DATE = dt.date(1949, 10, 1)
_SHOWN = 60  # characters of a value repeated in an issue

_PARTY_CODE_KEYS = (
    "party_registration_no",
    "party_org_code",
    "party_tax_no",
    "party_institution_cert",
    "party_social_org_cert",
)
_RESIDENT_ID_REASONS = {
    "resident_id_length": "位数不对（应为18位，或15位旧号码）",
    "resident_id_charset": "含有不应出现的字符（只能是数字，第18位可为 X）",
    "resident_id_birth_date": "中的出生日期不是有效日期",
    "resident_id_check_digit": "校验码错误",
}


class _CellError(Exception):
    """A cell that cannot be accepted (error path only)."""

    def __init__(self, code: str, reason: str) -> None:
        self.code = code
        self.reason = reason


class _Warned:
    """A value accepted with a warning (returned, not raised: it is still the happy path)."""

    __slots__ = ("code", "reason", "value")

    def __init__(self, value: Any, code: str, reason: str) -> None:
        self.value = value
        self.code = code
        self.reason = reason


class _OpenEnded:
    """有效期至 = 长期 / 2099-12-31."""

    def __repr__(self) -> str:
        return "OPEN_ENDED"


OPEN_ENDED = _OpenEnded()

# ---------------------------------------------------------------------------------------------------- converters
# A converter takes a trimmed, non-empty cell and returns ``(value, json)``: the parsed value the rules use and
# its JSON form for ``RecordInput.data`` (computed once, then cached with the value). It raises _CellError or
# returns a _Warned pair.


def cell_text(value: Any) -> str:
    """A non-string cell as text: ``12345.0`` → ``"12345"`` (Excel stores codes as floats), dates in ISO."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _parse_date(v: Any) -> dt.date:
    if type(v) is str and len(v) == 10 and v[4] == "-" and v[7] == "-":
        try:
            d = dt.date.fromisoformat(v)
        except ValueError:
            raise _CellError("date_invalid", f"不是有效日期：{v}") from None
    else:
        try:
            d = parse_date(v)  # type: ignore[assignment]
        except (ValueError, TypeError, OverflowError):
            raise _CellError(
                "date_invalid",
                f"不是有效日期：{str(v)[:_SHOWN]}（可用 2019-10-10、2019/10/10、2019年10月10日、20191010）",
            ) from None
        assert d is not None  # the cell is not empty
    if d < EARLIEST_DATE:
        raise _CellError("date_out_of_range", f"日期 {d.isoformat()} 早于 1949-10-01，应为误填")
    return d


def _conv_date(v: Any) -> tuple[dt.date, str]:
    d = _parse_date(v)
    return d, d.isoformat()


def _conv_valid_to(v: Any) -> tuple[dt.date | _OpenEnded, str | None]:
    if type(v) is str and v in std.OPEN_ENDED_WORDS:
        return OPEN_ENDED, None
    d = _parse_date(v)
    return (OPEN_ENDED, None) if d >= std.OPEN_ENDED_FROM else (d, d.isoformat())


def _conv_amount(v: Any) -> tuple[Decimal, str] | _Warned:
    try:
        amount, converted = parse_amount_wan(v)
    except AmountError as exc:
        raise _CellError(exc.code, exc.message) from None
    assert amount is not None  # the cell is not empty
    if converted:
        return _Warned(
            (amount, str(amount)), "amount_unit_converted", f"按「元」填写的金额 {v} 已换算为 {amount} 万元，请核对"
        )
    return amount, str(amount)


_PARTY_KIND_PAIRS = {text: (kind, kind.value) for text, kind in std.PARTY_KINDS.items()}


def _conv_party_kind(v: Any) -> tuple[PartyKind, str]:
    pair = _PARTY_KIND_PAIRS.get(v) if type(v) is str else None
    if pair is None:
        raise _CellError("enum_invalid", f"取值「{str(v)[:_SHOWN]}」无效，应为 法人及非法人组织 / 自然人 / 个体工商户")
    return pair


_PENALTY_TYPE_SET = frozenset(std.PENALTY_TYPES)
_PENALTY_SPLIT = str.maketrans({ch: "、" for ch in std.PENALTY_TYPE_SEPARATORS})
_FINE, _CONFISCATION, _SUSPENSION = 1, 2, 4
#: The conditional rules each penalty type triggers (罚款 → amount, 没收… → amount, 暂扣/吊销 → licence named).
_TYPE_FLAGS = {
    t: (_FINE if t == "罚款" else 0)
    | (_CONFISCATION if t.startswith("没收") else 0)
    | (_SUSPENSION if "暂扣" in t or "吊销" in t else 0)
    for t in std.PENALTY_TYPES
}


def _conv_penalty_types(v: Any) -> tuple[tuple[str, ...], None]:
    """Several values split on 、；;，, (JSON form: made a list when the record is built)."""
    if type(v) is not str:
        v = cell_text(v)
    if v in _PENALTY_TYPE_SET:
        return (v,), None
    types: list[str] = []
    bad: list[str] = []
    for part in v.translate(_PENALTY_SPLIT).split("、"):
        part = part.strip()
        if not part or part in types:
            continue
        if part in _PENALTY_TYPE_SET or part.startswith("其他"):
            types.append(part)
        else:
            bad.append(part)
    if bad:
        raise _CellError(
            "enum_invalid",
            f"含有不在标准中的处罚类别「{'、'.join(bad)[:_SHOWN]}」"
            f"（应为 {'、'.join(std.PENALTY_TYPES[:14])} 等，多个值用顿号分隔）",
        )
    return tuple(types), None


_LICENCE_CATEGORY_SET = frozenset(std.LICENCE_CATEGORIES)


def _conv_licence_category(v: Any) -> tuple[str, str]:
    """The category (其他 for 其他-…) and, as JSON, the text as written (其他-备案)."""
    if type(v) is str:
        if v in _LICENCE_CATEGORY_SET:
            return v, v
        if v.startswith("其他"):
            return "其他", v
        if v.endswith("许可") and v[:-2] in _LICENCE_CATEGORY_SET:  # 普通许可, 特许许可
            return v[:-2], v[:-2]
    raise _CellError(
        "enum_invalid",
        f"取值「{str(v)[:_SHOWN]}」无效，应为 普通 / 特许 / 认可 / 核准 / 登记 / 其他（其他须注明具体类型）",
    )


_STATUS_PAIRS = {text: (valid, "1" if valid else "2") for text, valid in std.STATUSES.items()}


def _conv_status(v: Any) -> tuple[bool, str]:
    pair = _STATUS_PAIRS.get(v if type(v) is str else cell_text(v))
    if pair is None:
        raise _CellError("enum_invalid", f"取值「{str(v)[:_SHOWN]}」无效，应为 1（有效）或 2（无效）")
    return pair


_ID_TYPE_SET = frozenset(std.ID_TYPES) | std.RESIDENT_ID_TYPES


def _conv_id_type(v: Any) -> tuple[str, str]:
    if type(v) is str and (v in _ID_TYPE_SET or v.startswith("其他")):
        return v, v
    raise _CellError(
        "enum_invalid", f"取值「{str(v)[:_SHOWN]}」无效，应为 {'、'.join(std.ID_TYPES[:-1])}，或以「其他-」开头"
    )


def _conv_id_number(v: Any) -> tuple[str, str]:
    """ID numbers are checked later, with their type; compacted (spaces, full-width, lower-case x) and masked."""
    c = _compact(v if type(v) is str else cell_text(v))
    return c, masking.mask_resident_id(c)


def _conv_org_code(v: Any) -> tuple[str, str]:
    c = _compact(v if type(v) is str else cell_text(v))
    if orgcode.is_valid(c):
        return c, c
    check = orgcode.validate(c)
    raise _CellError(check.errors[0].code, "不是有效的组织机构代码：" + "；".join(e.message for e in check.errors))


def _uscc_converter(allow_bad_check: bool) -> Callable[[Any], Any]:
    is_valid = uscc.is_valid

    def conv(v: Any) -> Any:
        c = _compact(v if type(v) is str else cell_text(v))
        if is_valid(c):
            return c, c
        check = uscc.validate(c, allow_bad_check=allow_bad_check)
        if check.valid:
            code = check.normalized
            for w in check.warnings:
                if w.code == "uscc_check_digit":
                    return _Warned((code, code), w.code, "统一社会信用代码" + w.message)
            return code, code
        raise _CellError(
            check.errors[0].code, "不是有效的统一社会信用代码：" + "；".join(e.message for e in check.errors)
        )

    return conv


#: Entries per column of the conversion cache (cleared when full): files repeat authorities, dates, amounts.
CACHE_SIZE = 4096


def _cached(conv: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Memoise a converter's successful results for text cells (errors and warnings are never cached: each row
    must report its own). Results are immutable (str, date, Decimal, tuple), so sharing them is safe."""
    cache: dict[str, Any] = {}
    get = cache.get

    def conv_cached(v: Any) -> Any:
        r = get(v) if type(v) is str else None
        if r is None:
            r = conv(v)
            if type(v) is str and type(r) is not _Warned:
                if len(cache) >= CACHE_SIZE:
                    cache.clear()
                cache[v] = r
        return r

    return conv_cached


def _converter(f: std.StandardField, allow_bad_check: bool) -> Callable[[Any], Any] | None:
    """The field's converter; None for text (and unchecked codes): trimmed and length-checked only."""
    if f.type == "enum" and f.enum in ("party_kind", "status"):
        return _conv_party_kind if f.enum == "party_kind" else _conv_status  # a dict look-up already
    conv: Callable[[Any], Any]
    if f.key == "valid_to":
        conv = _conv_valid_to
    elif f.type == "date":
        conv = _conv_date
    elif f.type == "amount":
        conv = _conv_amount
    elif f.enum == "penalty_type":
        conv = _conv_penalty_types
    elif f.enum == "licence_category":
        conv = _conv_licence_category
    elif f.enum == "id_type":
        conv = _conv_id_type
    elif f.check == "uscc":
        conv = _uscc_converter(allow_bad_check)
    elif f.check == "org_code":
        conv = _conv_org_code
    elif f.check == "id_number":
        return _conv_id_number  # personal: never cached
    else:
        return None
    return _cached(conv)


# ---------------------------------------------------------------------------------------------------- compile


class _Plan:
    """A HeaderMap compiled for row validation (built once, cached on the HeaderMap)."""

    def __init__(self, hm: HeaderMap) -> None:
        fields = std.FIELDS[hm.kind]
        self.kind = hm.kind
        self.legacy = hm.format == "legacy_2016"
        self.today = hm.today or dt.date.today()
        self.cells: list[tuple[str, int, int, Callable[[Any], Any] | None]] = []
        for f in fields:
            idx = hm.columns.get(f.key)
            if idx is None:
                continue
            conv = _converter(f, hm.allow_bad_check)
            cap = f.max_len if conv is None or f.type == "enum" else max(f.max_len, _CODE_CAP)
            self.cells.append((f.key, idx, cap, conv))
        self.width = max([i + 1 for _, i, _, _ in self.cells] + [i + 1 for i in hm.extra] + [0])
        self.required = frozenset(hm.required)
        self.required_order = tuple(f.key for f in fields if f.key in hm.required)
        self.extra = sorted(hm.extra.items())
        self.personal = frozenset(f.key for f in fields if f.personal)
        self.has_kind_column = "party_kind" in hm.columns
        self.headers = {f.key: hm.header_of(f.key) for f in fields}
        self.code_keys = tuple(k for k in _PARTY_CODE_KEYS if k in hm.columns)
        self.authority_label = std.field_of(hm.kind, "authority").zh or "决定机关"


def _plan(hm: HeaderMap) -> _Plan:
    plan = hm._compiled
    if plan is None:
        plan = hm._compiled = _Plan(hm)
    return plan


def _shown(value: Any, personal: bool) -> str | None:
    if value is None:
        return None
    text = value if type(value) is str else cell_text(value)
    if personal:
        return masking.mask_resident_id(text[:_CODE_CAP])
    if len(text) > _SHOWN:
        return f"{text[:_SHOWN]}…（共 {len(text)} 字符）"
    return text


class _IssuePlan(Protocol):
    """What a row's issues need of its file's plan: each field's header as sent, and which fields are personal."""

    headers: dict[str, str]
    personal: frozenset[str]


class _Row:
    """Issue collection of one row (of a 双公示 file, or of another class's: ``ingest.classes``)."""

    __slots__ = ("bad", "errors", "number", "plan", "warnings")

    def __init__(self, plan: _IssuePlan, number: int) -> None:
        self.plan = plan
        self.number = number
        self.errors: list[RowIssue] = []
        self.warnings: list[RowIssue] = []
        self.bad: set[str] = set()

    def _issue(self, key: str, value: Any, code: str, reason: str, header: str | None = None) -> RowIssue:
        header = header or self.plan.headers[key]
        return RowIssue(self.number, header, _shown(value, key in self.plan.personal), code, f"「{header}」{reason}")

    def error(self, key: str, value: Any, code: str, reason: str, header: str | None = None) -> None:
        self.bad.add(key)
        self.errors.append(self._issue(key, value, code, reason, header))

    def warn(self, key: str, value: Any, code: str, reason: str) -> None:
        self.warnings.append(self._issue(key, value, code, reason))


def read_cells(
    cells: Sequence[tuple[str, int, int, Any]], row: _Row, values: Sequence[Any], *, text_parsed: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The standard fields of one row: ``(data, out)`` — the JSON form of every field, and the parsed value of the
    typed ones (dates, amounts, enums, codes; with ``text_parsed`` the text fields too). Each cell is held to its
    length, stripped, refused as a spreadsheet formula error, and converted; problems go to ``row``. One loop for
    every information class (``ingest.classes`` calls it too): the row validator's hot path."""
    data: dict[str, Any] = {}
    out: dict[str, Any] = {}
    for key, idx, cap, conv in cells:
        v = values[idx]
        if v is None:
            continue
        if conv is None and type(v) is not str:
            v = cell_text(v)  # a number in a text column is text, held to its length (1e308 has 309 digits)
        if type(v) is str:
            if len(v) > cap and (len(v) > cap + _TRIM_SLACK or len(v.strip()) > cap):
                row.error(
                    key,
                    v,
                    "too_long",
                    f"长度 {len(v.strip()) if len(v) <= cap + _TRIM_SLACK else len(v)} 超过标准规定的 {cap} 个字符",
                )
                continue
            v = v.strip()
            if not v:
                continue
            if v[0] == "#" and v.upper() in FORMULA_ERRORS:
                row.error(key, v, "formula_error", f"是公式计算错误「{v}」，不是数据，请在原表中修正公式后重新导出")
                continue
        if conv is None:
            data[key] = v
            if text_parsed:
                out[key] = v
            continue
        try:
            r = conv(v)
        except _CellError as exc:
            row.error(key, v, exc.code, exc.reason)
            continue
        if type(r) is _Warned:
            row.warn(key, v, r.code, r.reason)
            r = r.value
        out[key], data[key] = r
    return data, out


def read_extra(
    columns: Sequence[tuple[int, str]], row: _Row, values: Sequence[Any], as_json: Callable[[Any], Any]
) -> dict[str, Any]:
    """The row's columns outside the standard, by their header (a repeated header gets ``[column number]``), each
    held to ``std.EXTRA_MAX_LEN``; ``as_json`` turns a non-text cell into its stored form."""
    extra: dict[str, Any] = {}
    for idx, header in columns:
        v = values[idx]
        if v is None or v == "":
            continue
        if type(v) is str and len(v) > std.EXTRA_MAX_LEN:
            row.error("", v, "too_long", f"长度 {len(v)} 超过 {std.EXTRA_MAX_LEN} 个字符（标准外的列）", header=header)
            continue
        if header in extra:
            header = f"{header}[{idx + 1}]"
        extra[header] = v if type(v) is str else as_json(v)
    return extra


# ---------------------------------------------------------------------------------------------------- the row


def validate_row(
    kind: RecordKind,
    header_map: HeaderMap,
    row_number: int,
    values: Sequence[Any],
    authorities: Authorities | None = None,
) -> tuple[RecordInput | None, list[RowIssue]]:
    """Validate one data row of a file whose header row gave ``header_map``.

    ``authorities``: the submitting department's (``auth.service.authorities_of``); the row's deciding authority
    must be one of them. None checks no authority (the rules of the standard only).

    Returns ``(record, [])`` for a valid row (its warnings are in ``record.warnings``), or ``(None, errors)``:
    every error of the row, each with the row number, the column as the sender named it, the value as sent
    (ID numbers masked, long values cut), a stable code and a Chinese message. ``values`` align with the headers
    given to :func:`~xinyong.ingest.standards.detect_format`; missing trailing cells count as empty.
    """
    if kind is not header_map.kind:
        raise ValueError(f"header map is for {header_map.kind}, not {kind}")
    plan = header_map._compiled or _plan(header_map)
    if len(values) < plan.width:
        values = [*values, *([None] * (plan.width - len(values)))]
    row = _Row(plan, row_number)
    data, out = read_cells(plan.cells, row, values)
    extra = read_extra(plan.extra, row, values, _extra_value)

    if not plan.required.issubset(data):
        for key in plan.required_order:
            if key not in data and key not in row.bad:
                row.error(key, None, "required_missing", "为必填项，不能为空")

    party_kind = _party_rules(plan, row, data, out)
    if kind is RecordKind.PENALTY:
        _penalty_rules(plan, row, data, out)
    else:
        _licence_rules(plan, row, data, out)
    if authorities is not None:
        _authority_rule(plan, row, data, out, authorities)
    if row.errors:
        return None, row.errors
    assert party_kind is not None
    return _record(plan, row, data, out, party_kind, extra), []


def _extra_value(v: Any) -> Any:
    """A non-text cell outside the standard as stored: integers and booleans as they are, the rest by :func:`_json`."""
    return v if type(v) is int or v is True or v is False else _json(v)


def _json(v: Any) -> Any:
    if isinstance(v, float):
        return v if v == v and v not in (float("inf"), float("-inf")) else str(v)
    if isinstance(v, dt.date | dt.time):
        return v.isoformat()
    return str(v)


def _check_resident_id(row: _Row, key: str, number: str) -> str | None:
    """Normalised 18-digit number, or None after recording the error (without the number in the message)."""
    if resident_id.is_valid(number):
        return number if len(number) == 18 else resident_id.to_18(number)
    check = resident_id.validate(number)
    if check.valid:
        return check.normalized
    reasons = "；".join(dict.fromkeys(_RESIDENT_ID_REASONS.get(e.code, "无效") for e in check.errors))
    row.error(key, number, check.errors[0].code, f"不是有效的居民身份证号码：{reasons}")
    return None


def _infer_party_kind(data: dict[str, Any]) -> PartyKind | None:
    """2016 files have no 行政相对人类别: a 92… USCC is an individual business, other codes a legal person, a bare
    身份证号 a natural person."""
    code = data.get("party_uscc")
    if code:
        return PartyKind.INDIVIDUAL_BUSINESS if code.startswith("92") else PartyKind.LEGAL_PERSON
    if any(k in data for k in _PARTY_CODE_KEYS):
        return PartyKind.LEGAL_PERSON
    if "party_id_no" in data:
        return PartyKind.NATURAL_PERSON
    return None


def _party_rules(plan: _Plan, row: _Row, data: dict[str, Any], out: dict[str, Any]) -> PartyKind | None:
    kind: PartyKind | None = out.get("party_kind")
    if kind is None:
        if plan.has_kind_column or "party_kind" in row.bad:
            return None  # reported as required_missing / enum_invalid
        kind = _infer_party_kind(data)
        if kind is None:
            row.error(
                "party_kind",
                None,
                "party_kind_undetermined",
                "缺失，且无法从统一社会信用代码、其他代码或身份证号推断行政相对人类别",
            )
            return None
        out["party_kind"] = kind
        data["party_kind"] = kind.value
        data["party_kind_inferred"] = True

    if kind is PartyKind.NATURAL_PERSON:
        id_type = out.get("party_id_type")
        number = out.get("party_id_no")
        if id_type is None and number is not None and plan.legacy:
            id_type = out["party_id_type"] = data["party_id_type"] = "身份证"  # the 2016 column is …_XDR_SFZ
        if id_type is None and "party_id_type" not in row.bad:
            row.error("party_id_type", None, "id_type_missing", "为空：行政相对人为自然人时须填写证件类型")
        if number is None:
            if "party_id_no" not in row.bad:
                row.error("party_id_no", None, "id_number_missing", "为空：行政相对人为自然人时须填写证件号码")
        elif id_type in std.RESIDENT_ID_TYPES:
            normalized = _check_resident_id(row, "party_id_no", number)
            if normalized is not None and normalized != number:
                out["party_id_no"], data["party_id_no"] = normalized, masking.mask_resident_id(normalized)
    else:
        code = out.get("party_uscc")
        if code is None:
            if "party_uscc" not in row.bad and not any(k in data for k in plan.code_keys):
                row.error(
                    "party_uscc",
                    None,
                    "party_code_missing",
                    "为空：法人及非法人组织、个体工商户须填写统一社会信用代码"
                    "（尚无统一社会信用代码的，填写工商注册号、组织机构代码等其他代码）",
                )
        else:
            if (kind is PartyKind.INDIVIDUAL_BUSINESS) != code.startswith("92"):
                label = "个体工商户" if kind is PartyKind.INDIVIDUAL_BUSINESS else "法人及非法人组织"
                row.warn(
                    "party_uscc",
                    code,
                    "party_kind_code_mismatch",
                    f"前两位为 {code[:2]}，与行政相对人类别「{label}」不符（个体工商户的代码以 92 开头），请核对",
                )
            org = out.get("party_org_code")
            if org is not None and org != code[8:17]:
                row.error(
                    "party_org_code",
                    org,
                    "org_code_mismatch",
                    f"与统一社会信用代码第9-17位（{code[8:17]}）不一致（错码）",
                )
        if "legal_rep" not in data and "legal_rep" not in row.bad:
            row.warn(
                "legal_rep", None, "legal_rep_missing", "为空：法人及非法人组织、个体工商户应填写法定代表人（负责人）"
            )

    rep_id = out.get("legal_rep_id_no")
    if rep_id is not None:
        rep_type = out.get("legal_rep_id_type")
        if rep_type in std.RESIDENT_ID_TYPES or (rep_type is None and len(rep_id) in (15, 18)):
            normalized = _check_resident_id(row, "legal_rep_id_no", rep_id)
            if normalized is not None and normalized != rep_id:
                out["legal_rep_id_no"], data["legal_rep_id_no"] = normalized, masking.mask_resident_id(normalized)
    return kind


def _not_in_future(plan: _Plan, row: _Row, decision: dt.date | None) -> None:
    if decision is not None and decision > plan.today:
        row.error("decision_date", decision, "date_in_future", f"{decision.isoformat()} 晚于今天，决定日期不能在未来")


def _not_before(row: _Row, out: dict[str, Any], key: str, decision: dt.date | None, what: str) -> None:
    d = out.get(key)
    if decision is not None and type(d) is dt.date and d < decision:
        row.error(key, d, "date_order", f"{d.isoformat()} 早于{what} {decision.isoformat()}")


def _penalty_rules(plan: _Plan, row: _Row, data: dict[str, Any], out: dict[str, Any]) -> None:
    second = out.pop("penalty_types_2", None)
    data.pop("penalty_types_2", None)
    if second:
        first = out.get("penalty_types", ())
        out["penalty_types"] = first + tuple(t for t in second if t not in first)
    types = out.get("penalty_types", ())
    flags = 0
    for t in types:
        flags |= _TYPE_FLAGS.get(t, 0)
    fine = out.get("fine_wan")
    if flags & _FINE:
        if fine is None:
            if "fine_wan" not in row.bad:
                row.error("fine_wan", None, "fine_missing", "为空：处罚类别含「罚款」时须填写罚款金额（万元）")
        elif fine <= 0:
            row.error("fine_wan", fine, "fine_not_positive", "应大于 0：处罚类别含「罚款」")
    elif fine is not None and fine > 0 and types:
        row.warn("fine_wan", fine, "fine_without_type", "已填写，但处罚类别不含「罚款」，请核对")
    if flags & _CONFISCATION and "confiscated_wan" not in out and "confiscated_wan" not in row.bad:
        row.error(
            "confiscated_wan",
            None,
            "confiscation_missing",
            "为空：处罚类别含「没收违法所得」或「没收非法财物」时须填写没收金额（万元）",
        )
    if flags & _SUSPENSION and "licence_revoked" not in data and "licence_revoked" not in row.bad:
        row.error(
            "licence_revoked",
            None,
            "suspension_licence_missing",
            "为空：处罚类别含暂扣或吊销许可证件（执照）时须填写被暂扣或吊销的证照名称及编号",
        )
    decision = out.get("decision_date")
    _not_in_future(plan, row, decision)
    _not_before(row, out, "penalty_valid_to", decision, "处罚决定日期")
    _not_before(row, out, "publicity_end", decision, "处罚决定日期")


def _licence_rules(plan: _Plan, row: _Row, data: dict[str, Any], out: dict[str, Any]) -> None:
    decision = out.get("decision_date")
    _not_in_future(plan, row, decision)
    start = out.get("valid_from")
    end = out.get("valid_to")
    if end is OPEN_ENDED:
        data["valid_to_open_ended"] = True
    elif end is not None:
        if start is not None and end < start:
            row.error("valid_to", end, "date_order", f"{end.isoformat()} 早于有效期自 {start.isoformat()}")
        else:
            _not_before(row, out, "valid_to", decision, "许可决定日期")
    if start is not None and decision is not None and start < decision:
        row.warn(
            "valid_from",
            start,
            "valid_from_before_decision",
            f"{start.isoformat()} 早于许可决定日期 {decision.isoformat()}，请核对",
        )


def _authority_rule(
    plan: _Plan, row: _Row, data: dict[str, Any], out: dict[str, Any], authorities: Authorities
) -> None:
    """The deciding authority must be one the department reports for (``auth.authorities``); an authority cell
    already refused (missing, malformed code) is not judged again."""
    bad = row.bad
    if bad and ("authority" in bad or "authority_uscc" in bad):
        return
    name, code = data.get("authority"), out.get("authority_uscc")
    problem = authorities.check(name=name, uscc=code, label=plan.authority_label)
    if problem is not None:
        key = "authority_uscc" if problem.field == "uscc" else "authority"
        row.bad.add(key)
        row.errors.append(
            RowIssue(
                row.number,
                plan.headers[key],
                _shown(code if key == "authority_uscc" else name, False),
                problem.code,
                problem.message,
            )
        )


def _record(
    plan: _Plan, row: _Row, data: dict[str, Any], out: dict[str, Any], party_kind: PartyKind, extra: dict[str, Any]
) -> RecordInput:
    get = out.get
    types = get("penalty_types")
    if types is not None:
        data["penalty_types"] = list(types)
    doc_no = data.get("doc_no", "")
    valid_to = get("valid_to")
    return RecordInput(
        kind=plan.kind,
        row=row.number,
        party_name=data["party_name"],
        party_kind=party_kind,
        party_uscc=get("party_uscc"),
        party_codes={k[6:]: data[k] for k in plan.code_keys if k in data} if plan.code_keys else {},
        party_id_type=get("party_id_type"),
        party_id_number=get("party_id_no"),
        legal_rep=data.get("legal_rep"),
        legal_rep_id_number=get("legal_rep_id_no"),
        doc_no=doc_no,
        doc_no_norm=normalize_doc_no(doc_no),
        decision_date=get("decision_date"),
        authority=data.get("authority", ""),
        authority_uscc=get("authority_uscc", ""),
        source_unit=data.get("source_unit", ""),
        source_unit_uscc=get("source_unit_uscc", ""),
        licence_valid_from=get("valid_from"),
        licence_valid_to=None if valid_to is OPEN_ENDED else valid_to,
        licence_category=get("licence_category"),
        current_status_valid=get("status", True),
        penalty_types=list(types) if types else [],
        fine_wan=get("fine_wan"),
        confiscated_wan=get("confiscated_wan"),
        penalty_valid_to=get("penalty_valid_to"),
        publicity_end=get("publicity_end"),
        data=data,
        extra=extra,
        warnings=row.warnings,
    )
