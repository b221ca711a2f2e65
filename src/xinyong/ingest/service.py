"""Collection (归集): a department's file or API push becomes one batch of validated, versioned records.

A batch is atomic: it runs in the caller's transaction, so a crash or kill leaves the database as it was, and
the same file submitted again by the same department is recognised (by its SHA-256) and not applied twice.
Rows are streamed in chunks: memory stays flat however long the file is.

Concurrency (docs/architecture.md §7): the submission is read and validated *before* the caller's transaction
takes its first lock — validation is pure Python — up to ``AHEAD_ROWS`` rows, which covers what departments send
over HTTP; only the writing then runs under SQLite's write lock, so a large upload does not keep other writers
(checks, other uploads) waiting while it parses. The rows of a longer file beyond that bound are validated as they
are written (memory stays flat). The batch's file is locked by its SHA-256 before the duplicate check, so the same
file sent twice at once is applied once (PostgreSQL; SQLite's write transaction serialises them anyway).

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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from xinyong.auth.authorities import Authorities
from xinyong.auth.roles import Principal
from xinyong.auth.service import authorities_of
from xinyong.core import audit, gcpause
from xinyong.core.db import get_db_settings, lock_keys, mark_bulk, reading_before_write, utcnow
from xinyong.core.errors import Busy, Forbidden, NotFound, ValidationFailed
from xinyong.identifiers.vault import get_vault
from xinyong.ingest import reports
from xinyong.ingest.models import IngestBatch, RejectedRow
from xinyong.ingest.readers import Source, Table, as_source, open_table, row_issues, table_from_records
from xinyong.ingest.standards import KNOWN_HEADERS, detect_format, guess_kind
from xinyong.ingest.validate import validate_row
from xinyong.records.inputs import RecordInput, RecordKind, RowIssue

CHUNK = 2_000
#: Rows read and validated before the write transaction begins (≈ 3 KB of memory each while they wait: +65 MB
#: peak for a file of 20,000 rows or more, measured with bench/ingest.py).
AHEAD_ROWS = 20_000
#: Batches one process works on at once; the others wait their turn (at most the busy timeout, then 503). A batch
#: is pure Python for most of its time: under the GIL, several at once in one process are no faster than one
#: after another, and every other request of the process (the credit check) waits for the interpreter behind each
#: of them (docs/performance.md, bench/concurrency.py).
BATCH_SLOTS = 1
_slots = threading.BoundedSemaphore(BATCH_SLOTS)
SUMMARY_ERROR_LIMIT = 1_000
MAX_API_ROWS = 10_000
Progress = Callable[[int], None]


#: The column a refusal of the record store points at, by refusal code and record kind.
_DOC_COLUMN = {RecordKind.PENALTY: "行政处罚决定书文号", RecordKind.LICENCE: "行政许可决定文书号"}
_PARTY_COLUMN = {RecordKind.PENALTY: "行政相对人代码_1(统一社会信用代码)",
                 RecordKind.LICENCE: "行政相对人代码_1(统一社会信用代码)"}
_REFUSAL_COLUMNS: dict[str, dict[RecordKind, str]] = {
    "record_of_other_department": _DOC_COLUMN, "record_identity_missing": _DOC_COLUMN,
    "party_code_conflict": _PARTY_COLUMN, "party_uscc_invalid": _PARTY_COLUMN, "party_code_missing": _PARTY_COLUMN,
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


@dataclass
class _Chunk:
    """What the row side hands the store: the valid rows, their cells (for refusals), the rejected rows and the
    counters of these rows."""

    records: list[RecordInput] = field(default_factory=list)
    values: dict[int, list[Any]] = field(default_factory=dict)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    error_counts: Counter[str] = field(default_factory=Counter)
    errors: list[dict[str, Any]] = field(default_factory=list)


def _reject_row(chunk: _Chunk, vault: Any, number: int, values: list[Any], issues: list[RowIssue]) -> None:
    """Count and keep a rejected row (its batch id is set when the chunk is written: :meth:`_Store.apply`)."""
    chunk.counts["rejected"] += 1
    dicts = [i.to_dict() for i in issues]
    for d in dicts:
        chunk.error_counts[d["code"]] += 1
    chunk.errors.extend(dicts[:SUMMARY_ERROR_LIMIT])
    chunk.rejects.append({"row": number, "issues": dicts,
                          "values_enc": vault.encrypt(json.dumps([_cell(v) for v in values], ensure_ascii=False))})


class _Rows:
    """The row side of a batch (no database): validation, duplicates within the file, rejected rows; hands over
    a :class:`_Chunk` every ``CHUNK`` rows."""

    def __init__(self, kind: RecordKind, header_map: Any, write: bool, vault: Any, authorities: Authorities) -> None:
        self.kind, self.header_map, self.write, self.vault = kind, header_map, write, vault
        self.authorities = authorities
        self.seen: dict[int, int] = {}
        self.chunk = _Chunk()

    def feed(self, number: int, values: list[Any]) -> bool:
        """Take one row; True when a chunk is ready to be taken."""
        chunk = self.chunk
        chunk.counts["rows"] += 1
        refused = row_issues(values)  # over-long cell or row, formula without a value: cut, never validated
        record, issues = (None, refused) if refused else validate_row(self.kind, self.header_map, number, values,
                                                                      self.authorities)
        if record is None:
            _reject_row(chunk, self.vault, number, values, issues)
        else:
            key = _key(record)
            first = self.seen.get(key)
            if first is not None:
                _reject_row(chunk, self.vault, number, values, [RowIssue(
                    number, _DOC_COLUMN[self.kind], record.doc_no, "duplicate_in_file",
                    f"同一文件中第 {first} 行已有同一机关的同一文书号")])
            else:
                self.seen[key] = number
                for w in record.warnings:
                    chunk.error_counts[w.code] += 1
                chunk.counts["accepted"] += 1
                if self.write:
                    chunk.records.append(record)
                    chunk.values[number] = values
        return len(chunk.records) >= CHUNK or len(chunk.rejects) >= CHUNK

    def take(self) -> _Chunk:
        chunk, self.chunk = self.chunk, _Chunk()
        return chunk


class _Store:
    """The store side of a batch: writes each chunk in the caller's transaction and keeps the batch's totals."""

    def __init__(self, session: Session, batch: IngestBatch, kind: RecordKind, actor: Principal) -> None:
        self.session, self.batch, self.kind, self.actor = session, batch, kind, actor
        self.counts: Counter[str] = Counter()
        self.error_counts: Counter[str] = Counter()
        self.errors: list[dict[str, Any]] = []
        self.vault = get_vault()

    def apply(self, chunk: _Chunk) -> None:
        from xinyong.records.upsert import upsert_records

        if chunk.records:
            result = upsert_records(self.session, actor=self.actor, department_id=self.batch.department_id,
                                    batch_id=self.batch.id, received_at=self.batch.received_at,
                                    rows=chunk.records)
            for key in ("created", "updated", "unchanged", "withdrawn", "late", "subjects_created",
                        "name_mismatches"):
                chunk.counts[key] += int(getattr(result, key, 0) or 0)
            self.refused(chunk, result.outcomes)
        self.counts.update(chunk.counts)
        self.error_counts.update(chunk.error_counts)
        self.errors.extend(chunk.errors[:SUMMARY_ERROR_LIMIT - len(self.errors)])
        if chunk.rejects:
            for r in chunk.rejects:
                r["batch_id"] = self.batch.id
            self.session.execute(insert(RejectedRow), chunk.rejects)

    def refused(self, chunk: _Chunk, outcomes: list[Any]) -> None:
        """Valid rows the record store refused (a record owned by another department, a party code that belongs
        to another subject …) are rejected rows of the batch like any other: counted, reported, resendable."""
        for o in outcomes:
            if o.outcome != "rejected":
                continue
            chunk.counts["accepted"] -= 1
            warning = o.warnings[0] if o.warnings else {"code": "record_refused", "message": "记录未能入库"}
            column = _REFUSAL_COLUMNS.get(warning["code"], {}).get(self.kind, "")
            _reject_row(chunk, self.vault, o.row, chunk.values.get(o.row, []),
                        [RowIssue(o.row, column, None, warning["code"], warning["message"])])


def _one_at_a_time(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """At most ``BATCH_SLOTS`` batches at once in this process; the next waits up to the busy timeout, then
    :class:`~xinyong.core.errors.Busy` (503)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> dict[str, Any]:
        settings = get_db_settings()
        if not _slots.acquire(timeout=settings.busy_timeout):
            raise Busy("系统繁忙：正在处理其他报送批次，请稍后重试", code="ingest_busy",
                       retry_after=max(1, round(settings.busy_timeout / 10)))
        try:
            return fn(*args, **kwargs)
        finally:
            _slots.release()

    return wrapper


