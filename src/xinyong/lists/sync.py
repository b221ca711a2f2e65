"""Sync and comparison (比对) of external lists: the court's 失信被执行人 and the market regulator's 经营异常名录.

A sync reads a file (CSV in any encoding, XLSX or JSON; ``ingest.readers``) in the list's ``sync_format``
(:data:`FORMATS`; documented in ``docs/list-sync.md``), compares it with the entries already held and applies the
difference in the caller's transaction — all or nothing:

- **snapshot** — the file is the whole current list: new keys are *added*, keys whose content hash differs are
  *changed*, keys held but absent from the file are *removed* (status ``removed``, ``removal_reason =
  sync_removed``, ``removed_on`` = the sync date; the entry and its history stay), the rest are *unchanged*.
- **delta** — each row carries ``操作类型`` (新增 / 变更 / 删除); deleting a key that is not on the list is refused
  (422 ``unknown_entry``) and nothing is written.

The same file twice gives all unchanged (idempotent). Every row is validated before anything is written: a file of
another list's format (422 ``wrong_list_format``), a malformed code or date (422 ``sync_rows_invalid``, with row
numbers) change nothing, unless the operator asks to skip invalid rows (``skip_invalid``: they are counted as
*rejected* and, in a snapshot, their entries are kept rather than removed).

Linking an entry to a subject (``match_status``): a clear code first (USCC, organisation code or registration
number through the aliases, a clear resident ID through its keyed hash — looked up in bulk); then a stored
reviewer judgement for the party (``same`` links: ``judged``; ``not_same`` excludes that subject); then name
matching (``lists.matching``): one candidate at or above the threshold and no rival → ``matched`` with its
evidence; otherwise ``pending`` with the candidates (the review queue), or ``unmatched``. Entries still pending or
unmatched are matched again by every later sync, so new registry subjects and new judgements take effect.

Not held to the authority rule (``auth.authorities``): a sync copies another system's list as that system keeps it
— the court's list names any 执行法院 of the country, the national 经营异常名录 the 作出决定机关 of each entry — so
its authorities are the source's, not decisions the platform's departments take and submit as their own. Who may
run a sync is governed instead: the platform admin or an operator of the list's managing department
(:func:`require_manager`), for an external list only (``ListType.external``), whose entries no one can create or
change by hand (``lists.service._check_manual``). The rule guards what a department submits as its own or its
subordinate units' decisions.

Person data: the court publishes masked ID numbers. A clear resident ID in a file is used only to find the
subject (keyed hash) and stored masked; list tables never hold a clear ID.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from xinyong.auth.roles import Principal
from xinyong.core import audit, batches, clock, gcpause, hooks
from xinyong.core.bulk import allocate_ids, insert_rows
from xinyong.core.db import IN_CHUNK, utcnow
from xinyong.core.errors import Forbidden, NotFound, ValidationFailed
from xinyong.identifiers import orgcode, resident_id, uscc
from xinyong.identifiers._text import compact
from xinyong.identifiers.masking import mask_resident_id
from xinyong.ingest.readers import Source, as_source, open_table, row_issues
from xinyong.ingest.values import parse_date
from xinyong.lists import matching
from xinyong.lists.models import (
    EntryStatus,
    ListEntry,
    ListEntryEvent,
    ListSync,
    ListType,
    MatchJudgement,
    MatchStatus,
)
from xinyong.lists.rules import in_force, term_end_for

CHUNK = IN_CHUNK  # keys per IN (...) look-up: below SQLite's bound-parameter limit
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


class _Problems:
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


def _court_code(raw: str | None, row: int, problems: _Problems) -> tuple[str | None, str | None, str | None]:
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


def _date(raw: Any, row: int, column: str, problems: _Problems) -> dt.date | None:
    try:
        return parse_date(raw)
    except (ValueError, TypeError):
        problems.add(row, column, "date_invalid", "无法识别的日期", raw)
        return None


def _term_end(listed: dt.date | None, months: int | None, row: int, column: str, problems: _Problems) -> dt.date | None:
    """The default term's last day; a date so late that the term passes year 9999 is the row's problem, not a crash."""
    if listed is None:
        return None
    try:
        return term_end_for(listed, months)
    except (ValueError, OverflowError):
        problems.add(row, column, "date_out_of_range", "日期过晚，无法计算名单期限", listed.isoformat())
        return None


def _court_row(number: int, get: dict[str, Any], lt: ListType, problems: _Problems) -> tuple[str, dict, str | None]:
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


def _samr_row(number: int, get: dict[str, Any], lt: ListType, problems: _Problems) -> tuple[str, dict, str | None]:
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


def read_rows(path: Path | Source, lt: ListType, *, mode: str) -> tuple[list[Row], _Problems, dict[str, Any]]:
    """Every row of the file, validated against the list's format; (rows, problems, file facts)."""
    fmt = FORMATS[lt.sync_format or ""]
    table = open_table(path, known_headers=_known_headers())
    cols = _columns(table.headers, fmt)
    detected = detect_format(table.headers)
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
            details={
                "list": lt.code,
                "expected_format": fmt.code,
                "detected_format": detected,
                "headers": table.headers,
            },
        )
    if mode == "snapshot" and "operation" in cols:
        raise ValidationFailed("文件含“操作类型”列，是增量文件：请以增量方式（--mode delta）同步", code="mode_mismatch")
    if mode == "delta" and "operation" not in cols:
        raise ValidationFailed("增量同步的文件须有“操作类型”列（新增 / 变更 / 删除）", code="operation_missing")
    parse = _ROW_PARSERS[fmt.code]
    problems = _Problems()
    seen: dict[str, tuple[int, str]] = {}

    def validate(number: int, values: list[Any]) -> tuple[Any, list[batches.RowError]]:
        before = len(problems.items), sum(problems.counts.values())
        row = _validate(number, values)
        if row is None or row is batches.SKIP:
            if row is None and sum(problems.counts.values()) == before[1]:
                problems.add(number, "", "row_invalid", "数据无效")
            return row, [
                batches.RowError(p["row"], p["column"], p["code"], p["message"], detail=p)
                for p in problems.items[before[0] :]
            ] or [batches.RowError(number, "", "row_invalid", "数据无效")]
        return row, []

    def _validate(number: int, values: list[Any]) -> Any:
        get = {f: values[i] if i < len(values) else None for f, i in cols.items()}
        refused = row_issues(values)  # over-long cell or row, formula without a value: not applied
        if refused:
            for issue in refused:
                problems.add(number, issue.column, issue.code, issue.message, issue.value)
            key = parse(number, get, lt, _Problems())[0]  # its entry is not removed by a snapshot
            if key:
                problems.keys.add(key[:200])
            return None
        operation = "add"
        if mode == "delta":
            op_raw = _text(get.get("operation")) or ""
            operation = OPERATIONS.get(op_raw.lower(), "")
            if not operation:
                problems.add(number, OPERATION, "operation_invalid", "操作类型应为 新增 / 变更 / 删除", op_raw)
                return None
        before = sum(problems.counts.values())
        needed = fmt.key_fields if operation == "delete" else fmt.required
        for f in needed:
            if _text(get.get(f)) is None:
                problems.add(number, _FIELD_LABELS.get(f, f), "value_missing", f"缺少必填项：{_FIELD_LABELS.get(f, f)}")
        key, entry_values, lookup = parse(number, get, lt, problems)
        if sum(problems.counts.values()) != before:
            if key:
                problems.keys.add(key[:200])
            return None
        if not key:
            problems.add(number, "案号" if fmt is COURT else "决定书文号", "key_missing", "无法确定条目标识")
            return None
        content = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in entry_values.items()}
        digest = _hash(content)
        first = seen.get(key)
        if first is not None:
            if first[1] == digest:
                return batches.SKIP  # the same entry twice
            problems.add(
                number,
                "案号" if fmt is COURT else "决定书文号",
                "duplicate_key",
                f"与第 {first[0]} 行标识相同但内容不同",
                key,
            )
            problems.keys.add(key[:200])
            return None
        seen[key] = (number, digest)
        return Row(number, operation, key[:200], entry_values, lookup, digest)

    rows: list[Row] = []
    # Every row is validated before anything is written: the sync decides on the whole file (skip_invalid or not,
    # deletes of unknown keys) and a snapshot compares the file's keys as a set.
    summary = batches.run(
        table.rows,
        importer="list_sync",
        validate=validate,
        mode=batches.KEEP_GOOD,
        write=lambda good, _bad: rows.extend(g.item for g in good),
        chunk=sys.maxsize,
    )
    assert summary is not None
    duplicates = summary.skipped
    facts = {"format": table.format, "encoding": table.encoding, "duplicate_rows": duplicates, "sync_format": fmt.code}
    return rows, problems, facts


