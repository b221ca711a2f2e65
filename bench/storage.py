"""Benchmark: bytes stored per credit record, versions in the full form (before issue #19) and compact (after).

    .venv/bin/python bench/storage.py [--db URL] [--reads 2000]

Takes a database filled by ``bench/ingest.py`` (default: bench/out/bench-ingest.db; ``--db
postgresql+psycopg://…/xinyong_bench_…``), and measures the space of ``credit_records`` and ``record_versions``
with their indexes (SQLite: ``dbstat``, after ``VACUUM``; PostgreSQL: ``pg_total_relation_size`` of a copy of each
table with the same indexes, written once) three ways, back to back: as the ingest wrote it (packed, 0025), then made plain
and rewritten in the full form (what the writer
stored before 0022: migration 0022's downgrade) and rewritten compactly again (its upgrade, timed: versions/s).
Then what compressing the stored documents would save (zlib, per document and over a batch: the size only, the
form stays JSON), each index of credit_records with its size, the cost of reading versions back in full
(``record_history`` of random records: p50 / p99 ms, full form vs compact), and the process's peak RSS.

Rewrites the versions of the database it is given: use a benchmark database.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import resource
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import common  # bench/common.py (this folder is on sys.path)

HERE = Path(__file__).resolve().parent
TABLES = ("credit_records", "record_versions")


def migration(name: str) -> Any:
    """The module of the migration file ``name`` (its functions rewrite versions: 0022's ``rewrite``, 0025's
    ``unpack_all``)."""
    from xinyong.core.migrate import MIGRATIONS_DIR

    path = MIGRATIONS_DIR / "versions" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"m_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reclaim(engine: Any) -> None:
    """Give the space freed by a rewrite back (the sizes below are then those of a table written once)."""
    if engine.dialect.name == "postgresql":
        return  # sizes() measures a copy (see there)
    import sqlite3  # outside the engine, which opens its own transactions on SQLite (core.db)

    engine.dispose()
    con = sqlite3.connect(engine.url.database, isolation_level=None)
    con.execute("VACUUM")
    con.close()


def sizes(engine: Any) -> dict[str, dict[str, int]]:
    """Per table: its own bytes (``table``, with TOAST on PostgreSQL) and each index's bytes."""
    out: dict[str, dict[str, int]] = {t: {} for t in TABLES}
    if engine.dialect.name == "postgresql":
        # Measured on a copy written once (with the same indexes): VACUUM FULL keeps the versions a rewrite left
        # behind while any transaction older than it runs anywhere in the cluster (other sessions' loads, here).
        with engine.begin() as conn:
            for table in TABLES:
                copy = f"bench_size_{table}"
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {copy}")
                conn.exec_driver_sql(f"CREATE TABLE {copy} (LIKE {table} INCLUDING ALL)")
                conn.exec_driver_sql(f"INSERT INTO {copy} SELECT * FROM {table}")
                out[table]["table"] = conn.exec_driver_sql(
                    f"SELECT pg_total_relation_size('{copy}') - pg_indexes_size('{copy}')"
                ).scalar_one()
                for name, size in conn.exec_driver_sql(
                    "SELECT indexname, pg_relation_size(quote_ident(indexname)) FROM pg_indexes "
                    f"WHERE tablename = '{copy}'"
                ):
                    out[table][name.removeprefix("bench_size_")] = size
                conn.exec_driver_sql(f"DROP TABLE {copy}")
        return out
    with engine.connect() as conn:
        owner = dict(
            conn.exec_driver_sql("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')").all()
        )
        for name, size in conn.exec_driver_sql("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
            table = owner.get(name)
            if table in out:
                out[table]["table" if name == table else name] = size
    return out


def total(s: dict[str, dict[str, int]], table: str | None = None) -> int:
    return sum(sum(v.values()) for t, v in s.items() if table in (None, t))


def read_latencies(db: Any, record_ids: list[int], reads: int) -> list[float]:
    """``record_history`` + ``version_view`` of random records, in a fresh session each (ms)."""
    from xinyong.records import queries, views

    rng = random.Random(19)
    out = []
    for _ in range(reads):
        rid = rng.choice(record_ids)
        with db.sessionmaker() as session:
            t0 = time.perf_counter()
            [views.version_view(v) for v in queries.record_history(session, rid)]
            out.append((time.perf_counter() - t0) * 1000)
    return out


def compression(engine: Any, sample: int = 20_000) -> dict[str, float]:
    """Bytes of the stored JSON documents of ``sample`` versions, as they are and compressed with zlib (level 6)
    one by one, and the share of documents above 1,000 bytes."""
    from xinyong.records import versions

    with engine.connect() as conn:
        cast = "::text" if engine.dialect.name == "postgresql" else ""
        rows = conn.exec_driver_sql(
            f"SELECT content{cast}, data{cast}, packed, extra{cast}, flags{cast}, changed_fields{cast} "
            f"FROM record_versions ORDER BY id LIMIT {sample}"
        ).all()
        bodies = {k: bytes(b) for k, b in conn.exec_driver_sql("SELECT checksum, body FROM version_dictionaries")}
    docs = []
    for content, data, packed, *rest in rows:  # a packed version (0025) measured as its documents' JSON text
        if packed is not None:
            content, data = (json.dumps(d) for d in versions.documents(None, None, bytes(packed), bodies.get))
        docs.append("".join([content, data, *rest]).encode())
    plain = sum(len(d) for d in docs)
    packed = sum(len(zlib.compress(d, 6)) for d in docs)
    t0 = time.perf_counter()
    for d in docs:
        zlib.decompress(zlib.compress(d, 6))
    cost = (time.perf_counter() - t0) / max(1, len(docs)) * 1e6
    return {
        "versions": len(docs),
        "json": plain / max(1, len(docs)),
        "zlib": packed / max(1, len(docs)),
        "large": sum(len(d) > 1000 for d in docs) / max(1, len(docs)),
        "us": cost,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: bench/out/bench-ingest.db of bench/ingest.py)")
    parser.add_argument("--reads", type=int, default=2000, help="record histories read per form")
    args = parser.parse_args()
    os.environ.setdefault("XINYONG_SECRET_KEY", "bench-secret-key-not-for-production")
    url = args.db or f"sqlite:///{common.OUT / 'bench-ingest.db'}"

    from sqlalchemy import func, select

    from xinyong.core.db import get_database
    from xinyong.records.models import CreditRecord, RecordVersion

    db = get_database(url)
    engine = db.engine
    with db.sessionmaker() as session:
        records = session.scalar(select(func.count()).select_from(CreditRecord)) or 0
        count = session.scalar(select(func.count()).select_from(RecordVersion)) or 0
        record_ids = list(session.scalars(select(CreditRecord.id)))
    if not records:
        raise SystemExit("no records: fill the database with bench/ingest.py first")
    migration_0022 = migration("0022_compact_versions")

    def rewrite(compact: bool):  # noqa: ANN202
        """Every version rewritten to one form: (versions, seconds, sizes, read latencies, zlib figures)."""
        t0 = time.perf_counter()
        with engine.begin() as conn:
            done = migration_0022.rewrite(conn, compact=compact)
        seconds = time.perf_counter() - t0
        reclaim(engine)
        return done, seconds, sizes(engine), read_latencies(db, record_ids, args.reads), compression(engine)

    reclaim(engine)
    written = sizes(engine)
    with engine.begin() as conn:  # the forms below are plain versions (0022's); packed is "as ingested" (0025)
        unpacked = migration("0025_packed_versions").unpack_all(conn)
    expanded, t_expand, before, reads_full, zip_full = rewrite(compact=False)
    compacted, t_compact, after, reads_compact, zip_compact = rewrite(compact=True)

    print(f"database            {engine.dialect.name}  {records:,} records, {count:,} versions ({unpacked:,} unpacked)")
    print(f"{'':20}{'records':>12}{'versions':>12}{'per record':>12}{'per version':>13}")
    for label, s in (("full (before)", before), ("compact (after)", after), ("as ingested", written)):
        print(
            f"{label:20}{total(s, 'credit_records') / 1e6:10.1f}MB{total(s, 'record_versions') / 1e6:10.1f}MB"
            f"{total(s) / records:10,.0f} B{total(s, 'record_versions') / count:11,.0f} B"
        )
    change = total(after) / total(before) - 1
    change_versions = total(after, "record_versions") / total(before, "record_versions") - 1
    print(f"change per record   {change:+.0%} (versions {change_versions:+.0%})")
    print(f"rewrite to full     {expanded:,} versions in {t_expand:.1f} s → {expanded / t_expand:,.0f} versions/s")
    print(f"rewrite to compact  {compacted:,} versions in {t_compact:.1f} s → {compacted / t_compact:,.0f} versions/s")
    for label, z in (("full", zip_full), ("compact", zip_compact)):
        print(
            f"zlib, {label:8}      {z['versions']:,.0f} versions: JSON {z['json']:,.0f} B → zlib {z['zlib']:,.0f} B "
            f"per version ({z['zlib'] / z['json'] - 1:+.0%}), {z['large']:.1%} above 1,000 B, "
            f"{z['us']:.0f} µs to compress + decompress one"
        )
    print("credit_records      " + ", ".join(f"{k} {v / records:,.0f} B" for k, v in after["credit_records"].items()))
    print("record_versions     " + ", ".join(f"{k} {v / count:,.0f} B" for k, v in after["record_versions"].items()))
    for label, lat in (("full", reads_full), ("compact", reads_compact)):
        print(
            f"read history, {label:8} p50 {common.pct(lat, 50):.2f} ms, p99 {common.pct(lat, 99):.2f} ms "
            f"({len(lat) / (sum(lat) / 1000):,.0f} records/s)"
        )
    print(f"peak memory (RSS)   {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")
    print(f"python              {sys.version.split()[0]}")


if __name__ == "__main__":
    from xinyong.wiring import wire

    wire()
    main()
