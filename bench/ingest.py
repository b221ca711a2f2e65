"""Benchmark: collect (归集) a department's penalty file end to end with ``ingest.service.ingest_file``.

    .venv/bin/python bench/ingest.py [--rows 1000000] [--db URL] [--errors 0.02] [--subjects N] [--profile FILE]
                                     [--kind penalty|tax_arrears|honour|…]

Writes N penalty rows of the current national standard (Chinese headers, GB18030 CSV with a title row; legal
persons, individual businesses and natural persons drawn from ``--subjects`` distinct subjects, default N/5; about
``--errors`` of rows with one typical fault) to bench/out/ with the generator of ``bench/ingest_validate.py``
(kept between runs), creates a fresh migrated database (a new SQLite file by default; with
``--db postgresql+psycopg://…/<name>`` the database ``<name>`` is dropped and created), seeds the catalog and a
department, and imports the file in one transaction. Prints rows/s overall and per stage (read + validate,
records.upsert_records, commit), rows accepted/rejected and the process's peak RSS.

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", help="database URL (default: a new SQLite file in bench/out)")
    parser.add_argument("--errors", type=float, default=0.02, help="share of rows with one fault")
    parser.add_argument("--subjects", type=int, help="distinct subjects (default rows/5)")
    parser.add_argument("--profile", help="write a cProfile of the import to this file")
    parser.add_argument("--kind", default="penalty", help="penalty (default) or another class: tax_arrears, honour …")
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
            summary = ingest_file(session, actor=actor, department_id=dept_id, path=path, kind=args.kind)
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
    print(f"python              {sys.version.split()[0]}")


if __name__ == "__main__":
    from xinyong.wiring import wire

    wire()  # the start-up wiring every entry point does (core.hooks)
    main()