@_one_at_a_time
@gcpause.bulk()
def run_batch(session: Session, *, actor: Principal, department_id: int, open_rows: Callable[[], Table],
              sha256: str, channel: str, filename: str | None = None, kind: RecordKind | str | None = None,
              reject_all: bool = False, progress: Progress | None = None,
              received_at: dt.datetime | None = None) -> dict[str, Any]:
    """Validate and load one submission; returns the batch summary (see :func:`batch_summary`).

    ``received_at`` is now, except when history is replayed (the demo city's three years of weekly reports).
    Call it before the session's transaction has begun, so that reading and validating the file (up to
    ``AHEAD_ROWS`` rows) happens before the write transaction takes its lock (see the module's doc). One batch
    at a time per process (``BATCH_SLOTS``).
    """
    _check_department(actor, department_id)
    with reading_before_write(session) as reader:  # not the write transaction: it begins after validation
        authorities = authorities_of(reader, department_id=department_id)
    table = open_rows()
    kind = RecordKind(kind) if kind else guess_kind(table.headers)
    header_map = detect_format(kind, table.headers)
    header_map.require_complete()

    # Before any statement: read and validate ahead (no database).
    vault = get_vault()
    rows = _Rows(kind, header_map, True, vault, authorities)
    source = iter(table.rows)
    ahead, exhausted = _read_ahead(rows, source, progress)
    if reject_all and not exhausted:
        ahead, source = None, iter(())  # too long to hold whole: two passes under the lock, as written below

    # The write transaction begins here: a bulk one (on SQLite short writers such as checks go first while it waits).
    mark_bulk(session)
    lock_keys(session, "ingest_batch", ["\x1f".join((str(department_id), kind.value, sha256))])
    previous = session.scalar(
        select(IngestBatch).where(IngestBatch.department_id == department_id, IngestBatch.kind == kind.value,
                                  IngestBatch.sha256 == sha256, IngestBatch.status.in_(("accepted", "partial")))
        .order_by(IngestBatch.id.desc()).limit(1))
    if previous is not None:
        summary = batch_summary(previous)
        summary["duplicate_of"] = previous.id
        return summary
    batch = IngestBatch(department_id=department_id, kind=kind.value, channel=channel, filename=filename,
                        sha256=sha256, format=table.format, standard=header_map.standard, encoding=table.encoding,
                        headers=[_cell(h) for h in table.raw_headers], mode="reject_all" if reject_all else "keep_good",
                        status="processing", actor=actor.actor, received_at=received_at or utcnow())
    session.add(batch)
    session.flush()

    store = _Store(session, batch, kind, actor)
    if ahead is not None:
        refused = reject_all and any(chunk.counts["rejected"] for chunk in ahead)
        for chunk in ahead:
            if refused:  # reject_all with a faulty row: nothing of the file is written but its rejected rows
                chunk.records, chunk.values = [], {}
            store.apply(chunk)
        _stream(store, rows, source, None if exhausted else progress)
    else:
        _stream(store, _Rows(kind, header_map, False, vault, authorities), open_rows().rows, progress)
        if store.counts["rejected"] == 0:
            # Clean: read the submission again and write it.
            store = _Store(session, batch, kind, actor)
            _stream(store, _Rows(kind, header_map, True, vault, authorities), open_rows().rows, None)

    c = store.counts
    if c["rejected"] and (reject_all or not c["accepted"]):
        batch.status = "rejected"
    elif c["rejected"]:
        batch.status = "partial"
    else:
        batch.status = "accepted"
    batch.rows, batch.rejected = c["rows"], c["rejected"]
    written = not (reject_all and c["rejected"])
    batch.accepted = c["accepted"] if written else 0
    for key in ("created", "updated", "unchanged", "withdrawn", "late"):
        setattr(batch, key, c[key])
    batch.error_counts = dict(store.error_counts)
    batch.finished_at = utcnow()
    batch.summary = {"errors": store.errors, "subjects_created": c["subjects_created"],
                     "name_mismatches": c["name_mismatches"], "unknown_columns": list(header_map.unknown)}
    audit.record(session, actor=actor.actor, action="ingest.batch", entity_type="ingest_batch", entity_id=batch.id,
                 reason=f"{'文件' if channel == 'file' else '接口'}报送 {filename or ''}".strip(),
                 after={k: v for k, v in batch_summary(batch).items() if k != "errors"})
    return batch_summary(batch)