# Linking -------------------------------------------------------------------------------------------------------


def party_key(*, name: str, kind: str | None, code: str | None, region_code: str | None) -> str:
    """How a judgement recognises a party in later syncs: kind, normalised name, (masked) code and region."""
    norm = matching.normalize_name(name, kind)
    return "|".join((kind or "", norm, compact(code) if code else "", region_code or ""))[:300]


def _entry_party_key(values: dict[str, Any]) -> str:
    return party_key(
        name=values["party_name"],
        kind=values.get("party_kind"),
        code=values.get("party_code"),
        region_code=values.get("region_code"),
    )


@dataclass(slots=True)
class Link:
    subject_id: int | None
    status: str
    score: float | None = None
    evidence: dict[str, Any] | None = None
    candidates: list[dict[str, Any]] | None = None


def _resolve_codes(session: Session, codes: set[str]) -> dict[str, int]:
    """Clear codes -> subject id, in bulk (``subjects.service.resolve_code_ids``): USCC, resident ID (keyed hash),
    then aliases (org code, 注册号 …); the codes no subject has are left out."""
    from xinyong.subjects.service import resolve_code_ids

    return {code: sid for code, sid in resolve_code_ids(session, codes).items() if sid is not None}


def _judgements(session: Session, keys: set[str]) -> dict[str, list[tuple[int, str]]]:
    out: dict[str, list[tuple[int, str]]] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), CHUNK):
        for key, sid, verdict in session.execute(
            select(MatchJudgement.party_key, MatchJudgement.subject_id, MatchJudgement.verdict).where(
                MatchJudgement.party_key.in_(ordered[start : start + CHUNK])
            )
        ):
            out.setdefault(key, []).append((sid, verdict))
    return out


