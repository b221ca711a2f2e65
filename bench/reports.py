"""Benchmark: credit report generation (``reports.service.generate_report``) on the demo city.

    .venv/bin/python bench/reports.py [--size 2000] [--reports 200] [--db URL]

Builds a fresh demo city (``demo.city.build`` with ``--size`` legal persons: registry, 双公示 records, lists,
commitments, cases …) in a new SQLite file in bench/out (or, with ``--db postgresql+psycopg://…/<name>``, the
database ``<name>``, which must start with ``xinyong_bench``, dropped and created). Then it issues ``--reports``
reports, each in its own committed transaction as the API does: half for subjects that have public records or list
entries (the reports people actually ask for), half for random legal persons. Prints p50 / p95 / max of the
generation time (query + layout + PDF + register + audit), the PDF size and pages, the time to verify an uploaded
PDF, and the peak RSS.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE))

from check import fresh_database, pct  # noqa: E402 - bench helpers beside this file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=2000, help="legal persons in the demo city")
    parser.add_argument("--reports", type=int, default=200)
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    if args.db:
        url = fresh_database(args.db)  # refuses names not starting with xinyong_bench
    else:
        path = OUT / "bench-reports.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        url = f"sqlite:///{path}"

    import os

    os.environ.setdefault("XINYONG_SECRET_KEY", "bench-secret-key")
    os.environ["XINYONG_REPORTS_PER_SUBJECT_PER_HOUR"] = str(args.reports + 1)
    from sqlalchemy import select

    from xinyong import models  # noqa: F401 - every table
    from xinyong.auth.roles import ANONYMOUS, system_principal
    from xinyong.core.db import Base, Database
    from xinyong.demo.city import DemoSize, build
    from xinyong.lists.models import ListEntry
    from xinyong.records.models import CreditRecord
    from xinyong.reports import service
    from xinyong.reports.pdf import register_fonts
    from xinyong.subjects.models import Subject

    db = Database(url)
    Base.metadata.create_all(db.engine)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as workdir, db.session() as session:
        build(session, actor=system_principal("bench"), workdir=Path(workdir), size=DemoSize.scaled(args.size))
    print(f"demo city ({args.size} legal persons) built in {time.perf_counter() - t0:.1f} s on {db.dialect}")

    rng = random.Random(7)
    with db.session() as session:
        org = Subject.kind != "natural_person"
        busy = list(
            session.scalars(
                select(Subject.uscc)
                .distinct()
                .join(CreditRecord, CreditRecord.subject_id == Subject.id)
                .where(org, Subject.uscc.is_not(None))
            )
        )
        busy += list(
            session.scalars(
                select(Subject.uscc)
                .distinct()
                .join(ListEntry, ListEntry.subject_id == Subject.id)
                .where(org, Subject.uscc.is_not(None))
            )
        )
        every = list(session.scalars(select(Subject.uscc).where(org, Subject.uscc.is_not(None))))
    half = args.reports // 2
    codes = [rng.choice(busy) for _ in range(half)] + [rng.choice(every) for _ in range(args.reports - half)]
    rng.shuffle(codes)

    t = time.perf_counter()
    register_fonts()
    print(f"font registration (once per process): {(time.perf_counter() - t) * 1000:.0f} ms")
    times, sizes, pages, rows = [], [], [], []
    sample = None
    for code in codes:
        t = time.perf_counter()
        with db.session() as session:
            report, data = service.generate_report(session, subject_code=code, requester=ANONYMOUS)
            pages.append(report.pages)
            rows.append(sum(report.sections.values()))
        times.append(time.perf_counter() - t)
        sizes.append(len(data))
        if sample is None or rows[-1] > sample[1]:
            sample = (data, rows[-1])
    ms = [x * 1000 for x in times]
    print(f"reports: {len(ms)} ({half} for subjects with records or list entries)")
    print(
        f"generation ms: p50 {pct(ms, 50):.0f}  p95 {pct(ms, 95):.0f}  max {max(ms):.0f}  mean {sum(ms) / len(ms):.0f}"
    )
    print(
        f"rows per report: mean {sum(rows) / len(rows):.1f}, max {max(rows)}; pages: max {max(pages)}; "
        f"PDF bytes: mean {sum(sizes) // len(sizes)}, max {max(sizes)}"
    )
    assert sample is not None
    vt = []
    for _ in range(50):
        t = time.perf_counter()
        with db.session() as session:
            result = service.verify_report(session, pdf_bytes=sample[0])
        vt.append((time.perf_counter() - t) * 1000)
        assert result["status"] == "valid", result
    print(f"verify an uploaded PDF ({len(sample[0])} bytes) ms: p50 {pct(vt, 50):.1f}  p95 {pct(vt, 95):.1f}")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    db.dispose()


if __name__ == "__main__":
    from xinyong.wiring import wire

    wire()  # the start-up wiring every entry point does (core.hooks)
    main()
