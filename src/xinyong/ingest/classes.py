"""The generic collection path (issue #18): rows of any information class validated against its data standard
(``catalog/data/classes/<code>.yaml``, :mod:`xinyong.catalog.fields`) into the same
:class:`~xinyong.records.inputs.RecordInput` the 双公示 path produces, so batches, versions, provenance, publicity
and the exchange feed are the same code for every class.

Licences and penalties keep their specialised validator (:mod:`xinyong.ingest.validate`, ``fast_path: true`` in
their standard); every other class is validated here, with the same issue codes and message style where the rule
is the same (``required_missing``, ``too_long``, ``formula_error``, ``enum_invalid``, ``date_invalid``,
``date_in_future``, ``date_order``, ``amount_*``, ``uscc_*``, ``resident_id_*``, ``party_code_missing``,
``authority_not_registered`` …) plus ``conditional_missing`` (a ``required_if`` rule), ``int_invalid`` and
``party_kind_not_applicable`` (a natural person in a class without personal fields).

Mapping onto a record: the fields with a ``role`` are the party, the deciding authority and the status; the
identity key's fields make ``doc_no_norm`` (document numbers normalised as 文号; a personal number contributes its
keyed hash, never the number); ``publicity.start_field`` is the record's start date (``decision_date``) and
``publicity.end_field`` its validity end; a ``domain`` field picks a publicity exception of the catalog. Every
field's value is kept in ``RecordInput.data`` (ID numbers masked).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from xinyong.auth.authorities import Authorities
from xinyong.catalog.fields import ClassStandard, FieldSpec, generic_kinds, standard_of, standards
from xinyong.catalog.rules import PartyKind
from xinyong.core.errors import ValidationFailed
from xinyong.identifiers import masking, resident_id
from xinyong.identifiers.vault import get_vault
from xinyong.ingest import standards as std
from xinyong.ingest.readers import normalize_header
from xinyong.ingest.validate import (
    _CODE_CAP,
    _CellError,
    _conv_amount,
    _conv_date,
    _conv_id_number,
    _conv_id_type,
    _conv_org_code,
    _conv_party_kind,
    _Row,
    _shown,
    _uscc_converter,
    cell_text,
    read_cells,
    read_extra,
)
from xinyong.ingest.values import AmountError, normalize_doc_no, yuan_to_fen
from xinyong.records.inputs import RecordInput, RowIssue

_TRIM_SLACK = 64
_HUNDRED = Decimal(100)
#: doc_no_norm / doc_no are String(200): a longer identity is kept as its hash.
_ID_MAX = 200
_RESIDENT_ID_REASONS = {
    "resident_id_length": "位数不对（应为18位，或15位旧号码）",
    "resident_id_charset": "含有不应出现的字符（只能是数字，第18位可为 X）",
    "resident_id_birth_date": "中的出生日期不是有效日期",
    "resident_id_check_digit": "校验码错误",
}


def header_key(header: Any) -> str:
    return std.header_key(header)


def _keys(standard: ClassStandard) -> dict[str, str]:
    return {header_key(n): f.key for f in standard.fields for n in f.names()}


def class_headers() -> set[str]:
    """Every column name of the generic classes, for ``open_table(known_headers=…)`` (the header-row search)."""
    names: set[str] = set()
    for code in generic_kinds():
        for f in standards()[code].fields:
            for n in f.names():
                names.add(normalize_header(n))
                if n.isascii():
                    names.add(normalize_header(n).lower())
    return names


def guess_class(headers: Iterable[Any]) -> str:
    """The class of a file from its header row: the class (双公示 included) with the most columns of its own.
    ``ValidationFailed(code="kind_unknown")`` when two classes tie or nothing matches."""
    keys = {header_key(h) for h in headers if h is not None}
    owners: Counter[str] = Counter()
    for standard in standards().values():
        for k in _keys(standard):
            owners[k] += 1
    scores = {
        code: sum(1 for k in _keys(standard) if k in keys and owners[k] == 1) for code, standard in standards().items()
    }
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    if not ranked or ranked[0][1] == 0 or (len(ranked) > 1 and ranked[0][1] == ranked[1][1]):
        raise ValidationFailed(
            "无法从列名判断文件的信息类别，请指定类型（--kind）",
            code="kind_unknown",
            details={"scores": {k: v for k, v in ranked if v}},
        )
    return ranked[0][0]


@dataclass
class ClassHeaderMap(std.HeaderColumns):
    """How a file's columns map onto a class's standard (the generic counterpart of ``standards.HeaderMap``)."""

    spec: ClassStandard
    format: str  # class_zh | class_coded
    headers: list[str]
    columns: dict[str, int]
    extra: dict[int, str]
    missing: list[str]
    today: dt.date | None = None
    _compiled: Any = field(default=None, repr=False, compare=False)

    @property
    def kind(self) -> str:
        return self.spec.code

    @property
    def standard(self) -> str:
        """The format detected (the batch's ``standard``, as ``standards.HeaderMap.standard``)."""
        return self.format

    def _standard_header(self, key: str) -> str:
        f = self.spec.field(key)
        return f.coded if self.format == "class_coded" and f.coded else f.label

    def _missing_message(self) -> str:
        return f"{self.spec.name_zh}文件缺少必填列：{'、'.join(self.missing)}"


def detect_class_format(code: str, headers: Iterable[Any], *, today: dt.date | None = None) -> ClassHeaderMap:
    standard = standard_of(code)
    if standard.fast_path:
        raise ValueError(f"{code} is validated by ingest.validate (fast path)")
    headers = ["" if h is None else str(h) for h in headers]
    zh = {header_key(n) for f in standard.fields for n in (f.zh, *f.aliases) if n}
    coded = {header_key(n) for f in standard.fields for n in (f.coded, *f.legacy) if n}
    lookup = _keys(standard)
    keys = [header_key(h) for h in headers]
    fmt = "class_coded" if sum(k in coded for k in keys) > sum(k in zh for k in keys) else "class_zh"
    columns: dict[str, int] = {}
    extra: dict[int, str] = {}
    for i, k in enumerate(keys):
        if not k:
            continue
        key = lookup.get(k)
        if key is None or key in columns:
            extra[i] = headers[i]
        else:
            columns[key] = i
    missing = [
        (f.coded if fmt == "class_coded" and f.coded else f.label)
        for f in standard.fields
        if f.required and f.key not in columns
    ]
    return ClassHeaderMap(standard, fmt, headers, columns, extra, missing, today=today)


# ---------------------------------------------------------------------------------------------------- converters


def _conv_int(v: Any) -> tuple[int, int]:
    text = v if type(v) is str else cell_text(v)
    try:
        n = int(text)
    except ValueError:
        raise _CellError("int_invalid", f"不是整数：{text[:40]}") from None
    return n, n


def _conv_yuan(v: Any) -> tuple[Decimal, str]:
    try:
        fen = yuan_to_fen(v)
    except AmountError as exc:
        raise _CellError(exc.code, exc.message) from None
    assert fen is not None
    amount = Decimal(fen) / _HUNDRED
    return amount, str(amount)


def _enum_converter(f: FieldSpec) -> Callable[[Any], Any]:
    if f.enum == "party_kind":
        return _conv_party_kind
    if f.enum == "id_type":
        return _conv_id_type
    allowed = {v: v for v in f.values}
    if f.role == "status":  # 有效 / 无效 and the words departments write instead (ingest.standards.STATUSES)
        allowed.update({w: ("有效" if ok else "无效") for w, ok in std.STATUSES.items()})
    shown = " / ".join(f.values)

    def conv(v: Any) -> tuple[str, str]:
        text = v if type(v) is str else cell_text(v)
        found = allowed.get(text)
        if found is None:
            raise _CellError("enum_invalid", f"取值「{text[:60]}」无效，应为 {shown}")
        return found, found

    return conv


def _converter(f: FieldSpec) -> Callable[[Any], Any] | None:
    if f.type == "date":
        return _conv_date
    if f.type == "amount":
        return _conv_yuan if f.unit == "元" else _conv_amount
    if f.type == "int":
        return _conv_int
    if f.type == "enum":
        return _enum_converter(f)
    if f.check == "uscc":
        return _uscc_converter(False)
    if f.check == "org_code":
        return _conv_org_code
    if f.check == "id_number":
        return _conv_id_number
    return None


class _Plan:
    def __init__(self, hm: ClassHeaderMap) -> None:
        s = hm.spec
        self.standard = s
        self.kind = s.code
        self.today = hm.today or dt.date.today()
        self.cells: list[tuple[str, int, int, Callable[[Any], Any] | None]] = []
        for f in s.fields:
            idx = hm.columns.get(f.key)
            if idx is None:
                continue
            conv = _converter(f)
            cap = f.max_len if conv is None or f.type == "enum" else max(f.max_len, _CODE_CAP)
            self.cells.append((f.key, idx, cap, conv))
        self.width = max([i + 1 for _, i, _, _ in self.cells] + [i + 1 for i in hm.extra] + [0])
        self.extra = sorted(hm.extra.items())
        self.headers = {f.key: hm.header_of(f.key) for f in s.fields}
        self.personal = frozenset(f.key for f in s.fields if f.personal)
        self.required = [f.key for f in s.fields if f.required]
        self.conditional = [(f.key, f.required_if) for f in s.fields if f.required_if is not None]
        self.role = {f.role: f.key for f in s.fields if f.role}
        self.persons = "party_id_no" in self.role
        self.start = s.publicity.start_field
        self.end = s.publicity.end_field
        self.authority_label = s.field(self.role["authority"]).label
        self.identity = [(k, k in self.personal) for k in s.identity]


def _comparable(value: Any) -> str:
    return value.value if isinstance(value, PartyKind) else str(value)


def validate_class_row(
    header_map: ClassHeaderMap, row_number: int, values: Sequence[Any], authorities: Authorities | None = None
) -> tuple[RecordInput | None, list[RowIssue]]:
    """One row of a class's file → ``(record, [])`` or ``(None, errors)`` (see the module's doc)."""
    plan: _Plan = header_map._compiled or _compile(header_map)
    if len(values) < plan.width:
        values = [*values, *([None] * (plan.width - len(values)))]
    row = _Row(plan, row_number)
    data, out = read_cells(plan.cells, row, values, text_parsed=True)
    extra = read_extra(plan.extra, row, values, cell_text)

    for key in plan.required:
        if key not in data and key not in row.bad:
            row.error(key, None, "required_missing", "为必填项，不能为空")
    party_kind = _party(plan, row, data, out)
    for key, cond in plan.conditional:
        if key in data or key in row.bad or cond is None:
            continue
        if cond.field == plan.role.get("party_kind"):
            given: Any = party_kind
        else:
            given = out.get(cond.field)
        if given is not None and _comparable(given) in cond.values:
            other = plan.headers[cond.field]
            row.error(key, None, "conditional_missing", f"为空：「{other}」为「{_label(given)}」时须填写")
    start, end = out.get(plan.start), out.get(plan.end) if plan.end else None
    if type(start) is dt.date and start > plan.today:
        row.error(plan.start, start, "date_in_future", f"{start.isoformat()} 晚于今天，不能在未来")
    if type(start) is dt.date and type(end) is dt.date and end < start:
        row.error(plan.end or "", end, "date_order", f"{end.isoformat()} 早于「{plan.headers[plan.start]}」{start}")
    if authorities is not None:
        _authority(plan, row, data, out, authorities)
    if row.errors:
        return None, row.errors
    assert party_kind is not None
    return _record(plan, row, data, out, party_kind, extra), []


def _label(value: Any) -> str:
    if isinstance(value, PartyKind):
        return {PartyKind.LEGAL_PERSON: "法人及非法人组织", PartyKind.INDIVIDUAL_BUSINESS: "个体工商户"}.get(
            value, "自然人"
        )
    return str(value)


def _party(plan: _Plan, row: _Row, data: dict[str, Any], out: dict[str, Any]) -> PartyKind | None:
    role = plan.role
    kind_key, uscc_key, id_key = role.get("party_kind"), role.get("party_uscc"), role.get("party_id_no")
    kind: PartyKind | None = out.get(kind_key) if kind_key else None
    if kind is None and kind_key is not None and kind_key in row.bad:
        return None
    code = out.get(uscc_key) if uscc_key else None
    number = out.get(id_key) if id_key else None
    if kind is None:
        if code:
            kind = PartyKind.INDIVIDUAL_BUSINESS if code.startswith("92") else PartyKind.LEGAL_PERSON
        elif number:
            kind = PartyKind.NATURAL_PERSON
        elif (uscc_key and uscc_key in row.bad) or (id_key and id_key in row.bad):
            return None
        else:
            row.error(
                uscc_key or id_key or "",
                None,
                "party_code_missing",
                "为空：须填写统一社会信用代码（自然人填写证件号码），以识别信用主体",
            )
            return None
        if kind_key:
            data[kind_key] = kind.value
        data["party_kind_inferred"] = True
    if kind is PartyKind.NATURAL_PERSON:
        if not plan.persons:
            row.error(kind_key or "", kind.value, "party_kind_not_applicable", "：该类信息不适用于自然人")
            return None
        id_type = out.get(role.get("party_id_type", ""))
        type_key = role.get("party_id_type")
        if type_key and id_type is None and type_key not in row.bad:
            row.error(type_key, None, "id_type_missing", "为空：当事人为自然人时须填写证件类型")
        if number is None and id_key not in row.bad:
            row.error(id_key or "", None, "id_number_missing", "为空：当事人为自然人时须填写证件号码")
        if number is not None and (id_type is None or id_type in std.RESIDENT_ID_TYPES):
            if resident_id.is_valid(number):
                normalized = number if len(number) == 18 else resident_id.to_18(number)
            else:
                check = resident_id.validate(number)
                normalized = check.normalized if check.valid else None
                if normalized is None:
                    reasons = "；".join(dict.fromkeys(_RESIDENT_ID_REASONS.get(e.code, "无效") for e in check.errors))
                    row.error(id_key or "", number, check.errors[0].code, f"不是有效的居民身份证号码：{reasons}")
                    return kind
            if id_key and normalized != number:
                out[id_key], data[id_key] = normalized, masking.mask_resident_id(normalized)
    elif code is None and uscc_key and uscc_key not in row.bad:
        row.error(uscc_key, None, "party_code_missing", "为空：法人及非法人组织、个体工商户须填写统一社会信用代码")
    return kind


def _authority(plan: _Plan, row: _Row, data: dict[str, Any], out: dict[str, Any], authorities: Authorities) -> None:
    name_key, code_key = plan.role["authority"], plan.role["authority_uscc"]
    if name_key in row.bad or code_key in row.bad:
        return
    problem = authorities.check(name=data.get(name_key), uscc=out.get(code_key), label=plan.authority_label)
    if problem is not None:
        key = code_key if problem.field == "uscc" else name_key
        row.bad.add(key)
        value = out.get(code_key) if key == code_key else data.get(name_key)
        row.errors.append(RowIssue(row.number, plan.headers[key], _shown(value, False), problem.code, problem.message))


def _identity(plan: _Plan, out: dict[str, Any]) -> tuple[str, str]:
    """``(doc_no, doc_no_norm)``: the document number as shown, and the identity key (personal numbers hashed)."""
    parts, shown = [], []
    for key, personal in plan.identity:
        value = out.get(key)
        if value is None or value == "":
            parts.append("")
            continue
        text = str(value)
        if personal:
            parts.append("#" + get_vault().lookup_hash(text)[:24])
        else:
            parts.append(normalize_doc_no(text))
            shown.append(text)
    norm = "|".join(parts)
    if len(norm) > _ID_MAX:
        norm = "sha256:" + hashlib.sha256(norm.encode()).hexdigest()
    doc_key = plan.role.get("doc_no")
    doc_no = str(out.get(doc_key)) if doc_key and out.get(doc_key) else " ".join(shown)
    return doc_no[:_ID_MAX], norm


def _record(
    plan: _Plan, row: _Row, data: dict[str, Any], out: dict[str, Any], party_kind: PartyKind, extra: dict[str, Any]
) -> RecordInput:
    role, get = plan.role, out.get
    doc_no, doc_no_norm = _identity(plan, out)
    status_key = role.get("status")
    domain_key = role.get("domain")
    return RecordInput(
        kind=plan.kind,  # any class code (records.inputs.RecordInput.kind)
        row=row.number,
        party_name=data[role["party_name"]],
        party_kind=party_kind,
        party_uscc=get(role.get("party_uscc", "")),
        party_id_type=get(role.get("party_id_type", "")),
        party_id_number=get(role.get("party_id_no", "")),
        legal_rep=data.get(role.get("legal_rep", "")),
        doc_no=doc_no,
        doc_no_norm=doc_no_norm,
        decision_date=get(plan.start),
        authority=data.get(role["authority"], ""),
        authority_uscc=get(role["authority_uscc"], ""),
        source_unit=data.get(role.get("source_unit", ""), ""),
        source_unit_uscc=get(role.get("source_unit_uscc", ""), "") or "",
        licence_valid_from=get(role.get("valid_from", "")),
        licence_valid_to=get(plan.end) if plan.end else None,
        current_status_valid=get(status_key) != "无效" if status_key else True,
        domain=get(domain_key) if domain_key else None,
        data=data,
        extra=extra,
        warnings=row.warnings,
    )


def _compile(hm: ClassHeaderMap) -> _Plan:
    plan = hm._compiled
    if plan is None:
        plan = hm._compiled = _Plan(hm)
    return plan
