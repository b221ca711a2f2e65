"""Credit records, the set-based writer (issue #19 part 1): a chunk of prepared rows stored by a few statements.

The row writer (``records.upsert._Context.write_records``) builds a dict per record and per version and hands them
to the bulk inserts; this writer decides in Python which rows to write, puts those into a staging table a column
at a time (``TEMP``, one per connection, emptied per chunk; PostgreSQL fills it by ``COPY``) and lets the database
do the rest:

1. the existing-record check is one statement over the chunk's identities ``(kind, authority_uscc, doc_no_norm)``,
   passed as arrays (PostgreSQL: a ``LATERAL`` probe of the unique index per row, whatever the table's statistics
   say during a load) or as one JSON array (SQLite);
2. the rows that name an existing record are decided exactly as the row writer decides them (another department's
   → refused; same content hash → unchanged; else a new version, with the fields that changed — rare in a large
   load);
3. ids are drawn for the new records and versions in the row writer's order (new records' versions first, then the
   changed records'; ``core.bulk.allocate_ids``: SQLite after the current maximum, PostgreSQL from the sequences);
4. only the rows to write go into the staging table, with their ids and version numbers; ``INSERT … SELECT`` writes
   the new records (PostgreSQL ``ON CONFLICT DO NOTHING``, counted), ``INSERT … SELECT`` the versions, ``UPDATE …
   FROM`` the changed records. The outcomes are known in Python, so the batch summary, rejected rows, audit event
   and ``core.hooks.batch_written`` are those of the row writer.

Until 2026-12-07 the whole chunk was staged first and the decisions written back into the staging table (an
``ANALYZE``, an ``UPDATE`` per decided row, two ``UPDATE … nextval`` for the ids): rewriting wide staged rows cost
≈ 15 % of PostgreSQL's time in a load (docs/performance.md, "Set-based write").

The same lock as the row writer is taken first (``lock_keys`` by issuing authority), so two uploads of one
authority queue there. A version's payload is built by ``upsert.version_payload``, shared with the row writer.
``upsert.ENGINE`` decides which writer stores a chunk (shipped: this one on PostgreSQL; on SQLite it measured more
CPU than the row writer — docs/performance.md, "Set-based write").
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Integer, MetaData, String, Table

from xinyong.core import clock
from xinyong.core.bulk import _converter, allocate_ids, insert_columns
from xinyong.core.db import lock_keys, utcnow
from xinyong.records.models import CreditRecord, RecordVersion

if TYPE_CHECKING:
    from xinyong.records.upsert import _Context, _Prepared

STAGE = "xy_record_stage"

_R = CreditRecord.__table__.c
_V = RecordVersion.__table__.c

#: The staging table: the per-row values of a record and of its version (constants of the call — department,
#: batch, actor, times — are parameters of the statements instead).
_COLUMNS: list[tuple[str, Any]] = [
    ("ord", Integer()),
    ("op", String(1)),  # c: new record, u: new version of an existing one, x: nothing to write
    ("rec_id", _R.id.type),
    ("ver_id", _V.id.type),
    ("version_no", _V.version_no.type),
    ("kind", _R.kind.type),
    ("authority_uscc", _R.authority_uscc.type),
    ("doc_no_norm", _R.doc_no_norm.type),
    ("doc_no", _R.doc_no.type),
    ("authority", _R.authority.type),
    ("subject_id", _R.subject_id.type),
    ("party_kind", _R.party_kind.type),
    ("party_name", _R.party_name.type),
    ("decision_date", _R.decision_date.type),
    ("severity", _R.severity.type),
    ("penalty_types", _R.penalty_types.type),
    ("penalty_types_key", _R.penalty_types_key.type),
    ("fine_fen", _R.fine_fen.type),
    ("licence_valid_from", _R.licence_valid_from.type),
    ("licence_valid_to", _R.licence_valid_to.type),
    ("domain", _R.domain.type),
    ("content_hash", _R.content_hash.type),
    ("workdays_late", _R.workdays_late.type),
    ("late", _R.late.type),
    ("withdrawn_at", _R.withdrawn_at.type),
    ("withdrawn_reason", _R.withdrawn_reason.type),
    ("packed", _V.packed.type),
    ("extra", _V.extra.type),
    ("flags", _V.flags.type),
    ("changed_fields", _V.changed_fields.type),
    ("source_row", _V.source_row.type),
]

stage_table = Table(STAGE, MetaData(), *(Column(name, type_) for name, type_ in _COLUMNS))

#: The record columns every write sets from the staging table (new and changed records alike).
_RECORD_VALUES = (
    "subject_id",
    "party_kind",
    "party_name",
    "doc_no",
    "authority",
    "decision_date",
    "severity",
    "penalty_types",
    "penalty_types_key",
    "fine_fen",
    "licence_valid_from",
    "licence_valid_to",
    "domain",
    "content_hash",
)


def _ensure_stage(cur: Any, dialect: Any) -> None:
    """The connection's staging table, created once per connection, emptied."""
    if dialect.name == "sqlite":  # no declared types: values pass to the target tables as they were converted
        cols = ", ".join(f'"{n}"' + (" INTEGER PRIMARY KEY" if n == "ord" else "") for n, _ in _COLUMNS)
        cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {STAGE} ({cols})")
        cur.execute(f"DELETE FROM {STAGE}")
        return
    cols = ", ".join(
        f'"{n}" ' + ("integer PRIMARY KEY" if n == "ord" else t.compile(dialect=dialect)) for n, t in _COLUMNS
    )
    cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {STAGE} ({cols})")
    cur.execute(f"TRUNCATE {STAGE}")


