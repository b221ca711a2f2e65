"""Benchmark: import the market regulator's registry export into an empty database.

    .venv/bin/python bench/registry_import.py [--rows 1000000] [--db URL]

Writes a synthetic export of the demo city at the requested size (GB18030 CSV with the usual data-quality
problems), imports it through ``subjects.service.import_registry`` in one transaction, and prints rows/s for
reading+validating+writing, the time of the commit and the process's peak memory. Default database: a fresh
SQLite file under bench/out/.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="legal persons in the export")
    parser.add_argument("--db", help="database URL (default: a new SQLite file in bench/out)")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    os.environ.setdefault("XINYONG_SECRET_KEY", "bench-secret")
    os.environ["XINYONG_DATA_DIR"] = str(OUT)

    from sqlalchemy import text

    from xinyong.auth.roles import system_principal
    from xinyong.core.db import get_database
    from xinyong.core.migrate import upgrade
    from xinyong.demo.city import DemoSize, write_registry_export
    from xinyong.subjects.service import import_registry

    size = DemoSize(legal_persons=args.rows, individual_businesses=args.rows * 3 // 20, natural_persons=0)
    export = OUT / f"registry-{args.rows}.csv"
    if not export.exists():
        t0 = time.perf_counter()
        write_registry_export(export, size)
        print(f"wrote {export.name} ({export.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t0:.1f}s")
    url = args.db
    if not url:
        path = OUT / "bench-registry.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    db = get_database(url)
    upgrade(url)
    if db.dialect == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(text("TRUNCATE subjects, subject_aliases, subject_names, registry_imports CASCADE"))
    t0 = time.perf_counter()
    with db.sessionmaker() as session, session.begin():
        report = import_registry(session, actor=system_principal("bench"), path=export)
        t1 = time.perf_counter()
    t2 = time.perf_counter()
    rows = report["rows"]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"database            {db.dialect}")
    print(f"rows                {rows:,} (created {report['created']:,}, rejected {report['rejected']:,})")
    print(f"import              {t1 - t0:.1f} s  → {rows / (t1 - t0):,.0f} rows/s")
    print(f"commit              {t2 - t1:.2f} s")
    print(f"end to end          {rows / (t2 - t0):,.0f} rows/s")
    print(f"peak memory (RSS)   {peak_mb:,.0f} MB")
    print(f"python              {sys.version.split()[0]}")


if __name__ == "__main__":
    from xinyong.wiring import wire

    wire()  # the start-up wiring every entry point does (core.hooks)
    main()
