"""Collection (归集): a department's file or API push becomes one batch of validated, versioned records.

A batch is atomic: it runs in the caller's transaction, so a crash or kill leaves the database as it was, and
the same file submitted again by the same department is recognised (by its SHA-256) and not applied twice.
Rows are streamed in chunks: memory stays flat however long the file is.

Concurrency (docs/architecture.md §7): the submission is read and validated *before* the caller's transaction
takes its first lock — validation is pure Python — up to ``AHEAD_ROWS`` rows, which covers what departments send
over HTTP; only the writing then runs under SQLite's write lock, so a large upload does not keep other writers
(checks, other uploads) waiting while it parses. The rows of a longer file beyond that bound are validated as they
are written (memory stays flat). The batch's file is locked by its SHA-256 before the duplicate check, so the same
file sent twice at once is applied once (PostgreSQL; SQLite's write transaction serialises them anyway). On SQLite
a file read whole ahead is also prepared ahead (``records.upsert.stage_records``): its rows' subjects are found or
created in short transactions of their own, so the batch's transaction only stores its records — all of them or
none, as before.

Two modes, chosen by the operator:
- ``keep_good`` (default): valid rows are written, invalid rows are refused and kept for the error report;
- ``reject_all``: any invalid row refuses the whole batch. The file is validated first without writing any
  record, then (when it is clean) read again and written.

The authority rule (``auth.authorities``): a row whose 处罚机关 / 许可机关 is not one of the authorities the batch's
department reports for is a rejected row like any other (counted, reported, in the error report), whoever submits
it — the department's own token, the console, the CLI or the admin acting for the department. The department's
authorities are read once when the batch starts and handed to the row side.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from xinyong.auth.authorities import Authorities
from xinyong.auth.models import Department
from xinyong.auth.roles import Principal, system_principal
from xinyong.auth.service import authorities_of
from xinyong.catalog.fields import record_kinds
from xinyong.catalog.service import publicity_rules
from xinyong.core import audit, batches, gcpause
from xinyong.core.batches import RowError
from xinyong.core.db import (
    get_db_settings,
    has_written,
    lock_keys,
    mark_bulk,
    reading_apart,
    utcnow,
    write_lock_released,
)
from xinyong.core.errors import Busy, Forbidden, NotFound, ValidationFailed
from xinyong.identifiers.vault import get_vault
from xinyong.ingest import classes, reports
from xinyong.ingest.models import BatchStatus, IngestBatch, RejectedRow
from xinyong.ingest.readers import (
    Source,
    Table,
    as_source,
    open_table,
    push_digest,
    row_issues,
    table_from_records,
)
from xinyong.ingest.standards import KNOWN_HEADERS, detect_format, guess_kind
from xinyong.ingest.validate import validate_row
from xinyong.records import packing, upsert
from xinyong.records.inputs import RecordInput, RecordKind, RowIssue

CHUNK = 2_000
#: Statuses of a stored batch whose good rows were written (the same file sent again is a duplicate).
_WRITTEN = (BatchStatus.ACCEPTED, BatchStatus.PARTIAL)
#: Rows read and validated before the write transaction begins (≈ 3 KB of memory each while they wait: +65 MB
#: peak for a file of 20,000 rows or more, measured with bench/ingest.py).
AHEAD_ROWS = 20_000
#: Batches one process works on at once; the others wait their turn (at most the busy timeout, then 503). A batch
#: is pure Python for most of its time: under the GIL, several at once in one process are no faster than one
#: after another, and every other request of the process (the credit check) waits for the interpreter behind each
#: of them (docs/performance.md, bench/concurrency.py).
BATCH_SLOTS = 1
_slots = threading.BoundedSemaphore(BATCH_SLOTS)
_FAST = frozenset(k.value for k in RecordKind)
SUMMARY_ERROR_LIMIT = 1_000
Progress = Callable[[int], None]


#: The column a refusal of the record store points at, by refusal code and record kind.
_DOC_COLUMN: dict[str, str] = {RecordKind.PENALTY: "行政处罚决定书文号", RecordKind.LICENCE: "行政许可决定文书号"}
_PARTY_COLUMN: dict[str, str] = {
    RecordKind.PENALTY: "行政相对人代码_1(统一社会信用代码)",
    RecordKind.LICENCE: "行政相对人代码_1(统一社会信用代码)",
}
_REFUSAL_COLUMNS: dict[str, dict[str, str]] = {
    "record_of_other_department": _DOC_COLUMN,
    "record_identity_missing": _DOC_COLUMN,
    "party_code_conflict": _PARTY_COLUMN,
    "party_uscc_invalid": _PARTY_COLUMN,
    "party_code_missing": _PARTY_COLUMN,
}


def _key(r: RecordInput) -> int:
    """A compact identity of a decision within one file (authority + normalised document number)."""
    digest = hashlib.blake2b(f"{r.authority_uscc}\x1f{r.doc_no_norm}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _cell(value: Any) -> Any:
    """A cell as JSON can hold it (dates from XLSX become ISO text)."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _issue(issue: RowIssue) -> RowError:
    """A row issue as the batch runner counts it (its own dict kept for the batch's report)."""
    return RowError(issue.row, issue.column, issue.code, issue.message, detail=issue.to_dict())


