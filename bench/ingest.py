"""Benchmark: collect (归集) a department's penalty file end to end with ``ingest.service.ingest_file``.

    .venv/bin/python bench/ingest.py [--rows 1000000] [--db URL] [--errors 0.02] [--subjects N] [--profile FILE]
                                     [--kind penalty|tax_arrears|honour|…] [--engine row|bulk|raw|compare]

Writes N penalty rows of the current national standard (Chinese headers, GB18030 CSV with a title row; legal
persons, individual businesses and natural persons drawn from ``--subjects`` distinct subjects, default N/5; about
``--errors`` of rows with one typical fault) to bench/out/ with the generator of ``bench/ingest_validate.py``
(kept between runs), creates a fresh migrated database (a new SQLite file by default; with
``--db postgresql+psycopg://…/<name>`` the database ``<name>`` is dropped and created), seeds the catalog and a
department, and imports the file in one transaction. Prints rows/s overall and per stage (read + validate,
records.upsert_records, commit), rows accepted/rejected and the process's peak RSS.

``--engine`` (issue #19 part 1): ``row`` — the record store's row writer (``records.upsert`` with ``ENGINE = "row"``);
``bulk`` — its set-based writer (``records.setwrite``); without the option, what ships (``ENGINE = "auto"``: bulk
for chunks of 50 rows or more). ``raw`` — the ceiling: the same file read with the csv module and its cells
inserted as text into one unindexed table (``executemany`` on SQLite, ``COPY`` on PostgreSQL), nothing validated.
``compare`` runs ``raw``, ``row`` and ``bulk``, each in its own process on a fresh database, on SQLite and on
PostgreSQL (``--pg URL``, a database whose name starts with ``xinyong_bench``), and prints them side by side:
read + validate without a database (rows/s), end to end (rows/s), peak RSS, and the bytes stored per record
(credit_records + record_versions with their indexes: ``dbstat`` on SQLite, ``pg_total_relation_size`` on
PostgreSQL; the raw table for ``raw``).

``--kind`` another information class (issue #18: the generic path, ``ingest/classes.py``): the file is written with
``demo.classes.sample_row`` (Chinese headers of the class's standard, organisations from ``--subjects`` USCCs, one
of the bench's registered authorities; ``--errors`` of rows with an invalid enumeration value).
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import sys
import time
from pathlib import Path

import common  # bench/common.py (this folder is on sys.path)

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE))


def write_file(path: Path, rows: int, errors: float, subjects: int) -> None:
    from ingest_validate import HEADERS, iter_rows

    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="gb18030", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["某市行政处罚信息（双公示）"])
        writer.writerow(HEADERS)
        for row in iter_rows(rows, errors, subjects=subjects):
            writer.writerow(row)
    tmp.replace(path)


def write_class_file(path: Path, kind: str, rows: int, errors: float, subjects: int) -> None:
    import datetime as dt
    import random

    from ingest_validate import authorities
    from xinyong.demo.classes import Party, sample_row
    from xinyong.identifiers import uscc

    rng = random.Random(20261207)
    name, code, _ = authorities()[0]
    parties = [
        Party(
            f"基准测试企业{i}有限公司",
            uscc=uscc.make(authority="9", category="1", region="350100", org_body=f"MB{i:06d}"),
        )
        for i in range(subjects)
    ]
    today = dt.date.today()
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="gb18030", newline="") as fh:
        writer = None
        for n in range(1, rows + 1):
            day = today - dt.timedelta(days=rng.randrange(1, 900))
            row = sample_row(
                kind, n, party=parties[n % subjects], authority=name, authority_uscc=code, day=day, rng=rng
            )
            if writer is None:
                writer = csv.DictWriter(fh, fieldnames=list(row))
                writer.writeheader()
            if rng.random() < errors:
                enum_col = next((k for k in row if k.endswith("类别") or k.endswith("状态") or k == "领域"), None)
                if enum_col:
                    row[enum_col] = "不知道"
            writer.writerow({k: row.get(k, "") for k in writer.fieldnames})
    tmp.replace(path)


def fresh_database(url: str | None) -> str:
    return common.fresh_database(url, default_name="bench-ingest.db")


class Stages:
    """Wall time spent inside ``records.upsert.upsert_records`` (the rest of the import is read + validate)."""

    def __init__(self) -> None:
        self.upsert = 0.0

    def install(self) -> None:
        from xinyong.records import upsert as records_upsert

        original = records_upsert.upsert_records

        def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.upsert += time.perf_counter() - t0

        records_upsert.upsert_records = timed


PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/xinyong_bench_ingest"


def stored_bytes(url: str, tables: tuple[str, ...]) -> int:
    """Bytes on disk of ``tables`` with their indexes (and TOAST and partitions on PostgreSQL)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            names = [
                n
                for (n,) in conn.execute(
                    text(f"SELECT name FROM sqlite_master WHERE tbl_name IN ({', '.join(repr(t) for t in tables)})")
                )
            ]
            total = conn.execute(
                text(f"SELECT sum(pgsize) FROM dbstat WHERE name IN ({', '.join(repr(n) for n in names)})")
            ).scalar()
        else:
            # A partitioned table (record_versions, migration 0023) has no storage of its own: its partitions'.
            total = sum(
                conn.execute(
                    text(
                        "SELECT pg_total_relation_size(CAST(:t AS regclass)) + coalesce((SELECT sum("
                        "pg_total_relation_size(relid)) FROM pg_partition_tree(CAST(:t AS regclass)) WHERE level > 0), 0)"
                    ),
                    {"t": t},
                ).scalar()
                for t in tables
            )
    engine.dispose()
    return int(total or 0)