def link_entries(
    session: Session, items: list[dict[str, Any]], lookups: list[str | None], *, threshold: float
) -> list[Link]:
    """Link each entry (its column values) to a subject: code, then judgement, then name matching. Bulk."""
    by_code = _resolve_codes(session, {c for c in lookups if c})
    links: list[Link | None] = [None] * len(items)
    pkeys = [_entry_party_key(v) for v in items]
    judged = _judgements(session, {k for i, k in enumerate(pkeys) if not (lookups[i] and lookups[i] in by_code)})
    todo: list[int] = []
    excludes: list[set[int]] = []
    for i, values in enumerate(items):
        code = lookups[i]
        if code and code in by_code:
            links[i] = Link(
                by_code[code],
                MatchStatus.CODE,
                1.0,
                {"code": {"weight": 1.0, "text": f"代码一致：{values.get('party_code')}（按代码关联）"}},
            )
            continue
        verdicts = judged.get(pkeys[i], [])
        same = [sid for sid, v in verdicts if v == "same"]
        if same:
            links[i] = Link(
                same[0], MatchStatus.JUDGED, None, {"judgement": {"weight": 1.0, "text": "复核人员已认定为同一主体"}}
            )
            continue
        todo.append(i)
        excludes.append({sid for sid, v in verdicts if v == "not_same"})
    parties = [
        matching.Party(
            name=items[i]["party_name"],
            kind=items[i].get("party_kind"),
            region_code=items[i].get("region_code"),
            code=items[i].get("party_code"),
            legal_rep=(items[i].get("data") or {}).get("legal_rep"),
        )
        for i in todo
    ]
    results = matching.bulk_candidates(session, parties, threshold=threshold, exclude=excludes)
    for i, cands in zip(todo, results, strict=True):
        links[i] = _link_from(cands)
    return [link for link in links if link is not None]


def _link_from(cands: list[matching.Candidate]) -> Link:
    if not cands:
        return Link(None, MatchStatus.UNMATCHED)
    best = cands[0]
    rivals = [c for c in cands[1:] if c.match]
    if best.match and not rivals:
        status = MatchStatus.CODE if best.evidence.get("code", {}).get("weight") == 1.0 else MatchStatus.MATCHED
        return Link(best.subject_id, status, best.score, best.evidence)
    return Link(None, MatchStatus.PENDING, best.score, None, [c.to_dict() for c in cands])


# The sync ------------------------------------------------------------------------------------------------------


def get_list_type(session: Session, code: str) -> ListType:
    lt = session.scalar(select(ListType).where(ListType.code == code))
    if lt is None:
        raise NotFound(f"名单类型 {code} 不存在", code="list_type_not_found")
    return lt


def _syncable(session: Session, list_code: str) -> ListType:
    lt = get_list_type(session, list_code)
    if not lt.sync_format or lt.sync_format not in FORMATS:
        raise ValidationFailed(f"名单「{lt.name}」不是可同步的外部名单", code="list_not_syncable")
    return lt


def department_code(session: Session, actor: Principal) -> str | None:
    """The code of the actor's department (None for the admin and principals without one)."""
    from xinyong.auth.models import Department

    if actor.department_id is None:
        return None
    return session.scalar(select(Department.code).where(Department.id == actor.department_id))


def require_manager(session: Session, actor: Principal, lt: ListType) -> None:
    """Only the admin or an operator of a department that manages the list may sync it or judge its matches."""
    from xinyong.auth.roles import Role

    if actor.is_admin:
        return
    code = department_code(session, actor) if actor.role is Role.DEPT_OPERATOR else None
    if code is None or code not in (lt.managing_departments or []):
        raise Forbidden(
            f"只有平台管理员或「{lt.name}」主管部门的操作员可以同步名单或复核比对结果",
            code="list_not_managed",
            details={"list_code": lt.code, "managing_departments": list(lt.managing_departments or [])},
        )


def _threshold(lt: ListType, threshold: float | None) -> float:
    value = threshold if threshold is not None else (lt.params or {}).get("match_threshold", matching.DEFAULT_THRESHOLD)
    value = float(value)
    if not 0 < value <= 1:
        raise ValidationFailed("匹配阈值应在 0 到 1 之间", code="threshold_invalid")
    return value


_EXISTING_COLS = (
    "id",
    "entry_key",
    "content_hash",
    "status",
    "subject_id",
    "match_status",
    "listed_on",
    "term_end",
    "removed_on",
    "party_name",
    "party_code",
    "party_kind",
    "region_code",
    "data",
    "revision",
)


def _existing(session: Session, list_type_id: int) -> dict[str, SimpleNamespace]:
    cols = [ListEntry.__table__.c[c] for c in _EXISTING_COLS]
    stmt = select(*cols).where(ListEntry.list_type_id == list_type_id).execution_options(yield_per=10_000)
    return {r.entry_key: SimpleNamespace(**r._mapping) for r in session.execute(stmt)}


def _counts_today(facts: Any, subject_id: int | None, today: dt.date) -> bool:
    return subject_id is not None and in_force(facts, today)


_SUMMARY_FIELDS = ("party_name", "party_code", "reason", "listed_on", "term_end", "removed_on", "status")