def _validator(
    kind: RecordKind, header_map: Any, authorities: Authorities, warnings: Counter[str]
) -> Callable[[], batches.Validate]:
    """The row side of a 双公示 batch (no database), for :func:`xinyong.core.batches.run`: validation and duplicates
    within the file; a fresh one per pass over the file."""
    return _row_validator(
        lambda number, values: validate_row(kind, header_map, number, values, authorities),
        _DOC_COLUMN[kind],
        "同一文件中第 {first} 行已有同一机关的同一文书号",
        warnings,
    )


def _class_validator(
    header_map: classes.ClassHeaderMap, authorities: Authorities, warnings: Counter[str]
) -> Callable[[], batches.Validate]:
    """The row side of a batch of another information class (``ingest.classes``): same shape as :func:`_validator`."""
    doc_key = header_map.spec.by_role("doc_no")
    return _row_validator(
        lambda number, values: classes.validate_class_row(header_map, number, values, authorities),
        header_map.header_of(doc_key.key) if doc_key else "",
        "同一文件中第 {first} 行已有同一机关的同一条信息（识别字段相同）",
        warnings,
    )


def _row_validator(
    validate_one: Callable[[int, list[Any]], tuple[RecordInput | None, list[RowIssue]]],
    doc_column: str,
    duplicate_message: str,
    warnings: Counter[str],
) -> Callable[[], batches.Validate]:
    """``validate_one`` over a file's rows: cut rows refused unvalidated, a second row with the same record key
    refused as ``duplicate_in_file`` (``duplicate_message`` names the first row), warnings counted."""

    def make() -> batches.Validate:
        seen: dict[int, int] = {}

        def validate(number: int, values: list[Any]) -> tuple[RecordInput | None, list[RowError]]:
            refused = row_issues(values)  # over-long cell or row, formula without a value: cut, never validated
            record, issues = (None, refused) if refused else validate_one(number, values)
            if record is None:
                return None, [_issue(i) for i in issues]
            key = _key(record)
            first = seen.get(key)
            if first is not None:
                message = duplicate_message.format(first=first)
                return None, [_issue(RowIssue(number, doc_column, record.doc_no, "duplicate_in_file", message))]
            seen[key] = number
            for w in record.warnings:
                warnings[w.code] += 1
            return record, []

        return validate

    return make


def resolve_kind(kind: RecordKind | str | None, headers: list[Any]) -> str:
    """The class of a submission: as the sender said (any class with a data standard), or from the header row —
    the class with the most columns of its own (``classes.guess_class``); licence or penalty by their own rule
    (``standards.guess_kind``)."""
    if kind:
        code = kind.value if isinstance(kind, RecordKind) else str(kind)
        if code not in record_kinds():
            raise ValidationFailed(
                f"未知的信息类别 {code!r}（可选：{' / '.join(record_kinds())}）",
                code="unknown_kind",
                details={"kind": code, "kinds": list(record_kinds())},
            )
        return code
    try:
        guessed: str | None = classes.guess_class(headers)  # the class with the most columns no other class has
    except ValidationFailed:
        guessed = None
    if guessed is None or guessed in _FAST:  # 双公示 as before (its own guess, its own messages)
        return guess_kind(headers).value
    return guessed


@functools.cache
def all_headers() -> frozenset[str]:
    """Every known column name of every class (the header-row search of a file whose class is not known yet)."""
    return KNOWN_HEADERS | frozenset(classes.class_headers())