def train_and_repack(db, url: str, records: int) -> float:  # type: ignore[no-untyped-def]
    """What a city does once it has versions of its own (records.packing): train a dictionary, repack the versions
    with it; then the space freed is given back (SQLite ``VACUUM``, PostgreSQL ``VACUUM FULL``) and measured."""
    from sqlalchemy import create_engine, text

    from xinyong.records import packing

    t0 = time.perf_counter()
    with db.sessionmaker() as session, session.begin():
        trained = packing.train(session, actor="bench", force=True)
    t1 = time.perf_counter()
    done = packing.pack_versions(db, repack=True, batch=5_000)
    t2 = time.perf_counter()
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM" if engine.dialect.name == "sqlite" else "VACUUM FULL record_versions"))
    engine.dispose()
    t3 = time.perf_counter()
    per_record = stored_bytes(url, ("credit_records", "record_versions")) / max(records, 1)
    print(
        f"trained dictionary  {trained.bytes:,} bytes from {trained.trained_on:,} versions in {t1 - t0:.1f} s: "
        f"{trained.mean_bytes_current:,.0f} → {trained.mean_bytes_new:,.0f} bytes per held-out version"
    )
    print(
        f"repacked            {done.repacked:,} versions in {t2 - t1:.1f} s ({done.repacked / (t2 - t1):,.0f}/s), "
        f"{done.bytes_before / max(done.repacked, 1):,.0f} → {done.bytes_after / max(done.repacked, 1):,.0f} bytes "
        f"each; vacuum {t3 - t2:.1f} s"
    )
    print(f"stored per record   {per_record:,.0f} bytes after training and repacking")
    return per_record


def validate_only(path: Path) -> float:
    """Rows/s of reading and validating the file, no database (the validator both writers share)."""
    from xinyong.ingest.readers import open_table
    from xinyong.ingest.standards import detect_format, known_headers
    from xinyong.ingest.validate import validate_row
    from xinyong.records.inputs import RecordKind

    kind = RecordKind.PENALTY
    t0 = time.perf_counter()
    table = open_table(path, known_headers=known_headers(kind))
    hm = detect_format(kind, table.headers)
    n = 0
    for number, values in table.rows:
        validate_row(kind, hm, number, values)
        n += 1
    return n / (time.perf_counter() - t0)


def run_raw(path: Path, url: str) -> dict[str, object]:
    """The ceiling: the file's cells as text into one unindexed table, no validation."""
    from sqlalchemy import create_engine

    engine = create_engine(url)
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    n = 0
    with path.open(encoding="gb18030", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)  # the title row
        headers = next(reader)
        cols = ", ".join(f"c{i} text" for i in range(len(headers)))
        names = ", ".join(f"c{i}" for i in range(len(headers)))
        raw = engine.raw_connection()
        cur = raw.cursor()
        cur.execute(f"CREATE TABLE raw_rows ({cols})")
        width = len(headers)

        def chunks():  # type: ignore[no-untyped-def]
            part = []
            for values in reader:
                part.append((values + [""] * width)[:width])
                if len(part) == 10_000:
                    yield part
                    part = []
            if part:
                yield part

        for part in chunks():
            n += len(part)
            if engine.dialect.name == "sqlite":
                cur.executemany(f"INSERT INTO raw_rows VALUES ({', '.join('?' * width)})", part)
            else:
                with cur.copy(f"COPY raw_rows ({names}) FROM STDIN") as copy:
                    for values in part:
                        copy.write_row(values)
        raw.commit()
        raw.close()
    total = time.perf_counter() - t0
    engine.dispose()
    return {
        "engine": "raw",
        "rows": n,
        "end_to_end": n / total,
        "seconds": total,
        "cpu": time.process_time() - cpu0,
        "bytes_per_record": stored_bytes(url, ("raw_rows",)) / max(n, 1),
    }