def _summary(values: dict[str, Any], link: Link | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in _SUMMARY_FIELDS:
        v = values.get(k)
        if v is not None:
            out[k] = v.isoformat() if isinstance(v, dt.date) else v
    if link is not None:
        out["subject_id"] = link.subject_id
        out["match_status"] = link.status
    return out


@gcpause.bulk()
def sync_list(
    session: Session,
    *,
    actor: Principal,
    list_code: str,
    path: str | Path | Source,
    mode: str = "snapshot",
    threshold: float | None = None,
    skip_invalid: bool = False,
    filename: str | None = None,
) -> ListSync:
    """Apply a snapshot or delta file of an external list in the caller's transaction; the :class:`ListSync`.

    Nothing is written when the file does not fit (wrong format, invalid rows unless ``skip_invalid``, a delete
    of an unknown key). ``threshold``: name-match score needed to link without review (default: the list type's
    ``params.match_threshold`` or :data:`matching.DEFAULT_THRESHOLD`).
    """
    if mode not in ("snapshot", "delta"):
        raise ValidationFailed("同步方式应为 snapshot（全量）或 delta（增量）", code="mode_invalid")
    lt = _syncable(session, list_code)
    require_manager(session, actor, lt)
    limit = _threshold(lt, threshold)
    # One sync of a list at a time (PostgreSQL row lock until commit; SQLite has a single writer anyway).
    session.execute(select(ListType.id).where(ListType.id == lt.id).with_for_update())
    source = as_source(path)
    rows, problems, facts = read_rows(source, lt, mode=mode)
    if problems.items and not skip_invalid:
        raise ValidationFailed(
            f"文件有 {len(problems.rows)} 行数据无效，未做任何更改",
            code="sync_rows_invalid",
            details={"problem_counts": dict(problems.counts), "problems": problems.items[:100]},
        )
    existing = _existing(session, lt.id)
    unknown = [r.key for r in rows if r.operation == "delete" and r.key not in existing]
    if unknown:
        raise ValidationFailed(
            f"增量文件删除了名单中不存在的 {len(unknown)} 个条目，未做任何更改",
            code="unknown_entry",
            details={"keys": unknown[:100]},
        )

    today = clock.today()
    now = utcnow()
    record = ListSync(
        list_type_id=lt.id,
        mode=mode,
        filename=(filename or source.name)[:300],
        sha256=source.sha256(),
        actor=actor.actor,
        started_at=now,
    )
    session.add(record)
    session.flush()

    counts: Counter[str] = Counter()
    to_insert: list[Row] = []
    to_change: list[tuple[Row, SimpleNamespace]] = []
    to_remove: list[tuple[SimpleNamespace, dict[str, Any]]] = []
    relink: list[SimpleNamespace] = []
    for row in rows:
        old = existing.get(row.key)
        if row.operation == "delete":
            assert old is not None
            if old.status == EntryStatus.REMOVED:
                counts["unchanged"] += 1
            else:
                to_remove.append(
                    (
                        old,
                        {
                            "removed_on": row.values.get("removed_on") or today,
                            "removal_note": row.values.get("removal_note"),
                        },
                    )
                )
            continue
        if old is None:
            to_insert.append(row)
        elif old.content_hash == row.content_hash and old.status != EntryStatus.REMOVED:
            counts["unchanged"] += 1
            if old.match_status in (MatchStatus.PENDING, MatchStatus.UNMATCHED):
                relink.append(old)
        else:
            to_change.append((row, old))
    if mode == "snapshot":
        present = {r.key for r in rows}
        # Keys of rows skipped as invalid stay as they are: an unreadable row is not evidence of removal.
        protected = problems.keys
        for key, old in existing.items():
            if key not in present and key not in protected and old.status != EntryStatus.REMOVED:
                to_remove.append((old, {"removed_on": today, "removal_note": None}))

    # Link new and changed rows, and re-try entries still waiting for a subject.
    link_items = (
        [r.values for r in to_insert]
        + [r.values for r, _ in to_change]
        + [
            {
                "party_name": o.party_name,
                "party_kind": o.party_kind,
                "party_code": o.party_code,
                "region_code": o.region_code,
                "data": o.data,
            }
            for o in relink
        ]
    )
    link_codes = (
        [r.lookup_code for r in to_insert]
        + [r.lookup_code for r, _ in to_change]
        + [_stored_lookup(o.party_code) for o in relink]
    )
    links = link_entries(session, link_items, link_codes, threshold=limit)
    new_links = links[: len(to_insert)]
    change_links = links[len(to_insert) : len(to_insert) + len(to_change)]
    relinks = links[len(to_insert) + len(to_change) :]

    watch = _Announcer(session, lt, today)
    events: list[dict[str, Any]] = []
    base = {"actor": actor.actor, "sync_id": record.id, "at": now}
    department_id = _managing_department_id(session, lt)

    # Added ----------------------------------------------------------------------------------------------------
    ids = allocate_ids(session, ListEntry.__table__, len(to_insert))
    inserts = []
    legal_basis = "；".join(b.get("title", "") for b in (lt.legal_basis or []) if b.get("title"))
    for entry_id, row, link in zip(ids, to_insert, new_links, strict=True):
        values = row.values
        status = EntryStatus.REMOVED if values.get("removed_on") else EntryStatus.ACTIVE
        inserts.append(
            {
                "id": entry_id,
                "list_type_id": lt.id,
                "entry_key": row.key,
                "subject_id": link.subject_id,
                "party_name": values["party_name"][:200],
                "party_code": values.get("party_code"),
                "party_kind": values.get("party_kind"),
                "region_code": values.get("region_code"),
                "reason": values["reason"],
                "facts": values.get("facts") or "",
                "legal_basis": legal_basis,
                "decision_no": values.get("decision_no"),
                "authority": values["authority"][:200],
                "department_id": department_id,
                "status": status,
                "listed_on": values["listed_on"],
                "term_end": values.get("term_end"),
                "removed_on": values.get("removed_on"),
                "removal_reason": "sync_removed" if status == EntryStatus.REMOVED else None,
                "removal_note": values.get("removal_note"),
                "data": values.get("data") or {},
                "match_status": link.status,
                "match_score": link.score,
                "match_evidence": link.evidence,
                "match_candidates": link.candidates,
                "source": "sync",
                "last_sync_id": record.id,
                "content_hash": row.content_hash,
                "revision": 1,
                "created_at": now,
                "updated_at": now,
            }
        )
        events.append(
            {
                **base,
                "entry_id": entry_id,
                "action": "sync_add",
                "reason": None,
                "before": None,
                "after": _summary(values, link),
            }
        )
        counts["added"] += 1
        if link.status == MatchStatus.PENDING:
            counts["review_queued"] += 1
        watch.after(entry_id, link.subject_id, SimpleNamespace(status=status, **_facts(values)), values["reason"])
    insert_rows(session, ListEntry.__table__, inserts)

    # Changed (including entries the source lists again after a removal) ----------------------------------------
    updates = []
    for (row, old), link in zip(to_change, change_links, strict=True):
        values = row.values
        status = EntryStatus.REMOVED if values.get("removed_on") else EntryStatus.ACTIVE
        new = {
            "_id": old.id,
            "subject_id": link.subject_id,
            "party_name": values["party_name"][:200],
            "party_code": values.get("party_code"),
            "party_kind": values.get("party_kind"),
            "region_code": values.get("region_code"),
            "reason": values["reason"],
            "facts": values.get("facts") or "",
            "decision_no": values.get("decision_no"),
            "authority": values["authority"][:200],
            "status": status,
            "listed_on": values["listed_on"],
            "term_end": values.get("term_end"),
            "removed_on": values.get("removed_on"),
            "removal_reason": "sync_removed" if status == EntryStatus.REMOVED else None,
            "removal_note": values.get("removal_note"),
            "data": values.get("data") or {},
            "match_status": link.status,
            "match_score": link.score,
            "match_evidence": link.evidence,
            "match_candidates": link.candidates,
            "last_sync_id": record.id,
            "content_hash": row.content_hash,
            "revision": old.revision + 1,
            "updated_at": now,
        }
        updates.append(new)
        relisted = old.status == EntryStatus.REMOVED and status != EntryStatus.REMOVED
        events.append(
            {
                **base,
                "entry_id": old.id,
                "action": "sync_add" if relisted else "sync_change",
                "reason": "来源名单重新列入" if relisted else None,
                "before": _summary(vars(old)),
                "after": _summary(values, link),
            }
        )
        counts["added" if relisted else "changed"] += 1
        if link.status == MatchStatus.PENDING:
            counts["review_queued"] += 1
        watch.change(
            old.id,
            old,
            old.subject_id,
            SimpleNamespace(status=status, **_facts(values)),
            link.subject_id,
            values["reason"],
        )
    _bulk_update(session, updates)

    # Re-linked (unchanged content, a subject found now) --------------------------------------------------------
    relinked = []
    for old, link in zip(relink, relinks, strict=True):
        if link.status == old.match_status and link.subject_id is None:
            if link.status == MatchStatus.PENDING:
                relinked.append({"_id": old.id, "match_candidates": link.candidates, "match_score": link.score})
            continue
        relinked.append(
            {
                "_id": old.id,
                "subject_id": link.subject_id,
                "match_status": link.status,
                "match_score": link.score,
                "match_evidence": link.evidence,
                "match_candidates": link.candidates,
                "updated_at": now,
                "revision": old.revision + 1,
            }
        )
        if link.subject_id is not None:
            counts["relinked"] += 1
            events.append(
                {
                    **base,
                    "entry_id": old.id,
                    "action": "match",
                    "reason": "同步时重新比对",
                    "before": {"match_status": old.match_status},
                    "after": {"subject_id": link.subject_id, "match_status": link.status},
                }
            )
            watch.change(old.id, old, None, old, link.subject_id, None)
    _bulk_update(session, relinked)

    # Removed --------------------------------------------------------------------------------------------------
    removals = []
    for old, change in to_remove:
        removed_on = change["removed_on"]
        if old.listed_on and removed_on < old.listed_on:
            removed_on = old.listed_on
        removals.append(
            {
                "_id": old.id,
                "status": EntryStatus.REMOVED,
                "removed_on": removed_on,
                "removal_reason": "sync_removed",
                "removal_note": change["removal_note"],
                "last_sync_id": record.id,
                "revision": old.revision + 1,
                "updated_at": now,
            }
        )
        events.append(
            {
                **base,
                "entry_id": old.id,
                "action": "sync_remove",
                "reason": change["removal_note"],
                "before": {"status": old.status},
                "after": {"status": EntryStatus.REMOVED, "removed_on": removed_on.isoformat()},
            }
        )
        counts["removed"] += 1
        after = SimpleNamespace(
            status=EntryStatus.REMOVED, listed_on=old.listed_on, term_end=old.term_end, removed_on=removed_on
        )
        watch.change(old.id, old, old.subject_id, after, old.subject_id, None)
    _bulk_update(session, removals)

    insert_rows(session, ListEntryEvent.__table__, events)
    if hooks.batch_listeners:  # the exchange feed (core.hooks.batch_written): the entries this sync changed
        changes = [{"id": e["entry_id"], "op": e["action"]} for e in events]
        hooks.batch_written(session, entity_type="list_entry", department_id=0, changes=changes)
    watch.flush()

    queue = (
        session.scalar(
            select(func.count())
            .select_from(ListEntry)
            .where(
                ListEntry.list_type_id == lt.id,
                ListEntry.match_status == MatchStatus.PENDING,
                ListEntry.status != EntryStatus.REMOVED,
            )
        )
        or 0
    )
    record.rows = len(rows) + len(problems.rows) + facts["duplicate_rows"]
    record.added, record.changed, record.removed = counts["added"], counts["changed"], counts["removed"]
    record.unchanged, record.rejected = counts["unchanged"], len(problems.rows)
    record.review_queued = counts["review_queued"]
    record.finished_at = utcnow()
    record.report = {
        "list": lt.code,
        "mode": mode,
        "threshold": limit,
        **facts,
        "relinked": counts["relinked"],
        "review_queue_size": queue,
        "link_status": dict(Counter(link.status for link in new_links + change_links)),
        "events_announced": watch.sent,
        "problem_counts": dict(problems.counts),
        "problems": problems.items,
        "batch_mode": batches.KEEP_GOOD if skip_invalid else batches.REJECT_ALL,
    }
    audit.record(
        session,
        actor=actor.actor,
        action="lists.sync",
        entity_type="list_sync",
        entity_id=record.id,
        reason=f"同步外部名单「{lt.name}」：{record.filename}",
        after={
            "list": lt.code,
            "mode": mode,
            "file": record.filename,
            "sha256": record.sha256,
            "rows": record.rows,
            "added": record.added,
            "changed": record.changed,
            "removed": record.removed,
            "unchanged": record.unchanged,
            "rejected": record.rejected,
            "review_queued": record.review_queued,
        },
    )
    session.flush()
    return record


def _stored_lookup(code: str | None) -> str | None:
    """A stored party code that can still be resolved as a code (never a masked number)."""
    if not code or "*" in code:
        return None
    return code


def _facts(values: dict[str, Any]) -> dict[str, Any]:
    return {
        "listed_on": values.get("listed_on"),
        "term_end": values.get("term_end"),
        "removed_on": values.get("removed_on"),
    }


def _managing_department_id(session: Session, lt: ListType) -> int | None:
    from xinyong.auth.models import Department

    codes = lt.managing_departments or []
    if not codes:
        return None
    return session.scalar(select(Department.id).where(Department.code == codes[0]))


def _bulk_update(session: Session, rows: list[dict[str, Any]]) -> None:
    """UPDATE list_entries by id, grouped by the set of columns changed (one executemany per group)."""
    from sqlalchemy import bindparam

    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(sorted(k for k in r if k != "_id")), []).append(r)
    table = ListEntry.__table__
    for names, items in groups.items():
        stmt = update(table).where(table.c.id == bindparam("_id")).values({n: bindparam(n) for n in names})
        for start in range(0, len(items), 5000):
            session.execute(stmt, items[start : start + 5000])


