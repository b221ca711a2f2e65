"""Import of list entries from a department's file (CSV in any encoding, XLSX, JSON), Chinese column headers.

Columns (header spelling as departments write it; ``ingest.readers`` finds the header row, folds full-width
brackets and spaces): 名单类型 (code or name; optional when the list is given for the whole file), 主体名称,
统一社会信用代码 / 身份证号码 (either), 列入事由, 失信事实, 认定依据 (default: the type's first legal basis),
决定文书号, 认定日期 / 列入日期, 有效期至 (default: the type's term), 告知日期 (required for types that require
notice; a row with 告知日期 and no 列入日期 records the notice only), 认定机关 / 认定机关统一社会信用代码 (optional:
the recording department itself by default; a row naming another authority must name one the department reports
for — the authority rule of ``lists.service``, codes ``authority_not_registered`` / ``authority_name_mismatch``).

Every row is validated with the same rules as a single entry (``service.draft_entry``) before anything is written;
errors name the row, the column, a stable code and a Chinese message. Then, in the caller's transaction, either
the good rows are written and the bad ones returned (default), or — ``reject_all`` — nothing is written when any
row is bad. Re-importing the same file is idempotent: a row whose (list, 决定文书号) already exists with the same
content is skipped; with different content it is an error (changes go through correct / extend / remove).
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.auth.roles import Principal
from xinyong.core import audit, batches, clock, gcpause
from xinyong.core.errors import ValidationFailed, XinyongError
from xinyong.identifiers.names import normalize_org_name, normalize_person_name
from xinyong.ingest.readers import Source, as_source, normalize_header, open_table, row_issues
from xinyong.ingest.validate import cell_text
from xinyong.ingest.values import parse_date
from xinyong.lists import service
from xinyong.lists.models import EntrySource, EntryStatus, ListEntry, ListType, Stage
from xinyong.subjects.models import SubjectKind

#: field → accepted header spellings (normalised by ``ingest.readers.normalize_header``); the first is canonical.
COLUMNS: dict[str, tuple[str, ...]] = {
    "list": ("名单类型", "名单类型代码", "名单代码", "名单名称"),
    "party_name": ("主体名称", "名称", "当事人名称", "姓名", "企业名称"),
    "code": ("统一社会信用代码", "身份证号码", "统一社会信用代码/身份证号码", "主体代码", "证件号码", "社会信用代码"),
    "reason": ("列入事由", "列入原因", "事由"),
    "facts": ("失信事实", "违法失信事实", "事实"),
    "legal_basis": ("认定依据", "列入依据", "依据"),
    "decision_no": ("决定文书号", "认定文书号", "列入决定书文号", "文书号"),
    "listed_on": ("认定日期", "列入日期"),
    "term_end": ("有效期至", "期限至", "列入期限至"),
    "notice_given_on": ("告知日期", "告知书送达日期"),
    "authority": ("认定机关", "认定单位", "作出决定机关", "决定机关", "列入机关"),
    "authority_uscc": (
        "认定机关统一社会信用代码",
        "认定机关代码",
        "认定单位统一社会信用代码",
        "作出决定机关统一社会信用代码",
        "决定机关统一社会信用代码",
    ),
}
KNOWN_HEADERS = {normalize_header(h) for names in COLUMNS.values() for h in names}
_CANONICAL = {field: names[0] for field, names in COLUMNS.items()}
#: Which column a validation error of ``service.draft_entry`` belongs to.
_ERROR_COLUMN = {
    "bad_subject_code": "code",
    "unknown_subject": "code",
    "party_kind_not_allowed": "code",
    "reason_required": "reason",
    "facts_too_long": "facts",
    "legal_basis_required": "legal_basis",
    "decision_no_required": "decision_no",
    "notice_required": "notice_given_on",
    "notice_period_running": "notice_given_on",
    "notice_in_future": "notice_given_on",
    "notice_after_listing": "notice_given_on",
    "notice_not_required": "notice_given_on",
    "notice_with_listing": "listed_on",
    "listed_on_in_future": "listed_on",
    "term_before_listing": "term_end",
    "term_too_long": "term_end",
    "unknown_list_type": "list",
    "list_type_inactive": "list",
    "external_list": "list",
    "list_not_managed": "list",
    "department_mismatch": "list",
    "authority_uscc_invalid": "authority_uscc",
    "authority_too_long": "authority",
    "authority_name_mismatch": "authority",
}
#: Fields compared to decide that a re-imported row is the entry already stored.
_SAME = ("subject_id", "reason", "facts", "legal_basis", "status", "notice_given_on", "listed_on", "term_end")


def _column_map(headers: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for field, names in COLUMNS.items():
        wanted = [normalize_header(n) for n in names]
        for i, h in enumerate(headers):
            if h in wanted and field not in found:
                found[field] = i
        if field == "code":  # two code columns (USCC and ID) may both be present: keep them all
            found.update({f"code#{i}": i for i, h in enumerate(headers) if h in wanted})
    return found


def _cell(values: list[Any], index: int | None) -> Any:
    if index is None or index >= len(values):
        return None
    value = values[index]
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _text_cell(values: list[Any], index: int | None) -> str | None:
    """A text column's cell as text: a number in 主体名称 or 认定依据 (a JSON number, a numeric XLSX cell) is text to
    check like any other, not a crash."""
    value = _cell(values, index)
    return value if value is None or isinstance(value, str) else cell_text(value)


def _type_by_ref(types: dict[str, ListType], ref: str) -> ListType | None:
    ref = ref.strip()
    if ref in types:
        return types[ref]
    return next((t for t in types.values() if t.name == ref), None)


def _same_person_or_org(name: str | None, subject: Any) -> bool:
    if not name:
        return True
    norm = normalize_person_name if subject.kind == SubjectKind.NATURAL_PERSON.value else normalize_org_name
    given = norm(name)
    return given == subject.name_norm or any(n.name_norm == given for n in subject.names)


@gcpause.bulk()
def import_entries(
    session: Session,
    *,
    actor: Principal,
    path: str | Path | Source,
    list_code: str | None = None,
    department: str | None = None,
    reject_all: bool = False,
    filename: str | None = None,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """Validate every row of the file, then write the good rows (or none when ``reject_all`` and a row is bad).

    Raises :class:`ValidationFailed` (``import_rejected``, the row errors in ``details``) when ``reject_all`` and
    a row is bad, so the caller's transaction writes nothing.
    """
    today = today or clock.today()
    source = as_source(path)
    table = open_table(source, known_headers=KNOWN_HEADERS)
    cols = _column_map(table.headers)
    raw = [str(h) if h is not None else "" for h in table.raw_headers] or table.headers
    code_cols = [i for k, i in cols.items() if k.startswith("code#")]
    missing = [_CANONICAL[f] for f in ("party_name", "reason", "decision_no") if f not in cols]
    if not code_cols:
        missing.append("统一社会信用代码/身份证号码")
    if "list" not in cols and not list_code:
        missing.append("名单类型（或在导入时指定名单）")
    if missing:
        raise ValidationFailed(
            "名单导入文件缺少必需的列：" + "、".join(missing),
            code="import_columns_missing",
            details={"missing": missing, "headers": table.headers},
        )
    types = {t.code: t for t in session.scalars(select(ListType))}
    fixed: ListType | None = None
    if list_code:
        # The whole file's list: refuse at once (403/422) rather than on every row.
        fixed = service._type_for_write(session, list_code)
        service._check_manual(fixed, "导入条目")
        service._acting_department(session, actor, fixed, department)

    def column_name(field: str, index: int | None = None) -> str:
        i = index if index is not None else cols.get(field)
        if i is not None and i < len(raw) and raw[i]:
            return raw[i]
        return _CANONICAL.get(field, field)

    seen: dict[tuple[int, str], int] = {}

    def validate(number: int, values: list[Any]) -> tuple[Any, list[batches.RowError]]:
        errs: list[batches.RowError] = []

        def fail(field: str, code: str, message: str, *, index: int | None = None, row: int = number) -> None:
            errs.append(batches.RowError(row, column_name(field, index), code, message))

        refused = row_issues(values)  # over-long cell or row, formula without a value: never validated
        if refused:
            return None, [batches.RowError(i.row, i.column, i.code, i.message) for i in refused]

        lt = fixed
        ref = _cell(values, cols.get("list"))
        if ref is not None:
            named = _type_by_ref(types, str(ref))
            if named is None:
                fail("list", "unknown_list_type", f"名单类型「{str(ref)[:60]}」不存在")
                return None, errs
            if fixed is not None and named.id != fixed.id:
                fail("list", "list_mismatch", f"名单类型「{ref}」与导入时指定的「{fixed.name}」不一致")
                return None, errs
            lt = named
        if lt is None:
            fail("list", "list_missing", "未填写名单类型")
            return None, errs
        code_index = next((i for i in code_cols if _cell(values, i) is not None), None)
        if code_index is None:
            fail("code", "subject_code_missing", "未填写统一社会信用代码或身份证号码")
            return None, errs
        dates: dict[str, dt.date | None] = {}
        bad_date = False
        for field in ("listed_on", "term_end", "notice_given_on"):
            try:
                dates[field] = parse_date(_cell(values, cols.get(field)))
            except (ValueError, OverflowError):
                fail(field, "bad_date", f"{column_name(field)}「{_cell(values, cols.get(field))}」不是有效日期")
                bad_date = True
        if bad_date:
            return None, errs
        notice_only = lt.requires_notice and dates["listed_on"] is None and dates["notice_given_on"] is not None
        if not notice_only and dates["listed_on"] is None:
            fail("listed_on", "listed_on_missing", "未填写认定日期（列入日期）")
            return None, errs
        try:
            draft = service.draft_entry(
                session,
                actor=actor,
                list_code=lt.code,
                subject_code=str(_cell(values, code_index)),
                reason=str(_cell(values, cols.get("reason")) or ""),
                decision_no=str(_cell(values, cols.get("decision_no")) or ""),
                facts=str(_cell(values, cols.get("facts")) or ""),
                legal_basis=_text_cell(values, cols.get("legal_basis")),
                stage=Stage.NOTICE if notice_only else Stage.LISTED,
                notice_given_on=dates["notice_given_on"],
                listed_on=dates["listed_on"],
                term_end=dates["term_end"],
                department=department,
                today=today,
                source=EntrySource.FILE,
                party_name=_text_cell(values, cols.get("party_name")),
                authority=_text_cell(values, cols.get("authority")),
                authority_uscc=_text_cell(values, cols.get("authority_uscc")),
            )
        except XinyongError as exc:
            field = _ERROR_COLUMN.get(exc.code, "code")
            if exc.code == "authority_not_registered":
                field = "authority_uscc" if (exc.details or {}).get("field") == "uscc" else "authority"
            fail(field, exc.code, exc.message, index=code_index if field == "code" else None)
            return None, errs
        if not _same_person_or_org(_text_cell(values, cols.get("party_name")), draft.subject):
            fail(
                "party_name",
                "name_mismatch",
                f"主体名称与主体库中该代码的名称不一致（主体库：{draft.subject.name if draft.subject.kind != 'natural_person' else '自然人'}）",
            )
            return None, errs
        key = (lt.id, draft.entry_key)
        if key in seen:
            fail("decision_no", "duplicate_in_file", f"决定文书号与第 {seen[key]} 行重复")
            return None, errs
        seen[key] = number
        existing = session.scalar(
            select(ListEntry).where(ListEntry.list_type_id == lt.id, ListEntry.entry_key == draft.entry_key)
        )
        if existing is not None:
            if all(getattr(existing, f) == draft.values.get(f) for f in _SAME):
                return batches.SKIP, []
            conflict = service._key_conflict(existing, draft)
            fail("decision_no", conflict.code, conflict.message + "，且内容不同（请通过更正、延长或移出修改）")
            return None, errs
        return draft, []

    def write(good: list[batches.Good[service.EntryDraft]], _bad: list[batches.Rejected]) -> None:
        for g in good:
            entry = service.write_entry(
                session, actor=actor, draft=g.item, audited=False, today=today, reason=f"文件导入：{name}"
            )
            ids.append(entry.id)
            written[entry.status == EntryStatus.NOTIFIED] += 1

    name = (filename or source.name)[:300]
    ids: list[int] = []
    written = [0, 0]  # created, notified
    # Every row is validated before any is written (a row's checks read the entries as they were before the file).
    summary = batches.run(
        table.rows,
        importer="lists",
        validate=validate,
        write=write,
        mode="reject_all" if reject_all else "keep_good",
        chunk=sys.maxsize,
    )
    assert summary is not None

    report: dict[str, Any] = {
        "file": name,
        "sha256": source.sha256(),
        "format": table.format,
        "rows": summary.rows,
        "created": written[0],
        "notified": written[1],
        "skipped": summary.skipped,
        "rejected": summary.rejected,
        "applied": summary.written,
        "errors": [e.as_dict() for e in summary.errors],
        "entry_ids": ids,
        "summary": summary.as_dict(),
    }
    if not summary.written:
        raise ValidationFailed(
            f"文件中有 {summary.rejected} 行错误，整个文件未导入", code="import_rejected", details=report
        )
    audit.record(
        session,
        actor=actor.actor,
        action="lists.entry.import",
        entity_type=service.ENTITY,
        reason=f"导入名单条目文件 {report['file']}",
        after={k: report[k] for k in ("file", "sha256", "rows", "created", "notified", "skipped", "rejected")}
        | {"entry_ids": ids[:1000]},
    )
    return report