class _Store:
    """The store side of a batch: writes each chunk in the caller's transaction and keeps the write's totals."""

    def __init__(self, session: Session, kind: RecordKind | str, actor: Principal) -> None:
        self.session, self.kind, self.actor = session, kind, actor
        self.batch: IngestBatch | None = None
        self.counts: Counter[str] = Counter()
        self.vault = get_vault()
        self.staged: Any = None  # records.upsert.StagedRows: rows prepared ahead of the write transaction
        # versions written (created + updated) at which the city's first dictionary may be trained
        # (records.packing.train_first)
        self.train_at: int | None = packing.TRAIN_POOL
        self.trained: int | None = None  # the dictionary it trained (audited at the batch's end)
        # the chunks' feed changes and audit counts, told at the batch's end (core.batches.Deferred)
        self.deferred = batches.Deferred()

    def write(self, good: list[batches.Good[RecordInput]], bad: list[batches.Rejected]) -> list[batches.Rejected]:

        assert self.batch is not None
        refused: list[batches.Rejected] = []
        if good:
            result = upsert.upsert_records(
                self.session,
                actor=self.actor,
                department_id=self.batch.department_id,
                batch_id=self.batch.id,
                received_at=self.batch.received_at,
                rows=[g.item for g in good],
                staged=self.staged,
                deferred=self.deferred,
            )
            for key in ("created", "updated", "unchanged", "withdrawn", "late", "subjects_created", "name_mismatches"):
                self.counts[key] += int(getattr(result, key, 0) or 0)
            refused = self.refused(good, result.outcomes)
            if self.train_at is not None and self.counts["created"] + self.counts["updated"] >= self.train_at:
                self.train_first()
        if bad:
            self.session.execute(
                insert(RejectedRow),
                [
                    {
                        "batch_id": self.batch.id,
                        "row": r.number,
                        "issues": [e.detail or {**e.as_dict(), "value": None} for e in r.errors],
                        "values_enc": self.vault.encrypt(json.dumps([_cell(v) for v in r.values], ensure_ascii=False)),
                    }
                    for r in bad
                ],
            )
        return refused

    def train_first(self) -> None:
        """A city's first large load trains its first dictionary once it has stored enough versions, and packs the
        rest of the load with it (docs/operations.md, "Packed versions")."""
        assert self.batch is not None
        self.train_at = self.counts["created"] + self.counts["updated"] + packing.TRAIN_POOL
        trained = packing.train_first(
            self.session,
            actor=system_principal(f"ingest:batch-{self.batch.id}:{self.actor.actor}").actor,
            note={"batch_id": self.batch.id},
        )
        if trained is not None:
            self.train_at = None  # one per load; the next ones are the weekly job's
            if trained.stored:
                self.trained = trained.dictionary_id

    def refused(self, good: list[batches.Good[RecordInput]], outcomes: list[Any]) -> list[batches.Rejected]:
        """Valid rows the record store refused (a record owned by another department, a party code that belongs
        to another subject …) are rejected rows of the batch like any other: counted, reported, resendable."""
        values = {g.number: g.values for g in good}
        out = []
        for o in outcomes:
            if o.outcome != "rejected":
                continue
            warning = o.warnings[0] if o.warnings else {"code": "record_refused", "message": "记录未能入库"}
            column = _REFUSAL_COLUMNS.get(warning["code"], {}).get(self.kind, "")
            out.append(
                batches.Rejected(
                    o.row,
                    values.get(o.row, []),
                    [_issue(RowIssue(o.row, column, None, warning["code"], warning["message"]))],
                )
            )
        return out