class _Announcer:
    """Collects list.entered / list.left for subjects someone watches and emits them at the end (bulk check)."""

    def __init__(self, session: Session, lt: ListType, today: dt.date) -> None:
        self.session, self.lt, self.today = session, lt, today
        self.pending: list[tuple[int, str, dict[str, Any]]] = []
        self.sent = 0

    def _payload(self, entry_id: int, facts: Any, reason: str | None) -> dict[str, Any]:
        return {
            "list_type": self.lt.code,
            "entry_id": entry_id,
            "listed_on": facts.listed_on.isoformat() if facts.listed_on else None,
            "term_end": facts.term_end.isoformat() if facts.term_end else None,
            "reason": reason,
        }

    def after(self, entry_id: int, subject_id: int | None, facts: Any, reason: str | None) -> None:
        if _counts_today(facts, subject_id, self.today):
            assert subject_id is not None
            self.pending.append((subject_id, "list.entered", self._payload(entry_id, facts, reason)))

    def change(
        self,
        entry_id: int,
        before: Any,
        before_subject: int | None,
        after: Any,
        after_subject: int | None,
        reason: str | None,
    ) -> None:
        was = _counts_today(before, before_subject, self.today)
        now = _counts_today(after, after_subject, self.today)
        if was and (not now or before_subject != after_subject):
            assert before_subject is not None
            self.pending.append((before_subject, "list.left", self._payload(entry_id, after, reason)))
        if now and (not was or before_subject != after_subject):
            assert after_subject is not None
            self.pending.append((after_subject, "list.entered", self._payload(entry_id, after, reason)))

    def _watched(self, ids: list[int]) -> set[int]:
        """The subjects among ``ids`` that someone watches (chunked index look-ups)."""
        watched: set[int] = set()
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            watched.update(hooks.subject_events().watched_among(self.session, chunk))
        return watched

    def flush(self) -> None:
        if not self.pending:
            return
        watches = hooks.subject_events()
        watched = self._watched(sorted({s for s, _, _ in self.pending}))
        for subject_id, event, payload in self.pending:
            if subject_id in watched:
                self.sent += watches.emit_subject_event(
                    self.session, subject_id=subject_id, event=event, payload=payload
                )
        self.pending = []