def compare(args: argparse.Namespace) -> None:
    """``raw``, ``row`` and ``bulk`` each in its own process on a fresh database, SQLite then PostgreSQL."""
    import json
    import subprocess

    results = []
    for db in (None, args.pg or PG_DEFAULT):
        for engine in ("raw", "row", "bulk"):
            cmd = [sys.executable, __file__, "--rows", str(args.rows), "--errors", str(args.errors), "--engine", engine]
            cmd += ["--json"] + (["--subjects", str(args.subjects)] if args.subjects else [])
            cmd += ["--db", db] if db else []
            print("running", " ".join(cmd[1:]), flush=True)
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            result = json.loads(out.strip().splitlines()[-1])
            result["database"] = "postgresql" if db else "sqlite"
            results.append(result)
            print("   ", result, flush=True)
    load = os.getloadavg()
    print(f"\n{args.rows:,} rows, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    print(
        "| engine | database | validated rows/s (no database) | end to end rows/s | CPU s | peak RSS MB | bytes per record |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in results:
        validated = f"{r['validate']:,.0f}" if r.get("validate") else "–"
        print(
            f"| {r['engine']} | {r['database']} | {validated} | {r['end_to_end']:,.0f} | {r['cpu']:.1f} | "
            f"{r['peak_mb']:,.0f} | {r['bytes_per_record']:,.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", help="database URL (default: a new SQLite file in bench/out)")
    parser.add_argument("--errors", type=float, default=0.02, help="share of rows with one fault")
    parser.add_argument("--subjects", type=int, help="distinct subjects (default rows/5)")
    parser.add_argument("--profile", help="write a cProfile of the import to this file")
    parser.add_argument("--kind", default="penalty", help="penalty (default) or another class: tax_arrears, honour …")
    parser.add_argument("--engine", choices=["row", "bulk", "raw", "compare"], help="see the module's doc")
    parser.add_argument("--pg", help=f"--engine compare: the PostgreSQL database (default {PG_DEFAULT})")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line (compare)")
    parser.add_argument(
        "--train",
        action="store_true",
        help="after the load: train a dictionary from it, repack every version with it "
        "(xinyong records train-dictionary / pack-versions --repack), compact the file, and measure again",
    )
    parser.add_argument(
        "--gc",
        default="bulk",
        help="collector during the import: bulk (core.gcpause, default), "
        "default (CPython's settings), or THRESHOLD0[,nofreeze] to compare",
    )
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    os.environ.setdefault("XINYONG_SECRET_KEY", "bench-secret-key-not-for-production")
    os.environ["XINYONG_DATA_DIR"] = str(OUT)
    subjects = args.subjects or max(1, args.rows // 5)

    stem = "penalties" if args.kind == "penalty" else args.kind
    path = OUT / f"{stem}-{args.rows}-s{subjects}-e{args.errors:g}.csv"
    if not path.exists():
        t0 = time.perf_counter()
        if args.kind == "penalty":
            write_file(path, args.rows, args.errors, subjects)
        else:
            write_class_file(path, args.kind, args.rows, args.errors, subjects)
        print(f"wrote {path.name} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.0f} s")
    if args.engine == "compare":
        compare(args)
        return
    if args.engine == "raw":
        result = run_raw(path, fresh_database(args.db))
        result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"raw insert          {result['rows']:,} rows in {result['seconds']:.1f} s → "
            f"{result['end_to_end']:,.0f} rows/s, {result['bytes_per_record']:,.0f} bytes per row, "
            f"peak RSS {result['peak_mb']:,.0f} MB"
        )
        if args.json:
            import json

            print(json.dumps(result))
        return
    validated = validate_only(path) if args.json and args.kind == "penalty" else None
    if args.engine:
        from xinyong.records import upsert as records_upsert

        records_upsert.ENGINE = args.engine

    from sqlalchemy import func, select

    from xinyong.auth import service as auth
    from xinyong.auth.roles import system_principal
    from xinyong.catalog.service import seed_catalog
    from xinyong.core.db import get_database
    from xinyong.core.migrate import upgrade
    from xinyong.identifiers import uscc
    from xinyong.ingest.service import ingest_file
    from xinyong.records.models import CreditRecord, RecordVersion
    from xinyong.subjects.models import Subject

    url = fresh_database(args.db)
    upgrade(url)
    db = get_database(url)
    actor = system_principal("bench")
    with db.sessionmaker() as session, session.begin():
        seed_catalog(session, actor=actor)
        dept = auth.create_department(
            session,
            actor=actor,
            code="scjgj",
            name="福州市市场监督管理局",
            uscc=uscc.make(authority="1", category="1", region="350100", org_body="00310001"),
        )
        dept_id = dept.id
        from ingest_validate import authorities

        for name, code, _ in authorities():  # the file names 100 authorities: the department reports for them
            auth.add_authority(session, actor=actor, ref=dept_id, uscc=code, name=name, reason="基准测试")

    from xinyong.core import gcpause

    if args.gc == "default":
        gcpause.ENABLED = False
    elif args.gc != "bulk":
        threshold, _, option = args.gc.partition(",")
        gcpause.BULK_THRESHOLD0, gcpause.FREEZE = int(threshold), option != "nofreeze"
    stages = Stages()
    stages.install()
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    with db.sessionmaker() as session:
        with session.begin():
            if profiler:
                profiler.enable()
            mark = [0]

            def progress(done: int) -> None:  # a line per 100,000 rows: a long run shows its rate as it goes
                if done - mark[0] >= 100_000:
                    mark[0] = done
                    spent = time.perf_counter() - t0
                    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                    print(f"  {done:>9,} rows  {spent:7.1f} s  {done / spent:7,.0f} rows/s  peak RSS {rss:,.0f} MB")

            summary = ingest_file(
                session, actor=actor, department_id=dept_id, path=path, kind=args.kind, progress=progress
            )
            if profiler:
                profiler.disable()
            t1 = time.perf_counter()
        t2 = time.perf_counter()
        counts = {
            name: session.scalar(select(func.count()).select_from(model))
            for name, model in (("subjects", Subject), ("records", CreditRecord), ("versions", RecordVersion))
        }
    if profiler:
        profiler.dump_stats(args.profile)
    rows, accepted = summary["rows"], summary["accepted"]
    total = t2 - t0
    validate = (t1 - t0) - stages.upsert
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"database            {db.dialect}  ({path.name}, {path.stat().st_size / 1e6:.0f} MB)")
    print(
        f"rows                {rows:,}: accepted {accepted:,}, rejected {summary['rejected']:,}, "
        f"created {summary['created']:,}, subjects created {summary['subjects_created']:,}"
    )
    print(
        f"in the database     {counts['subjects']:,} subjects, {counts['records']:,} records, "
        f"{counts['versions']:,} versions"
    )
    print(f"read + validate     {validate:7.1f} s  → {rows / validate:>9,.0f} rows/s")
    print(f"upsert_records      {stages.upsert:7.1f} s  → {accepted / stages.upsert:>9,.0f} rows/s")
    print(f"commit              {t2 - t1:7.1f} s")
    print(f"end to end          {total:7.1f} s  → {rows / total:>9,.0f} rows/s ({accepted / total:,.0f} accepted/s)")
    cpu = time.process_time() - cpu0
    print(f"CPU time            {cpu:7.1f} s  (wall time above this means waiting: disk, or other processes)")
    print(f"peak memory (RSS)   {peak_mb:,.0f} MB")
    per_record = stored_bytes(url, ("credit_records", "record_versions")) / max(counts["records"] or 0, 1)
    print(f"stored per record   {per_record:,.0f} bytes (credit_records + record_versions with indexes)")
    trained_per_record = None
    if args.train:
        trained_per_record = train_and_repack(db, url, counts["records"] or 0)
    print(f"python              {sys.version.split()[0]}")
    if args.json:
        import json

        print(
            json.dumps(
                {
                    "engine": args.engine or "auto",
                    "rows": rows,
                    "validate": validated,
                    "end_to_end": rows / total,
                    "upsert": accepted / stages.upsert,
                    "seconds": total,
                    "cpu": cpu,
                    "peak_mb": peak_mb,
                    "bytes_per_record": per_record,
                    "bytes_per_record_trained": trained_per_record,
                }
            )
        )


if __name__ == "__main__":
    from xinyong.wiring import wire

    wire()  # the start-up wiring every entry point does (core.hooks)
    main()