def write_records(ctx: _Context, chunk: list[_Prepared]) -> None:
    """Store ``chunk`` (prepared rows with their subjects) as the row writer would, set-based (module doc)."""
    from xinyong.records.upsert import (
        WITHDRAW_REASON,
        RowOutcome,
        _public_flags,
        previous_payloads,
        timeliness_of,
        version_payload,
    )

    chunk = [p for p in chunk if p.subject_id is not None]
    if not chunk:
        return
    session, result, outcomes = ctx.session, ctx.result, ctx.outcomes
    now, received_at = utcnow(), ctx.received_at
    lock_keys(session, "record", (f"{p.kind}\x1f{p.row.authority_uscc}" for p in chunk))
    conn = session.connection()
    dialect = conn.dialect
    pg = dialect.name == "postgresql"
    raw = conn.connection.driver_connection
    assert raw is not None
    q = "%s" if pg else "?"
    cur = raw.cursor()
    try:
        # 1. The existing-record check: one statement over the chunk's identities (module doc).
        existing = {row[0]: row for row in _existing(cur, pg, chunk)}
        changed: list[tuple[int, Any]] = []
        for i in sorted(existing):
            p, rec = chunk[i], existing[i]
            if rec[2] != ctx.department_id:
                ctx.reject(p, "record_of_other_department", "该决定已由其他部门报送，本部门不能修改")
            elif bytes(rec[3]).hex() == p.content_hash:  # the raw cursor's digest (core.db.Digest)
                result.unchanged += 1
                outcomes[p.index] = RowOutcome(p.row.row, "unchanged", rec[1], rec[5], warnings=_public_flags(p.flags))
            else:
                changed.append((i, rec))
        fresh = [i for i in range(len(chunk)) if i not in existing]
        if not fresh and not changed:
            return

        # 2. Ids in the row writer's order: the new records' versions first, then the changed records'.
        rec_ids = allocate_ids(session, CreditRecord.__table__, len(fresh))
        ver_ids = allocate_ids(session, RecordVersion.__table__, len(fresh) + len(changed))

        # 3. The rows to write into the staging table, a column at a time.
        received_on = clock.local_date(received_at)
        memo: dict[tuple[str, dt.date], tuple[int, bool]] = {}
        staged = fresh + [i for i, _ in changed]
        timely = [timeliness_of(chunk[i], received_on, memo) for i in fresh]
        withdrawn = [not chunk[i].row.current_status_valid for i in fresh]
        withdrawn_at: list[Any] = [received_at if w else None for w in withdrawn]
        withdrawn_reason: list[str | None] = [WITHDRAW_REASON if w else None for w in withdrawn]
        payloads = [version_payload(chunk[i], None, ctx.packer) for i in fresh]
        if changed:
            previous = previous_payloads(session, [rec[4] for _, rec in changed])
            for i, rec in changed:
                p = chunk[i]
                was_withdrawn = rec[6] is not None
                now_withdrawn = not was_withdrawn and not p.row.current_status_valid
                if was_withdrawn and p.row.current_status_valid:
                    p.flags.append({"code": "record_withdrawn", "message": "该记录已撤回，新版本不恢复公示"})
                payloads.append(version_payload(p, previous.get(rec[4], {}), ctx.packer))
                withdrawn_at.append(received_at if now_withdrawn else _stored_time(rec[6]))
                withdrawn_reason.append(WITHDRAW_REASON if now_withdrawn else rec[7])
                result.updated += 1
                result.withdrawn += now_withdrawn
                outcomes[p.index] = RowOutcome(
                    p.row.row, "updated", rec[1], rec[5] + 1, withdrawn=now_withdrawn, warnings=_public_flags(p.flags)
                )
        prepared = [chunk[i] for i in staged]
        rows = [p.row for p in prepared]
        columns: dict[str, list[Any]] = {
            "ord": list(range(len(staged))),
            "op": ["c"] * len(fresh) + ["u"] * len(changed),
            "rec_id": rec_ids + [rec[1] for _, rec in changed],
            "ver_id": ver_ids,
            "version_no": [1] * len(fresh) + [rec[5] + 1 for _, rec in changed],
            "kind": [p.kind for p in prepared],
            "authority_uscc": [r.authority_uscc for r in rows],
            "doc_no_norm": [r.doc_no_norm for r in rows],
            "doc_no": [r.doc_no or r.doc_no_norm for r in rows],
            "authority": [r.authority or "" for r in rows],
            "subject_id": [p.subject_id for p in prepared],
            "party_kind": [p.content["party_kind"] for p in prepared],
            "party_name": [p.content["party_name"] for p in prepared],
            "decision_date": [r.decision_date for r in rows],
            "severity": [p.severity for p in prepared],
            "penalty_types": [p.types for p in prepared],
            "penalty_types_key": [p.types_key for p in prepared],
            "fine_fen": [p.fine_fen for p in prepared],
            "licence_valid_from": [r.licence_valid_from for r in rows],
            "licence_valid_to": [r.licence_valid_to for r in rows],
            "domain": [r.domain for r in rows],
            "content_hash": [p.content_hash for p in prepared],
            # timeliness is written for new records only
            "workdays_late": [t[0] for t in timely] + [0] * len(changed),
            "late": [t[1] for t in timely] + [False] * len(changed),
            "withdrawn_at": withdrawn_at,
            "withdrawn_reason": withdrawn_reason,
            "packed": [x[0] for x in payloads],
            "extra": [x[1] for x in payloads],
            "flags": [p.flags for p in prepared],
            "changed_fields": [x[2] for x in payloads],
            "source_row": [r.row for r in rows],
        }
        _ensure_stage(cur, dialect)
        insert_columns(session, stage_table, columns)

        # 4. The writes.
        constants = _constants(ctx, now, dialect.name)
        if fresh:
            names = ", ".join(_RECORD_VALUES)
            cur.execute(
                f"INSERT INTO credit_records (id, kind, authority_uscc, doc_no_norm, {names}, department_id, "
                f"current_version_id, version_count, received_at, workdays_late, late, withdrawn_at, withdrawn_reason, "
                f"ended_on, created_at, updated_at) "
                f"SELECT rec_id, kind, authority_uscc, doc_no_norm, {names}, {q}, ver_id, 1, {q}, workdays_late, late, "
                f"withdrawn_at, withdrawn_reason, NULL, {q}, {q} FROM {STAGE} WHERE op = 'c' ORDER BY ord"
                + (" ON CONFLICT DO NOTHING" if pg else ""),
                (constants["department_id"], constants["received_at"], constants["now"], constants["now"]),
            )
            if cur.rowcount != len(fresh):  # the authority's lock makes this impossible; never store half a chunk
                raise RuntimeError(f"set-based write: {len(fresh) - cur.rowcount} new records were inserted meanwhile")
        cur.execute(
            "INSERT INTO record_versions (id, record_id, version_no, content_hash, packed, extra, flags, "
            "changed_fields, batch_id, source_row, department_id, received_at, actor, created_at) "
            f"SELECT ver_id, rec_id, version_no, content_hash, packed, extra, flags, changed_fields, {q}, "
            f"source_row, {q}, {q}, {q}, {q} FROM {STAGE} ORDER BY ord",
            (
                constants["batch_id"],
                constants["department_id"],
                constants["received_at"],
                constants["actor"],
                constants["now"],
            ),
        )
        if changed:
            sets = ", ".join(f"{c} = s.{c}" for c in _RECORD_VALUES)
            if pg:  # the changed records by their primary key, not a hash join over all of them (stale statistics)
                cur.execute("SET LOCAL enable_hashjoin = off")
                cur.execute("SET LOCAL enable_mergejoin = off")
            cur.execute(
                f"UPDATE credit_records SET {sets}, updated_at = {q}, version_count = s.version_no, "
                f"current_version_id = s.ver_id, withdrawn_at = s.withdrawn_at, withdrawn_reason = s.withdrawn_reason "
                f"FROM {STAGE} s WHERE s.op = 'u' AND credit_records.id = s.rec_id",
                (constants["now"],),
            )
            if pg:
                cur.execute("SET LOCAL enable_hashjoin TO DEFAULT")
                cur.execute("SET LOCAL enable_mergejoin TO DEFAULT")
    finally:
        cur.close()

    # The new records' outcomes.
    for k, i in enumerate(fresh):
        p = chunk[i]
        late = timely[k][1]
        result.created += 1
        result.withdrawn += withdrawn[k]
        result.late += late
        outcomes[p.index] = RowOutcome(
            p.row.row, "created", rec_ids[k], 1, withdrawn=withdrawn[k], late=late, warnings=_public_flags(p.flags)
        )