def announce(session: Session, *, lt: ListType, entry: ListEntry, before_subject: int | None, before: Any) -> None:
    """list.entered / list.left for one entry whose link or status a reviewer changed."""
    a = _Announcer(session, lt, clock.today())
    a.change(entry.id, before, before_subject, entry, entry.subject_id, entry.reason)
    a.flush()


def syncs_of(
    session: Session,
    *,
    list_code: str | None = None,
    limit: int = 50,
    offset: int = 0,
    department_code: str | None = None,
) -> tuple[int, list[tuple[ListSync, str]]]:
    """Syncs, newest first, with their list code; ``department_code``: only lists that department manages."""
    types = {t.id: t for t in session.scalars(select(ListType))}
    if list_code and not any(t.code == list_code for t in types.values()):
        raise NotFound(f"名单类型 {list_code} 不存在", code="list_type_not_found")
    allowed = [
        t.id
        for t in types.values()
        if (not list_code or t.code == list_code)
        and (department_code is None or department_code in (t.managing_departments or []))
    ]
    where = ListSync.list_type_id.in_(allowed)
    total = session.scalar(select(func.count()).select_from(ListSync).where(where)) or 0
    found = session.scalars(select(ListSync).where(where).order_by(ListSync.id.desc()).limit(limit).offset(offset))
    return total, [(r, types[r.list_type_id].code) for r in found]