def _read_ahead(rows: _Rows, source: Iterator[tuple[int, list[Any]]], progress: Progress | None
                ) -> tuple[list[_Chunk], bool]:
    """Validate up to ``AHEAD_ROWS`` rows of ``source`` into chunks; and whether the source was exhausted."""
    chunks: list[_Chunk] = []
    read = 0
    for number, values in source:
        read += 1
        if rows.feed(number, values):
            chunks.append(rows.take())
            if progress:
                progress(read)
        if read >= AHEAD_ROWS:
            return chunks, False
    chunks.append(rows.take())
    if progress:
        progress(read)
    return chunks, True


def _stream(store: _Store, rows: _Rows, source: Iterable[tuple[int, list[Any]]], progress: Progress | None) -> None:
    """Validate and write the rest of ``source`` chunk by chunk (rows counted on from what ``store`` has)."""
    for number, values in source:
        if rows.feed(number, values):
            store.apply(rows.take())
            if progress:
                progress(store.counts["rows"])
    store.apply(rows.take())
    if progress:
        progress(store.counts["rows"])


def ingest_file(session: Session, *, actor: Principal, department_id: int, path: str | Path | Source,
                kind: RecordKind | str | None = None, reject_all: bool = False,
                progress: Progress | None = None) -> dict[str, Any]:
    """A file: a path (the CLI) or an upload received by :mod:`xinyong.core.uploads` (the API, the console)."""
    source = as_source(path)
    return run_batch(session, actor=actor, department_id=department_id,
                     open_rows=lambda: open_table(source, known_headers=KNOWN_HEADERS), sha256=source.sha256(),
                     channel="file", filename=source.name, kind=kind, reject_all=reject_all, progress=progress)