def _one_at_a_time(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """At most ``BATCH_SLOTS`` batches at once in this process; the next waits up to the busy timeout, then
    :class:`~xinyong.core.errors.Busy` (503)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> dict[str, Any]:
        settings = get_db_settings()
        if not _slots.acquire(timeout=settings.busy_timeout):
            raise Busy(
                "系统繁忙：正在处理其他报送批次，请稍后重试",
                code="ingest_busy",
                retry_after=max(1, round(settings.busy_timeout / 10)),
            )
        try:
            return fn(*args, **kwargs)
        finally:
            _slots.release()

    return wrapper


@_one_at_a_time
@gcpause.bulk()
def run_batch(
    session: Session,
    *,
    actor: Principal,
    department_id: int,
    open_rows: Callable[[], Table],
    sha256: str,
    channel: str,
    filename: str | None = None,
    kind: RecordKind | str | None = None,
    reject_all: bool = False,
    progress: Progress | None = None,
    received_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Validate and load one submission; returns the batch summary (see :func:`batch_summary`).

    ``received_at`` is now, except when history is replayed (the demo city's three years of weekly reports).
    Call it before the session's transaction has begun, so that reading and validating the file (up to
    ``AHEAD_ROWS`` rows) happens before the write transaction takes its lock (see the module's doc). One batch
    at a time per process (``BATCH_SLOTS``).
    """
    _check_department(actor, department_id)
    with reading_apart(session) as reader:  # not the write transaction: it begins after validation
        authorities = authorities_of(reader, department_id=department_id)
    table = open_rows()
    code = resolve_kind(kind, table.headers)
    warnings: Counter[str] = Counter()
    header_map: Any
    if code in _FAST:  # 双公示: the specialised validator (ingest.validate)
        header_map = detect_format(RecordKind(code), table.headers)
        make_validator = _validator(RecordKind(code), header_map, authorities, warnings)
    else:  # every other class: its data standard (ingest.classes)
        with reading_apart(session) as reader:  # a catalog seeded before the class existed lacks it
            if not publicity_rules(reader, [code]):
                raise ValidationFailed(
                    f"信息类别 {code} 尚未载入信用信息目录：请平台管理员运行 xinyong catalog seed",
                    code="class_not_in_catalog",
                    details={"kind": code},
                )
        header_map = classes.detect_class_format(code, table.headers)
        make_validator = _class_validator(header_map, authorities, warnings)
    header_map.require_complete()
    store = _Store(session, code, actor)
    found: list[IngestBatch] = []

    def begin() -> bool:
        # The write transaction begins here, after the rows read ahead were validated (no database): a bulk one
        # (on SQLite short writers such as checks go first while it waits).
        mark_bulk(session)
        lock_keys(session, "ingest_batch", ["\x1f".join((str(department_id), code, sha256))])
        previous = session.scalar(
            select(IngestBatch)
            .where(
                IngestBatch.department_id == department_id,
                IngestBatch.kind == code,
                IngestBatch.sha256 == sha256,
                IngestBatch.status.in_(_WRITTEN),
            )
            .order_by(IngestBatch.id.desc())
            .limit(1)
        )
        if previous is not None:
            found.append(previous)
            return False
        store.batch = IngestBatch(
            department_id=department_id,
            kind=code,
            channel=channel,
            filename=filename,
            sha256=sha256,
            format=table.format,
            standard=header_map.standard,
            encoding=table.encoding,
            headers=[_cell(h) for h in table.raw_headers],
            mode="reject_all" if reject_all else "keep_good",
            status="processing",
            actor=actor.actor,
            received_at=received_at or utcnow(),
        )
        session.add(store.batch)
        session.flush()
        return True

    def prepare(good: list[batches.Good[RecordInput]]) -> None:
        # SQLite (one writer): a file read whole ahead has its rows prepared and its subjects found or created in
        # short transactions of their own, so the write transaction below only stores the records (§7). A
        # reject_all file writes nothing unless all of it is stored: its rows are prepared, its subjects are not.
        if session.get_bind().dialect.name != "sqlite" or has_written(session) or not good:
            return

        with reading_apart(session) as reader:  # a file applied already is not prepared again
            if reader.scalar(
                select(IngestBatch.id)
                .where(
                    IngestBatch.department_id == department_id,
                    IngestBatch.kind == code,
                    IngestBatch.sha256 == sha256,
                    IngestBatch.status.in_(_WRITTEN),
                )
                .limit(1)
            ):
                return
        with write_lock_released(session):
            store.staged = upsert.stage_records(
                session.get_bind(),
                actor=actor,
                department_id=department_id,
                rows=[g.item for g in good],
                subjects=not reject_all,
            )

    result = batches.run(
        table.rows,
        importer="ingest",
        validate=make_validator,
        fresh_validator=True,
        write=store.write,
        mode="reject_all" if reject_all else "keep_good",
        session=session,
        begin=begin,
        ahead=AHEAD_ROWS,
        hold=AHEAD_ROWS,
        reopen=lambda: open_rows().rows,
        chunk=CHUNK,
        progress=progress,
        prepare=prepare,
    )
    if result is None:
        # The same file again: nothing is written, so this submission created, updated, … nothing. The answer says
        # so (``duplicate``) and names the original batch; its own counts are in ``batch_summary(duplicate_of)``.
        summary = batch_summary(found[0])
        summary["duplicate_of"] = found[0].id
        summary["duplicate"] = True
        for key in ("created", "updated", "unchanged", "withdrawn", "late", "subjects_created", "name_mismatches"):
            summary[key] = 0
        return summary
    batch = store.batch
    assert batch is not None
    result.batch = batch.id
    c = store.counts
    batch.status = {"partially_accepted": BatchStatus.PARTIAL}.get(result.status, result.status)
    batch.rows, batch.rejected, batch.accepted = result.rows, result.rejected, result.accepted
    for key in ("created", "updated", "unchanged", "withdrawn", "late"):
        setattr(batch, key, c[key] if result.written else 0)
    batch.error_counts = dict(result.error_counts + warnings)
    batch.finished_at = utcnow()
    batch.summary = {
        "errors": [e.detail or {**e.as_dict(), "value": None} for e in result.errors],
        "subjects_created": c["subjects_created"],
        "name_mismatches": c["name_mismatches"],
        "unknown_columns": list(header_map.unknown),
        "reject_counts": dict(result.error_counts),
    }
    if result.written:  # the audit chain's and the feed's heads are taken here, at the end (core.batches.Deferred)
        if store.trained is not None:
            packing.audit_training(session, store.trained)
        store.deferred.flush(session, reason=f"报送信用记录 {result.accepted} 行")
    audit.record(
        session,
        actor=actor.actor,
        action="ingest.batch",
        entity_type="ingest_batch",
        entity_id=batch.id,
        reason=f"{'文件' if channel == 'file' else '接口'}报送 {filename or ''}".strip(),
        after={k: v for k, v in batch_summary(batch).items() if k not in ("errors", "summary")},
    )
    return batch_summary(batch)


def ingest_file(
    session: Session,
    *,
    actor: Principal,
    department_id: int,
    path: str | Path | Source,
    kind: RecordKind | str | None = None,
    reject_all: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """A file: a path (the CLI) or an upload received by :mod:`xinyong.core.uploads` (the API, the console)."""
    source = as_source(path)
    return run_batch(
        session,
        actor=actor,
        department_id=department_id,
        open_rows=lambda: open_table(source, known_headers=all_headers()),
        sha256=source.sha256(),
        channel="file",
        filename=source.name,
        kind=kind,
        reject_all=reject_all,
        progress=progress,
    )


def ingest_rows(
    session: Session,
    *,
    actor: Principal,
    department_id: int,
    kind: RecordKind | str,
    rows: list[dict[str, Any]],
    reject_all: bool = False,
    received_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """An API push: a JSON array of objects keyed by the standard's column names (Chinese or coded)."""
    sha256 = push_digest(rows)
    return run_batch(
        session,
        actor=actor,
        department_id=department_id,
        open_rows=lambda: table_from_records(rows),
        sha256=sha256,
        channel="api",
        kind=kind,
        reject_all=reject_all,
        received_at=received_at,
    )


def _check_department(actor: Principal, department_id: int) -> None:
    if not actor.is_admin and actor.department_id != department_id:
        raise Forbidden("只能为本部门报送数据", code="other_department")


def batch_summary(batch: IngestBatch) -> dict[str, Any]:
    summary = batch.summary or {}
    return {
        **batches.batch_out(batch, summary),
        "kind": batch.kind,
        "standard": batch.standard,
        "encoding": batch.encoding,
        "withdrawn": batch.withdrawn,
        "late": batch.late,
        "name_mismatches": summary.get("name_mismatches", 0),
        "error_counts": batch.error_counts or {},
        "summary": _common_summary(batch),
        "duplicate": False,  # ingest_file sets it (and zeroes the written counts) for a file sent again
    }


def _common_summary(batch: IngestBatch) -> dict[str, Any]:
    """The batch in the shape every importer answers (:class:`xinyong.core.batches.BatchSummary`)."""
    errors = [
        {k: e.get(k) for k in ("row", "column", "code", "message")} for e in (batch.summary or {}).get("errors", [])
    ]
    counts = (batch.summary or {}).get("reject_counts")
    if counts is None:  # a batch stored before the common summary: the codes of its errors
        counts = {c: n for c, n in (batch.error_counts or {}).items() if any(e["code"] == c for e in errors)}
    return {
        "importer": "ingest",
        "batch": batch.id,
        "mode": batch.mode,
        "status": "partially_accepted" if batch.status == BatchStatus.PARTIAL else batch.status,
        "rows": batch.rows,
        "accepted": batch.accepted,
        "rejected": batch.rejected,
        "skipped": 0,
        "errors": errors,
        "error_counts": counts,
    }


def get_batch(session: Session, *, actor: Principal, batch_id: int) -> IngestBatch:
    batch = session.get(IngestBatch, batch_id)
    if batch is None or not actor.can_see_department(batch.department_id):
        raise NotFound(f"批次 {batch_id} 不存在", code="batch_not_found")
    return batch


def list_batches(
    session: Session, *, actor: Principal, department_id: int | None = None, limit: int = 50, offset: int = 0
) -> list[IngestBatch]:
    stmt = select(IngestBatch).order_by(IngestBatch.id.desc()).limit(limit).offset(offset)
    if not actor.is_admin:
        stmt = stmt.where(IngestBatch.department_id == actor.department_id)
    elif department_id is not None:
        stmt = stmt.where(IngestBatch.department_id == department_id)
    return list(session.scalars(stmt))


def count_batches(
    session: Session, *, actor: Principal, department_id: int | None = None, cap: int | None = None
) -> int:
    """How many batches :func:`list_batches` pages through; with ``cap``, counted only up to ``cap`` + 1."""
    stmt = select(IngestBatch.id)
    if not actor.is_admin:
        stmt = stmt.where(IngestBatch.department_id == actor.department_id)
    elif department_id is not None:
        stmt = stmt.where(IngestBatch.department_id == department_id)
    if cap is not None:
        stmt = stmt.limit(cap + 1)
    return int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)


def error_report(session: Session, *, actor: Principal, batch_id: int, fmt: str = "csv") -> tuple[bytes, str]:
    """The rejected rows in the department's own columns, with reasons; (content, filename)."""
    batch = get_batch(session, actor=actor, batch_id=batch_id)
    vault = get_vault()

    def rejected() -> Iterator[tuple[int, list[Any], list[dict[str, Any]]]]:
        stmt = (
            select(RejectedRow.row, RejectedRow.values_enc, RejectedRow.issues)
            .where(RejectedRow.batch_id == batch.id)
            .order_by(RejectedRow.row)
            .execution_options(yield_per=2000)
        )
        for row, enc, issues in session.execute(stmt):
            yield row, json.loads(vault.decrypt(enc)), issues

    rows = reports.report_rows(list(batch.headers or []), rejected())
    stem = f"batch-{batch.id}-退回数据"
    if fmt == "xlsx":
        return reports.to_xlsx(rows), f"{stem}.xlsx"
    if fmt == "csv":
        return reports.to_csv(rows), f"{stem}.csv"
    raise ValidationFailed("报告格式只能是 csv 或 xlsx", code="report_format")


def timeliness(
    session: Session, *, date_from: dt.date | None = None, date_to: dt.date | None = None
) -> list[dict[str, Any]]:
    """Per department: rows accepted, late rows (over the catalog's working-day limit), late rate, rejections."""

    stmt = (
        select(
            Department.code,
            Department.name,
            func.count(IngestBatch.id),
            func.coalesce(func.sum(IngestBatch.rows), 0),
            func.coalesce(func.sum(IngestBatch.accepted), 0),
            func.coalesce(func.sum(IngestBatch.late), 0),
            func.coalesce(func.sum(IngestBatch.rejected), 0),
        )
        .join(IngestBatch, IngestBatch.department_id == Department.id, isouter=True)
        .where(Department.external.is_(False))  # the 省平台's forwarded data are not the city's timeliness
        .group_by(Department.code, Department.name)
        .order_by(Department.code)
    )
    if date_from:
        stmt = stmt.where(
            (IngestBatch.received_at.is_(None))
            | (IngestBatch.received_at >= dt.datetime.combine(date_from, dt.time(), tzinfo=dt.UTC))
        )
    if date_to:
        stmt = stmt.where(
            (IngestBatch.received_at.is_(None))
            | (IngestBatch.received_at < dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC))
        )
    out = []
    for code, name, n_batches, rows, accepted, late, rejected in session.execute(stmt):
        out.append(
            {
                "department": code,
                "name": name,
                "batches": n_batches,
                "rows": rows,
                "accepted": accepted,
                "late": late,
                "late_rate": round(late / accepted, 4) if accepted else None,
                "rejected": rejected,
                "rejection_rate": round(rejected / rows, 4) if rows else None,
            }
        )
    return out