def list_type_by_id(session: Session, list_type_id: int) -> ListType:
    found = session.get(ListType, list_type_id)
    if found is None:
        raise NotFound(f"名单类型 {list_type_id} 不存在", code="list_type_not_found")
    return found


def get_sync(session: Session, sync_id: int) -> ListSync:
    found = session.get(ListSync, sync_id)
    if found is None:
        raise NotFound(f"同步记录 {sync_id} 不存在", code="list_sync_not_found")
    return found


def sync_view(record: ListSync, lt_code: str | None = None, *, with_report: bool = True) -> dict[str, Any]:
    report = record.report or {}
    view = {
        "id": record.id,
        "list": lt_code or report.get("list"),
        "mode": record.mode,
        "filename": record.filename,
        "sha256": record.sha256,
        "actor": record.actor,
        "started_at": record.started_at.isoformat(),
        "finished_at": record.finished_at.isoformat() if record.finished_at else None,
        "rows": record.rows,
        "added": record.added,
        "changed": record.changed,
        "removed": record.removed,
        "unchanged": record.unchanged,
        "rejected": record.rejected,
        "review_queued": record.review_queued,
        "review_queue_size": report.get("review_queue_size", 0),
        "relinked": report.get("relinked", 0),
        "summary": batches.BatchSummary.from_counts(
            "list_sync",
            mode=report.get("batch_mode", batches.REJECT_ALL),
            batch=record.id,
            rows=record.rows,
            accepted=record.rows - record.rejected - report.get("duplicate_rows", 0),
            rejected=record.rejected,
            skipped=report.get("duplicate_rows", 0),
            errors=report.get("problems", []),
        ).as_dict(),
    }
    if with_report:
        view["report"] = report
    return view


# Review queue ------------------------------------------------------------------------------------------------


def entry_party_key(entry: ListEntry) -> str:
    return party_key(name=entry.party_name, kind=entry.party_kind, code=entry.party_code, region_code=entry.region_code)


def review_view(entry: ListEntry, lt_code: str) -> dict[str, Any]:
    """An entry as a reviewer sees it: the party as the source gave it and the candidates with their evidence."""
    return {
        "entry_id": entry.id,
        "list": lt_code,
        "entry_key": entry.entry_key,
        "party_name": entry.party_name,
        "party_code": entry.party_code,
        "party_kind": entry.party_kind,
        "region_code": entry.region_code,
        "reason": entry.reason,
        "authority": entry.authority,
        "listed_on": entry.listed_on.isoformat() if entry.listed_on else None,
        "match_status": entry.match_status,
        "subject_id": entry.subject_id,
        "match_score": entry.match_score,
        "candidates": entry.match_candidates or [],
        "data": entry.data,
    }


