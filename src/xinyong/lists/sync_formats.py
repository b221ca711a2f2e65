"""External list files: the formats (:data:`FORMATS`) and reading a file into validated rows (:func:`read_rows`).

A file (CSV in any encoding, XLSX or JSON; ``ingest.readers``) in the list's ``sync_format`` (documented in
``docs/list-sync.md``) is read whole and every row validated before the sync (``lists.sync``) writes anything: a
file of another list's format (422 ``wrong_list_format``), a malformed code or date (the row's problems, with row
numbers). A clear resident ID is kept only as the code to look the subject up by; the stored code is masked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from xinyong.core import batches
from xinyong.core.errors import ValidationFailed
from xinyong.identifiers import orgcode, resident_id, uscc
from xinyong.identifiers._text import compact
from xinyong.identifiers.masking import mask_resident_id
from xinyong.ingest.readers import Source, open_table, row_issues
from xinyong.ingest.values import parse_date
from xinyong.lists import matching
from xinyong.lists.models import ListType
from xinyong.lists.rules import term_end_for

REPORT_PROBLEM_LIMIT = 1000
OPERATION = "操作类型"
OPERATIONS = {
    "新增": "add",
    "变更": "change",
    "删除": "delete",
    "移出": "delete",
    "add": "add",
    "change": "change",
    "update": "change",
    "delete": "delete",
    "remove": "delete",
}


@dataclass(frozen=True)
class SyncFormat:
    """Columns of one external list format: the field each header feeds, and which fields a row must have."""

    code: str
    label: str
    columns: dict[str, str]  # normalised header (or alias) -> field
    required: tuple[str, ...]  # fields every added / changed row must carry
    key_fields: tuple[str, ...]  # fields a delete row must carry (to compute its entry key)
    signature: tuple[str, ...]  # fields whose headers identify the format


COURT = SyncFormat(
    code="court_debtor",
    label="失信被执行人名单（人民法院公布字段）",
    columns={
        "被执行人姓名/名称": "party_name",
        "被执行人姓名": "party_name",
        "被执行人名称": "party_name",
        "iname": "party_name",
        "性别": "sex",
        "sexy": "sex",
        "年龄": "age",
        "age": "age",
        "身份证号码/组织机构代码": "party_code",
        "身份证号码": "party_code",
        "组织机构代码": "party_code",
        "cardnum": "party_code",
        "法定代表人或者负责人姓名": "legal_rep",
        "法定代表人或负责人姓名": "legal_rep",
        "businessentity": "legal_rep",
        "执行法院": "court",
        "courtname": "court",
        "省份": "province",
        "areaname": "province",
        "执行依据文号": "basis_doc_no",
        "gistid": "basis_doc_no",
        "立案时间": "filed_on",
        "regdate": "filed_on",
        "案号": "case_no",
        "casecode": "case_no",
        "做出执行依据单位": "basis_unit",
        "作出执行依据单位": "basis_unit",
        "gistunit": "basis_unit",
        "生效法律文书确定的义务": "duty",
        "duty": "duty",
        "被执行人的履行情况": "performance",
        "performance": "performance",
        "失信被执行人行为具体情形": "conduct",
        "disrupttypename": "conduct",
        "发布时间": "published_on",
        "publishdate": "published_on",
        OPERATION: "operation",
    },
    required=("party_name", "case_no", "conduct", "published_on", "court"),
    key_fields=("case_no",),
    signature=("party_name", "case_no", "conduct", "court"),
)

SAMR = SyncFormat(
    code="samr_abnormal",
    label="经营异常名录（市场监管部门公示字段）",
    columns={
        "统一社会信用代码/注册号": "party_code",
        "统一社会信用代码": "party_code",
        "注册号": "party_code",
        "企业名称": "party_name",
        "名称": "party_name",
        "列入经营异常名录原因": "reason",
        "列入原因": "reason",
        "列入日期": "listed_on",
        "作出决定机关": "authority",
        "作出决定机关(列入)": "authority",
        "决定机关": "authority",
        "决定书文号": "decision_no",
        "列入决定书文号": "decision_no",
        "移出原因": "removal_note",
        "移出经营异常名录原因": "removal_note",
        "移出日期": "removed_on",
        "作出决定机关(移出)": "removal_authority",
        OPERATION: "operation",
    },
    required=("party_code", "party_name", "reason", "listed_on"),
    key_fields=("party_code", "listed_on"),
    signature=("party_code", "party_name", "reason", "listed_on"),
)

FORMATS = {f.code: f for f in (COURT, SAMR)}


# Reading and validating -------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Row:
    """One validated row, ready to compare and apply."""

    number: int
    operation: str  # add | change | delete (snapshot rows: add)
    key: str
    values: dict[str, Any] = field(default_factory=dict)  # ListEntry columns
    lookup_code: str | None = None  # a clear code to resolve (never stored when it is a resident ID)
    content_hash: str = ""


class Problems:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.counts: Counter[str] = Counter()
        self.rows: set[int] = set()
        self.keys: set[str] = set()  # entry keys of rejected rows, where readable

    def add(self, row: int, column: str, code: str, message: str, value: Any = None) -> None:
        self.counts[code] += 1
        self.rows.add(row)
        if len(self.items) < REPORT_PROBLEM_LIMIT:
            self.items.append(
                {
                    "row": row,
                    "column": column,
                    "code": code,
                    "message": message,
                    "value": None if value is None else str(value)[:60],
                }
            )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _columns(headers: list[str], fmt: SyncFormat) -> dict[str, int]:
    """field -> column index for the headers this format knows (first column wins)."""
    out: dict[str, int] = {}
    for i, header in enumerate(headers):
        fieldname = fmt.columns.get(header) or fmt.columns.get(header.lower())
        if fieldname and fieldname not in out:
            out[fieldname] = i
    return out


def detect_format(headers: list[str]) -> str | None:
    """The format whose identifying headers the file carries, if any."""
    for fmt in FORMATS.values():
        if set(fmt.signature) <= set(_columns(headers, fmt)):
            return fmt.code
    return None


def _known_headers() -> set[str]:
    return {h for fmt in FORMATS.values() for h in fmt.columns}


def _hash(values: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(values, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()


def _court_code(raw: str | None, row: int, problems: Problems) -> tuple[str | None, str | None, str | None]:
    """(stored code, clear code to look up, party kind) of the court's 身份证号码/组织机构代码 cell."""
    if not raw:
        return None, None, None
    n = compact(raw)
    if "*" in n:
        if matching.parse_masked_id(n) is not None or (len(n) == 15 and set(n) <= set("0123456789*")):
            return n, None, matching.PERSON
        if len(n) in (9, 10, 18):  # a masked organisation code or USCC: kept, matched by name
            return n, None, "legal_person"
        problems.add(row, "身份证号码/组织机构代码", "code_malformed", "无法识别的脱敏证件号码", raw)
        return None, None, None
    if len(n) == 18 and uscc.is_valid(n):
        return n, n, "legal_person"
    if len(n) in (15, 18) and n[:17].isdigit():
        check = resident_id.validate(n)
        if check.valid and check.normalized:
            return mask_resident_id(check.normalized), check.normalized, matching.PERSON
        problems.add(
            row,
            "身份证号码/组织机构代码",
            "code_malformed",
            "身份证号码无效：" + "；".join(e.message for e in check.errors),
            mask_resident_id(n),
        )
        return None, None, None
    oc = orgcode.compact(n)
    if len(oc) == 9 and orgcode.is_valid(oc):
        return oc, oc, "legal_person"
    problems.add(
        row,
        "身份证号码/组织机构代码",
        "code_malformed",
        "既不是统一社会信用代码、组织机构代码，也不是身份证号码（含脱敏号码）",
        raw if len(n) < 15 else None,
    )
    return None, None, None


