"""Import of commitments: a department's file (CSV / XLSX / JSON) or API push becomes one batch.

A batch runs in the caller's transaction (a crash leaves nothing). Two modes:
- ``keep_good`` (default): valid rows are written, invalid rows are refused and returned with their issues;
- ``reject_all``: any refused row — by validation or by the store (a code of another department, a duplicate) —
  refuses the whole batch: the rows are written inside a savepoint that is rolled back, so nothing is half-changed.
The batch row itself (with the report) is always kept, so the department can see what was refused and why.
A row whose 承诺受理单位 is not one of the authorities the department reports for (``auth.authorities``) is a refused
row like any other, whoever submits it (the department's token, the CLI, the admin acting for the department).
Re-importing the same content changes nothing (every row ``unchanged``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.auth.roles import Principal
from xinyong.auth.service import authorities_of
from xinyong.commitments import service
from xinyong.commitments.models import BatchStatus, Channel, CommitmentBatch
from xinyong.commitments.validate import (
    KNOWN_HEADERS,
    CommitmentInput,
    map_headers,
    validate_row,
)
from xinyong.core import audit, batches, clock, gcpause
from xinyong.core.db import mark_bulk, reading_apart, utcnow
from xinyong.core.errors import Forbidden, NotFound, ValidationFailed
from xinyong.ingest.readers import Source, Table, as_source, open_table, push_digest, row_issues, table_from_records

#: ``core.batches`` summary status -> the stored batch status, and back (the API speaks the summary's words).
_BATCH_STATUS = {
    "accepted": BatchStatus.ACCEPTED,
    "partially_accepted": BatchStatus.PARTIAL,
    "rejected": BatchStatus.REJECTED,
}
_SUMMARY_STATUS: dict[str, str] = {stored: status for status, stored in _BATCH_STATUS.items()}
REPORT_LIMIT = 1_000


def _check_department(actor: Principal, department_id: int) -> None:
    if not actor.is_admin and actor.department_id != department_id:
        raise Forbidden("只能为本部门报送信用承诺", code="other_department")


@gcpause.bulk()
def run_batch(
    session: Session,
    *,
    actor: Principal,
    department_id: int,
    table: Table,
    sha256: str,
    channel: str,
    filename: str | None = None,
    reject_all: bool = False,
    today: dt.date | None = None,
    received_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Validate and store one submission; returns the batch summary (:func:`batch_summary`)."""
    _check_department(actor, department_id)
    # Read and validate on the side (core.db.reading_apart): the write transaction begins when the rows are
    # validated (``begin`` below), so on SQLite parsing the file does not hold the write lock.
    aside = contextlib.ExitStack()
    reader = aside.enter_context(reading_apart(session))
    with aside:
        return _run_batch(
            session,
            aside,
            reader,
            actor=actor,
            department_id=department_id,
            table=table,
            sha256=sha256,
            channel=channel,
            filename=filename,
            reject_all=reject_all,
            today=today,
            received_at=received_at,
        )