def review_queue(
    session: Session,
    *,
    list_code: str | None = None,
    limit: int = 50,
    offset: int = 0,
    department_code: str | None = None,
) -> dict[str, Any]:
    """Entries waiting for a reviewer (``pending``, not removed), oldest first, with their candidates.

    ``department_code``: only lists this department manages (a department operator's view)."""
    types = {t.id: t for t in session.scalars(select(ListType))}
    allowed = [
        t.id
        for t in types.values()
        if (not list_code or t.code == list_code)
        and (department_code is None or department_code in (t.managing_departments or []))
    ]
    if list_code and not any(t.code == list_code for t in types.values()):
        raise NotFound(f"名单类型 {list_code} 不存在", code="list_type_not_found")
    where = (
        ListEntry.match_status == MatchStatus.PENDING,
        ListEntry.status != EntryStatus.REMOVED,
        ListEntry.list_type_id.in_(allowed),
    )
    total = session.scalar(select(func.count()).select_from(ListEntry).where(*where)) or 0
    items = session.scalars(select(ListEntry).where(*where).order_by(ListEntry.id).limit(limit).offset(offset))
    return {
        "total": total,
        "limit": limit,
        "offset": offset,
        "items": [review_view(e, types[e.list_type_id].code) for e in items],
    }


def get_entry(session: Session, entry_id: int) -> ListEntry:
    entry = session.get(ListEntry, entry_id)
    if entry is None:
        raise NotFound(f"名单条目 {entry_id} 不存在", code="list_entry_not_found")
    return entry


def judge(
    session: Session, *, actor: Principal, entry_id: int, subject_id: int, verdict: str, reason: str
) -> ListEntry:
    """Record a reviewer's verdict on (entry's party, subject) and apply it to the entry.

    The verdict is stored as a :class:`MatchJudgement` keyed by the party (name, kind, masked code, region), so
    every later sync applies it to the same party. ``same`` links the entry (``judged``; other ``same`` verdicts
    for the party become ``not_same``); ``not_same`` removes the subject from the candidates and unlinks the entry
    if it was linked to it (the entry stays ``pending`` while candidates remain, else ``unmatched``).
    """
    from xinyong.subjects.models import Subject

    if verdict not in ("same", "not_same"):
        raise ValidationFailed("复核结论应为 same（同一主体）或 not_same（不是同一主体）", code="verdict_invalid")
    if not (reason or "").strip():
        raise ValidationFailed("请填写复核理由", code="reason_required")
    entry = get_entry(session, entry_id)
    lt = session.get(ListType, entry.list_type_id)
    assert lt is not None
    require_manager(session, actor, lt)
    subject = session.get(Subject, subject_id)
    if subject is None:
        raise NotFound(f"信用主体 {subject_id} 不存在", code="subject_not_found")
    if entry.match_status == "code" and entry.subject_id is not None:
        raise ValidationFailed(
            "该条目已按代码关联到主体，代码一致的关联不需要也不能人工复核", code="entry_linked_by_code"
        )
    key = entry_party_key(entry)
    now = utcnow()
    found = session.scalar(
        select(MatchJudgement).where(MatchJudgement.party_key == key, MatchJudgement.subject_id == subject_id)
    )
    before_judgement = found.verdict if found else None
    if found is None:
        found = MatchJudgement(
            party_key=key, subject_id=subject_id, verdict=verdict, actor=actor.actor, reason=reason.strip(), at=now
        )
        session.add(found)
    else:
        found.verdict, found.actor, found.reason, found.at = verdict, actor.actor, reason.strip(), now
    if verdict == "same":
        session.execute(
            update(MatchJudgement)
            .where(
                MatchJudgement.party_key == key,
                MatchJudgement.subject_id != subject_id,
                MatchJudgement.verdict == "same",
            )
            .values(verdict="not_same", actor=actor.actor, reason=f"已认定为主体 {subject_id}", at=now)
            .execution_options(synchronize_session=False)
        )

    before_subject = entry.subject_id
    before = SimpleNamespace(
        status=entry.status, listed_on=entry.listed_on, term_end=entry.term_end, removed_on=entry.removed_on
    )
    before_view = {"subject_id": entry.subject_id, "match_status": entry.match_status}
    candidates = [c for c in (entry.match_candidates or []) if c.get("subject_id") != subject_id]
    if verdict == "same":
        entry.subject_id = subject_id
        entry.match_status = "judged"
        entry.match_score = None
        entry.match_evidence = {"judgement": {"weight": 1.0, "text": f"复核认定为同一主体：{reason.strip()}"}}
        entry.match_candidates = None
    else:
        if entry.subject_id == subject_id:
            entry.subject_id = None
            entry.match_evidence = None
        entry.match_candidates = candidates or None
        if entry.subject_id is None:
            entry.match_status = MatchStatus.PENDING if candidates else MatchStatus.UNMATCHED
            entry.match_score = candidates[0]["score"] if candidates else None
    entry.revision += 1
    entry.updated_at = now
    session.add(
        ListEntryEvent(
            entry_id=entry.id,
            action="match_judged",
            actor=actor.actor,
            reason=reason.strip(),
            before=before_view,
            after={
                "subject_id": entry.subject_id,
                "match_status": entry.match_status,
                "verdict": verdict,
                "judged_subject_id": subject_id,
            },
            at=now,
        )
    )
    session.flush()
    announce(session, lt=lt, entry=entry, before_subject=before_subject, before=before)
    audit.record(
        session,
        actor=actor.actor,
        action="lists.match_judge",
        entity_type="list_entry",
        entity_id=entry.id,
        reason=reason.strip(),
        before={"verdict": before_judgement, **before_view},
        after={
            "verdict": verdict,
            "subject_id": subject_id,
            "party_key": key,
            "entry_subject_id": entry.subject_id,
            "match_status": entry.match_status,
        },
    )
    return entry