def _date(raw: Any, row: int, column: str, problems: Problems) -> dt.date | None:
    try:
        return parse_date(raw)
    except (ValueError, TypeError):
        problems.add(row, column, "date_invalid", "无法识别的日期", raw)
        return None


def _term_end(listed: dt.date | None, months: int | None, row: int, column: str, problems: Problems) -> dt.date | None:
    """The default term's last day; a date so late that the term passes year 9999 is the row's problem, not a crash."""
    if listed is None:
        return None
    try:
        return term_end_for(listed, months)
    except (ValueError, OverflowError):
        problems.add(row, column, "date_out_of_range", "日期过晚，无法计算名单期限", listed.isoformat())
        return None


def _court_row(number: int, get: dict[str, Any], lt: ListType, problems: Problems) -> tuple[str, dict, str | None]:
    code, lookup, kind = _court_code(_text(get.get("party_code")), number, problems)
    if kind is None and _text(get.get("legal_rep")):
        kind = "legal_person"
    elif kind is None and (_text(get.get("sex")) or _text(get.get("age"))):
        kind = matching.PERSON
    published = _date(get.get("published_on"), number, "发布时间", problems)
    filed = _date(get.get("filed_on"), number, "立案时间", problems)
    conduct = _text(get.get("conduct")) or ""
    grounds = (lt.params or {}).get("no_fixed_term_grounds") or []
    no_term = any(g and g in conduct for g in grounds)
    data = {
        k: _text(get.get(k))
        for k in ("sex", "age", "legal_rep", "court", "province", "basis_doc_no", "basis_unit", "performance")
    }
    data["filed_on"] = filed.isoformat() if filed else None
    data = {k: v for k, v in data.items() if v is not None}
    case_no = _text(get.get("case_no")) or ""
    values = {
        "party_name": _text(get.get("party_name")) or "",
        "party_code": code,
        "party_kind": kind,
        "region_code": matching.region_of_code(code) if code else None,
        "reason": conduct,
        "facts": _text(get.get("duty")) or "",
        "decision_no": case_no,
        "authority": _text(get.get("court")) or lt.authority,
        "listed_on": published,
        "term_end": None if no_term else _term_end(published, lt.term_months, number, "发布时间", problems),
        "data": data,
    }
    return case_no, values, lookup


