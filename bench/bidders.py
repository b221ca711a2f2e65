"""Benchmark: collusion red flags over ~100,000 bids, with precision and recall on the planted rings.

    .venv/bin/python bench/bidders.py [--tenders 16500] [--db URL]

Generates a tender history (``demo.trading.generate``: ≈6 bids per tender, collusion rings and innocent
look-alikes planted), writes the trading centre's four CSV files, builds a fresh database (a new SQLite file in
bench/out by default; with ``--db postgresql+psycopg://…/<name>`` the database ``<name>``, which must start with
``xinyong_bench``, is dropped and created), imports the files through ``analytics.trading.import_file`` and runs
``analytics.trading.run_analysis`` (load + every rule + storing the result). Prints the time of each step, the
flag counts, precision and recall of "tender flagged high risk" against the planted truth, and peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from check import OUT, fresh_database  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenders", type=int, default=16_500)
    parser.add_argument("--db", default=None)
    args = parser.parse_args()

    from xinyong.analytics import trading
    from xinyong.auth.roles import system_principal
    from xinyong.core.db import Database
    from xinyong.demo import trading as demo
    from xinyong.models import Base

    OUT.mkdir(exist_ok=True)
    url = fresh_database(args.db)
    if not args.db:
        url = url.replace("bench-check.db", "bench-bidders.db")
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    db = Database(url)
    Base.metadata.create_all(db.engine)
    actor = system_principal("bench")

    t = time.perf_counter()
    data = demo.generate(tenders=args.tenders)
    files = demo.write_files(data, OUT / "bidders")
    print(
        f"generated {len(data.tenders):,} tenders, {len(data.bids):,} bids, {len(data.planted['rings'])} rings "
        f"({len(data.truth)} ring tenders) in {time.perf_counter() - t:.1f} s"
    )
    for kind in ("tenders", "bids", "awards", "bidders"):
        t = time.perf_counter()
        with db.session() as session:
            out = trading.import_file(session, actor=actor, kind=kind, path=files[kind])
        dt = time.perf_counter() - t
        print(f"import {kind:8s} {out['rows']:>8,} rows  {dt:6.2f} s  {out['rows'] / dt:>9,.0f} rows/s")
    t = time.perf_counter()
    with db.session() as session:
        run = trading.run_analysis(session, actor=actor)
        summary, seconds = run.summary, run.seconds
        high = {x["project_no"] for x in run.tenders if x["level"] == "high"}
        medium = {x["project_no"] for x in run.tenders if x["level"] in ("high", "medium")}
    total = time.perf_counter() - t
    print(
        f"red flags over {summary['bids']:,} bids: analysis {seconds:.2f} s (load + rules), "
        f"{total:.2f} s with storing the result ({db.dialect})"
    )
    print(
        f"flagged tenders {summary['flagged_tenders']:,}: high {summary['high']:,}, medium {summary['medium']:,}, "
        f"low {summary['low']:,}; groups {summary['groups']:,}"
    )
    print("flags:", ", ".join(f"{k} {v:,}" for k, v in sorted(summary["flags"].items())))
    q = demo.evaluate(high, data)
    print(
        f"high risk vs planted rings: precision {q['precision']:.3f}, recall {q['recall']:.3f} "
        f"({q['true_positives']} of {q['truth']} ring tenders, {q['flagged']} flagged)"
    )
    q = demo.evaluate(medium, data)
    print(f"medium or high:             precision {q['precision']:.3f}, recall {q['recall']:.3f}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    db.dispose()


if __name__ == "__main__":
    from xinyong.wiring import wire

    wire()  # the start-up wiring every entry point does (core.hooks)
    main()