def ingest_rows(session: Session, *, actor: Principal, department_id: int, kind: RecordKind | str,
                rows: list[dict[str, Any]], reject_all: bool = False,
                received_at: dt.datetime | None = None) -> dict[str, Any]:
    """An API push: a JSON array of objects keyed by the standard's column names (Chinese or coded)."""
    if not rows:
        raise ValidationFailed("推送的数据为空", code="batch_empty")
    if len(rows) > MAX_API_ROWS:
        raise ValidationFailed(f"单次推送最多 {MAX_API_ROWS} 行，请分批推送", code="batch_too_large")
    body = json.dumps(rows, ensure_ascii=False, sort_keys=True, default=str).encode()
    return run_batch(session, actor=actor, department_id=department_id, open_rows=lambda: table_from_records(rows),
                     sha256=hashlib.sha256(body).hexdigest(), channel="api", kind=kind, reject_all=reject_all,
                     received_at=received_at)


def _check_department(actor: Principal, department_id: int) -> None:
    if not actor.is_admin and actor.department_id != department_id:
        raise Forbidden("只能为本部门报送数据", code="other_department")


def batch_summary(batch: IngestBatch) -> dict[str, Any]:
    summary = batch.summary or {}
    return {
        "batch": batch.id, "department_id": batch.department_id, "kind": batch.kind, "channel": batch.channel,
        "file": batch.filename, "sha256": batch.sha256, "format": batch.format, "standard": batch.standard,
        "encoding": batch.encoding, "mode": batch.mode, "status": batch.status,
        "received_at": batch.received_at.isoformat() if batch.received_at else None,
        "rows": batch.rows, "accepted": batch.accepted, "created": batch.created, "updated": batch.updated,
        "unchanged": batch.unchanged, "withdrawn": batch.withdrawn, "rejected": batch.rejected, "late": batch.late,
        "subjects_created": summary.get("subjects_created", 0), "name_mismatches": summary.get("name_mismatches", 0),
        "error_counts": batch.error_counts or {}, "unknown_columns": summary.get("unknown_columns", []),
        "errors": summary.get("errors", []),
    }