def _samr_row(number: int, get: dict[str, Any], lt: ListType, problems: Problems) -> tuple[str, dict, str | None]:
    raw = _text(get.get("party_code"))
    code = compact(raw) if raw else None
    kind = "legal_person"
    lookup = None
    if code:
        check = uscc.validate(code, allow_bad_check=True)
        if len(code) == 18 and check.valid:
            lookup = code
            if uscc.subject_type_of(code) == "individual_business":
                kind = "individual_business"
        elif len(code) in (13, 15) and code.isdigit():
            lookup = code  # 注册号 (registration number), an alias of the subject
        else:
            problems.add(
                number,
                "统一社会信用代码/注册号",
                "code_malformed",
                "统一社会信用代码或注册号无效：" + "；".join(e.message for e in check.errors),
                raw,
            )
            code = None
    listed = _date(get.get("listed_on"), number, "列入日期", problems)
    removed = _date(get.get("removed_on"), number, "移出日期", problems)
    decision_no = _text(get.get("decision_no"))
    key = decision_no or (f"{code}:{listed.isoformat()}" if code and listed else "")
    data = {k: _text(get.get(k)) for k in ("removal_authority",)}
    data = {k: v for k, v in data.items() if v is not None}
    values = {
        "party_name": _text(get.get("party_name")) or "",
        "party_code": code,
        "party_kind": kind,
        "region_code": code[2:8] if code and len(code) == 18 and code[2:8].isdigit() else None,
        "reason": _text(get.get("reason")) or "",
        "facts": "",
        "decision_no": decision_no,
        "authority": _text(get.get("authority")) or lt.authority,
        "listed_on": listed,
        "term_end": _term_end(listed, lt.term_months, number, "列入日期", problems),
        "removed_on": removed,
        "removal_note": _text(get.get("removal_note")),
        "data": data,
    }
    return key, values, lookup


_ROW_PARSERS = {"court_debtor": _court_row, "samr_abnormal": _samr_row}
_FIELD_LABELS = {
    "party_name": "名称/姓名",
    "case_no": "案号",
    "conduct": "失信被执行人行为具体情形",
    "published_on": "发布时间",
    "court": "执行法院",
    "party_code": "统一社会信用代码/注册号",
    "reason": "列入经营异常名录原因",
    "listed_on": "列入日期",
}


def _check_headers(headers: list[str], cols: dict[str, int], fmt: SyncFormat, lt: ListType, mode: str) -> None:
    """Refuse a file that is not the list's format, or whose 操作类型 column does not fit the mode."""
    detected = detect_format(headers)
    # A snapshot must carry the format's identifying columns; a delta at least the key columns (a delta of
    # deletions may carry nothing else), and never be recognisably another list's file.
    needed = set(fmt.signature if mode == "snapshot" else fmt.key_fields)
    if not needed <= set(cols) or (detected is not None and detected != fmt.code):
        other = FORMATS.get(detected or "")
        hint = f"该文件是「{other.label}」格式，" if other and other is not fmt else ""
        missing = [h for h, f in fmt.columns.items() if f in needed - set(cols) and not h.isascii()]
        raise ValidationFailed(
            f"文件格式与名单「{lt.name}」不符：{hint}应为「{fmt.label}」"
            + ("，缺少列：" + "、".join(missing) if missing else ""),
            code="wrong_list_format",
            details={"list": lt.code, "expected_format": fmt.code, "detected_format": detected, "headers": headers},
        )
    if mode == "snapshot" and "operation" in cols:
        raise ValidationFailed("文件含“操作类型”列，是增量文件：请以增量方式（--mode delta）同步", code="mode_mismatch")
    if mode == "delta" and "operation" not in cols:
        raise ValidationFailed("增量同步的文件须有“操作类型”列（新增 / 变更 / 删除）", code="operation_missing")