#: The columns of ``credit_records`` the existing-record check reads, in this order.
_FOUND = (
    "r.id, r.department_id, r.content_hash, r.current_version_id, r.version_count, r.withdrawn_at, r.withdrawn_reason"
)


def _existing(cur: Any, pg: bool, chunk: list[_Prepared]) -> list[tuple[Any, ...]]:
    """``(position in chunk, *_FOUND)`` of the chunk's rows whose record exists, by the record's identity
    ``(kind, authority_uscc, doc_no_norm)`` — passed as arrays (PostgreSQL) or one JSON array (SQLite), so nothing is
    written for rows that turn out to be resubmissions.

    PostgreSQL: one probe of the unique index per row (``LATERAL … LIMIT 1`` is not flattened into a join). A plain
    join was planned as a hash join over a sequential scan of credit_records — its statistics are those of before
    the load, so it looks small — which read every record for every chunk (177 ms per chunk at 100,000 records,
    against 55 ms for the probes). SQLite's planner probes the unique index for each row by itself."""
    match = "r.doc_no_norm = t.doc_no_norm AND r.authority_uscc = t.authority_uscc AND r.kind = t.kind"
    if pg:
        cur.execute(
            f"SELECT t.ord, {_FOUND} FROM unnest(%s::int[], %s::text[], %s::text[], %s::text[]) "
            "AS t(ord, kind, authority_uscc, doc_no_norm) "
            f"CROSS JOIN LATERAL (SELECT * FROM credit_records r WHERE {match} LIMIT 1) r",
            (
                list(range(len(chunk))),
                [p.kind for p in chunk],
                [p.row.authority_uscc for p in chunk],
                [p.row.doc_no_norm for p in chunk],
            ),
        )
    else:
        keys = json.dumps([[p.kind, p.row.authority_uscc, p.row.doc_no_norm] for p in chunk], ensure_ascii=False)
        cur.execute(
            f"SELECT t.ord, {_FOUND} FROM (SELECT CAST(key AS INTEGER) AS ord, json_extract(value, '$[0]') AS kind, "
            "json_extract(value, '$[1]') AS authority_uscc, json_extract(value, '$[2]') AS doc_no_norm "
            "FROM json_each(?)) t "  # json_extract, not ->> (SQLite 3.38+)
            f"JOIN credit_records r ON {match}",
            (keys,),
        )
    return cur.fetchall()


def _stored_time(value: Any) -> dt.datetime | None:
    """A timestamp as the driver read it back, as a datetime again (SQLite: the text it stores, in UTC)."""
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
    return value


def _constants(ctx: _Context, now: dt.datetime, dialect: str) -> dict[str, Any]:
    """The values every row of the call shares, as the driver takes them."""
    ts = _converter(_R.received_at, dialect)[0] or (lambda v: v)
    return {
        "department_id": ctx.department_id,
        "batch_id": ctx.batch_id,
        "actor": ctx.actor.actor,
        "received_at": ts(ctx.received_at),
        "now": ts(now),
    }