def _run_batch(
    session: Session,
    aside: contextlib.ExitStack,
    reader: Session,
    *,
    actor: Principal,
    department_id: int,
    table: Table,
    sha256: str,
    channel: str,
    filename: str | None,
    reject_all: bool,
    today: dt.date | None,
    received_at: dt.datetime | None,
) -> dict[str, Any]:
    authorities = authorities_of(reader, department_id=department_id)
    today = today or clock.today()
    header_map, missing = map_headers(table.headers, table.raw_headers)
    if missing:
        raise ValidationFailed(
            f"缺少必填列：{'、'.join(missing)}",
            code="columns_missing",
            details={"missing": missing, "headers": [str(h) for h in table.raw_headers]},
        )
    received_at = received_at or utcnow()
    mode = batches.REJECT_ALL if reject_all else batches.KEEP_GOOD
    batch = CommitmentBatch(
        department_id=department_id,
        channel=channel,
        filename=filename,
        sha256=sha256,
        format=table.format,
        mode=mode,
        status=BatchStatus.PROCESSING,
        actor=actor.actor,
        received_at=received_at,
    )

    def begin() -> None:
        aside.close()  # the reading is over: the write transaction begins
        mark_bulk(session)
        session.add(batch)
        session.flush()

    issue_counts: Counter[str] = Counter()
    warnings: list[dict[str, Any]] = []

    def validate(number: int, values: list[Any]) -> tuple[CommitmentInput | None, list[batches.RowError]]:
        refused = row_issues(values)  # over-long cell or row, formula without a value: never validated
        row, issues = (
            (None, refused)
            if refused
            else validate_row(header_map, number, values, today=today, authorities=authorities)
        )
        for issue in issues:
            issue_counts[issue.code] += 1
        if row is not None:
            warnings.extend(i.to_dict() for i in issues[: REPORT_LIMIT - len(warnings)])
            return row, []
        return None, [batches.RowError(i.row, i.column, i.code, i.message, detail=i.to_dict()) for i in issues]

    results: list[service.UpsertResult] = []

    def write(good: list[batches.Good[CommitmentInput]], _bad: list[batches.Rejected]) -> list[batches.Rejected]:
        if not good:
            return []
        result = service.upsert_commitments(
            session,
            actor=actor,
            department_id=department_id,
            batch_id=batch.id,
            received_at=received_at,
            rows=[g.item for g in good],
        )
        results.append(result)
        refused = []
        for o in result.outcomes:
            if o.outcome == service.RowResult.REJECTED:
                assert o.error is not None
                issue_counts[o.error["code"]] += 1
                refused.append(
                    batches.Rejected(
                        o.row,
                        [],
                        [
                            batches.RowError(
                                o.row, o.error.get("column") or "", o.error["code"], o.error["message"], detail=o.error
                            )
                        ],
                    )
                )
        return refused

    # One write of every good row: upsert_commitments finds a code given twice in one call and writes one audit
    # event per call (the rows are held in memory, as they always were).
    summary = batches.run(
        table.rows,
        importer="commitments",
        validate=validate,
        write=write,
        begin=begin,
        ahead=sys.maxsize,
        mode=mode,
        session=session,
        chunk=sys.maxsize,
    )
    assert summary is not None
    if not summary.rows:
        raise ValidationFailed("没有数据行", code="batch_empty")
    summary.batch = batch.id
    result = service.UpsertResult()
    if summary.written:
        for r in results:
            result.created += r.created
            result.updated += r.updated
            result.unchanged += r.unchanged
            result.broken += r.broken
            result.subjects_created += r.subjects_created
            result.outcomes.extend(r.outcomes)
    batch.rows = summary.rows
    batch.rejected = summary.rejected
    batch.accepted = summary.accepted
    batch.created, batch.updated, batch.unchanged = result.created, result.updated, result.unchanged
    batch.broken = result.broken
    batch.status = _BATCH_STATUS[summary.status]
    batch.finished_at = utcnow()
    errors = [e.detail or e.as_dict() for e in summary.errors]
    batch.report = {
        "errors": errors,
        "warnings": warnings,
        "issue_counts": dict(issue_counts),
        "rejected_rows": sorted(summary.rejected_rows)[:REPORT_LIMIT],
        "subjects_created": result.subjects_created,
        "unknown_columns": list(header_map.extra.values()),
        "reject_counts": dict(summary.error_counts),
        "outcomes": [
            {
                "row": o.row,
                "outcome": o.outcome,
                "commitment_id": o.commitment_id,
                "code": o.code,
                "version_no": o.version_no,
                "broken": o.broken,
            }
            for o in result.outcomes
            if o.outcome != "rejected"
        ][:REPORT_LIMIT],
    }
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="commitments.batch",
        entity_type="commitment_batch",
        entity_id=batch.id,
        reason=f"{'文件' if channel == Channel.FILE else '接口'}报送信用承诺 {filename or ''}".strip(),
        after={k: v for k, v in batch_summary(batch).items() if k not in ("errors", "warnings", "outcomes", "summary")},
    )
    return batch_summary(batch)


def import_file(
    session: Session,
    *,
    actor: Principal,
    department_id: int,
    path: str | Path | Source,
    reject_all: bool = False,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """A file: a path (the CLI) or an upload received by :mod:`xinyong.core.uploads` (the API)."""
    source = as_source(path)
    table = open_table(source, known_headers=KNOWN_HEADERS)
    return run_batch(
        session,
        actor=actor,
        department_id=department_id,
        table=table,
        sha256=source.sha256(),
        channel=Channel.FILE,
        filename=source.name,
        reject_all=reject_all,
        today=today,
    )


def import_rows(
    session: Session,
    *,
    actor: Principal,
    department_id: int,
    rows: list[dict[str, Any]],
    reject_all: bool = False,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """An API push: a JSON array of objects keyed by the standard's Chinese column names or snake_case keys."""
    sha256 = push_digest(rows)
    return run_batch(
        session,
        actor=actor,
        department_id=department_id,
        table=table_from_records(rows),
        sha256=sha256,
        channel=Channel.API,
        reject_all=reject_all,
        today=today,
    )


def batch_summary(batch: CommitmentBatch) -> dict[str, Any]:
    report = batch.report or {}
    return {
        **batches.batch_out(batch, report),
        "broken": batch.broken,
        "issue_counts": report.get("issue_counts", {}),
        "rejected_rows": report.get("rejected_rows", []),
        "warnings": report.get("warnings", []),
        "outcomes": report.get("outcomes", []),
        "summary": {
            "importer": "commitments",
            "batch": batch.id,
            "mode": batch.mode,
            "status": _SUMMARY_STATUS.get(batch.status, batch.status),
            "rows": batch.rows,
            "accepted": batch.accepted,
            "rejected": batch.rejected,
            "skipped": 0,
            "errors": [{k: e.get(k) for k in ("row", "column", "code", "message")} for e in report.get("errors", [])],
            "error_counts": report.get("reject_counts", {}),
        },
    }


def get_batch(session: Session, *, actor: Principal | None, batch_id: int) -> CommitmentBatch:
    batch = session.get(CommitmentBatch, batch_id)
    if batch is None or (actor is not None and not actor.can_see_department(batch.department_id)):
        raise NotFound(f"批次 {batch_id} 不存在", code="batch_not_found")
    return batch


def list_batches(session: Session, *, actor: Principal, limit: int = 50, offset: int = 0) -> list[CommitmentBatch]:
    stmt = select(CommitmentBatch).order_by(CommitmentBatch.id.desc()).limit(limit).offset(offset)
    if not actor.is_admin:
        stmt = stmt.where(CommitmentBatch.department_id == actor.department_id)
    return list(session.scalars(stmt))