class _RowReader:
    """Validates the rows of one file (``batches.run``'s ``validate``): problems collected, duplicates skipped."""

    def __init__(self, fmt: SyncFormat, cols: dict[str, int], lt: ListType, mode: str) -> None:
        self.fmt, self.cols, self.lt, self.mode = fmt, cols, lt, mode
        self.parse = _ROW_PARSERS[fmt.code]
        self.problems = Problems()
        self.seen: dict[str, tuple[int, str]] = {}  # entry key -> (first row, content hash)
        self.key_label = "案号" if fmt is COURT else "决定书文号"

    def __call__(self, number: int, values: list[Any]) -> tuple[Any, list[batches.RowError]]:
        problems = self.problems
        before = len(problems.items), sum(problems.counts.values())
        row = self._row(number, values)
        if row is None or row is batches.SKIP:
            if row is None and sum(problems.counts.values()) == before[1]:
                problems.add(number, "", "row_invalid", "数据无效")
            return row, [
                batches.RowError(p["row"], p["column"], p["code"], p["message"], detail=p)
                for p in problems.items[before[0] :]
            ] or [batches.RowError(number, "", "row_invalid", "数据无效")]
        return row, []

    def _reject_key(self, key: str | None) -> None:
        """Keep a rejected row's entry key: a snapshot does not remove its entry."""
        if key:
            self.problems.keys.add(key[:200])

    def _operation(self, number: int, get: dict[str, Any]) -> str | None:
        if self.mode != "delta":
            return "add"
        op_raw = _text(get.get("operation")) or ""
        operation = OPERATIONS.get(op_raw.lower())
        if not operation:
            self.problems.add(number, OPERATION, "operation_invalid", "操作类型应为 新增 / 变更 / 删除", op_raw)
        return operation

    def _row(self, number: int, values: list[Any]) -> Any:
        problems = self.problems
        get = {f: values[i] if i < len(values) else None for f, i in self.cols.items()}
        refused = row_issues(values)  # over-long cell or row, formula without a value: not applied
        if refused:
            for issue in refused:
                problems.add(number, issue.column, issue.code, issue.message, issue.value)
            self._reject_key(self.parse(number, get, self.lt, Problems())[0])
            return None
        operation = self._operation(number, get)
        if operation is None:
            return None
        before = sum(problems.counts.values())
        for f in self.fmt.key_fields if operation == "delete" else self.fmt.required:
            if _text(get.get(f)) is None:
                label = _FIELD_LABELS.get(f, f)
                problems.add(number, label, "value_missing", f"缺少必填项：{label}")
        key, entry_values, lookup = self.parse(number, get, self.lt, problems)
        if sum(problems.counts.values()) != before:
            self._reject_key(key)
            return None
        if not key:
            problems.add(number, self.key_label, "key_missing", "无法确定条目标识")
            return None
        return self._unique(Row(number, operation, key[:200], entry_values, lookup), key)

    def _unique(self, row: Row, key: str) -> Any:
        """The row with its content hash; SKIP for the same entry twice, None for a key reused with other content."""
        content = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in row.values.items()}
        row.content_hash = _hash(content)
        first = self.seen.get(key)
        if first is None:
            self.seen[key] = (row.number, row.content_hash)
            return row
        if first[1] == row.content_hash:
            return batches.SKIP  # the same entry twice
        self.problems.add(row.number, self.key_label, "duplicate_key", f"与第 {first[0]} 行标识相同但内容不同", key)
        self._reject_key(key)
        return None


def read_rows(path: Path | Source, lt: ListType, *, mode: str) -> tuple[list[Row], Problems, dict[str, Any]]:
    """Every row of the file, validated against the list's format; (rows, problems, file facts)."""
    fmt = FORMATS[lt.sync_format or ""]
    table = open_table(path, known_headers=_known_headers())
    cols = _columns(table.headers, fmt)
    _check_headers(table.headers, cols, fmt, lt, mode)
    reader = _RowReader(fmt, cols, lt, mode)
    rows: list[Row] = []
    # Every row is validated before anything is written: the sync decides on the whole file (skip_invalid or not,
    # deletes of unknown keys) and a snapshot compares the file's keys as a set.
    summary = batches.run(
        table.rows,
        importer="list_sync",
        validate=reader,
        mode=batches.KEEP_GOOD,
        write=lambda good, _bad: rows.extend(g.item for g in good),
        chunk=sys.maxsize,
    )
    assert summary is not None
    facts = {
        "format": table.format,
        "encoding": table.encoding,
        "duplicate_rows": summary.skipped,
        "sync_format": fmt.code,
    }
    return rows, reader.problems, facts