def get_batch(session: Session, *, actor: Principal, batch_id: int) -> IngestBatch:
    batch = session.get(IngestBatch, batch_id)
    if batch is None or not actor.can_see_department(batch.department_id):
        raise NotFound(f"批次 {batch_id} 不存在", code="batch_not_found")
    return batch


def list_batches(session: Session, *, actor: Principal, department_id: int | None = None, limit: int = 50,
                 offset: int = 0) -> list[IngestBatch]:
    stmt = select(IngestBatch).order_by(IngestBatch.id.desc()).limit(limit).offset(offset)
    if not actor.is_admin:
        stmt = stmt.where(IngestBatch.department_id == actor.department_id)
    elif department_id is not None:
        stmt = stmt.where(IngestBatch.department_id == department_id)
    return list(session.scalars(stmt))


def error_report(session: Session, *, actor: Principal, batch_id: int, fmt: str = "csv") -> tuple[bytes, str]:
    """The rejected rows in the department's own columns, with reasons; (content, filename)."""
    batch = get_batch(session, actor=actor, batch_id=batch_id)
    vault = get_vault()

    def rejected() -> Iterator[tuple[int, list[Any], list[dict[str, Any]]]]:
        stmt = (select(RejectedRow.row, RejectedRow.values_enc, RejectedRow.issues)
                .where(RejectedRow.batch_id == batch.id).order_by(RejectedRow.row)
                .execution_options(yield_per=2000))
        for row, enc, issues in session.execute(stmt):
            yield row, json.loads(vault.decrypt(enc)), issues

    rows = reports.report_rows(list(batch.headers or []), rejected())
    stem = f"batch-{batch.id}-退回数据"
    if fmt == "xlsx":
        return reports.to_xlsx(rows), f"{stem}.xlsx"
    if fmt == "csv":
        return reports.to_csv(rows), f"{stem}.csv"
    raise ValidationFailed("报告格式只能是 csv 或 xlsx", code="report_format")


def timeliness(session: Session, *, date_from: dt.date | None = None, date_to: dt.date | None = None
               ) -> list[dict[str, Any]]:
    """Per department: rows accepted, late rows (over the catalog's working-day limit), late rate, rejections."""
    from sqlalchemy import func

    from xinyong.auth.models import Department

    stmt = (select(Department.code, Department.name, func.count(IngestBatch.id), func.coalesce(func.sum(IngestBatch.rows), 0),
                   func.coalesce(func.sum(IngestBatch.accepted), 0), func.coalesce(func.sum(IngestBatch.late), 0),
                   func.coalesce(func.sum(IngestBatch.rejected), 0))
            .join(IngestBatch, IngestBatch.department_id == Department.id, isouter=True)
            .group_by(Department.code, Department.name).order_by(Department.code))
    if date_from:
        stmt = stmt.where((IngestBatch.received_at.is_(None)) | (IngestBatch.received_at >= dt.datetime.combine(
            date_from, dt.time(), tzinfo=dt.UTC)))
    if date_to:
        stmt = stmt.where((IngestBatch.received_at.is_(None)) | (IngestBatch.received_at < dt.datetime.combine(
            date_to + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)))
    out = []
    for code, name, batches, rows, accepted, late, rejected in session.execute(stmt):
        out.append({"department": code, "name": name, "batches": batches, "rows": rows, "accepted": accepted,
                    "late": late, "late_rate": round(late / accepted, 4) if accepted else None,
                    "rejected": rejected, "rejection_rate": round(rejected / rows, 4) if rows else None})
    return out
