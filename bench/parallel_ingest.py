"""Benchmark: several departments' uploads at once — PostgreSQL writes their batches side by side.

    .venv/bin/python bench/parallel_ingest.py [--db postgresql+psycopg://…/xinyong_bench_par] [--departments 2]
                                              [--rows 50000]

Each department reports for its own 100 authorities and sends one penalty file of ``--rows`` rows (GB18030, the
national format, 2 % faulty rows, ``--rows``/5 counterparts of its own: ``bench/ingest_validate.py``'s generator
with the department's seed). Two runs, each on a fresh database (dropped and created; its name must start with
``xinyong_bench``), each file imported by ``ingest.service.ingest_file`` in a process of its own as an upload
stream does: first **one after another**, then **all at once**. Prints the wall time (process start-up included)
and the rows per second of both. A batch holds the audit chain's and the feed's heads only at its end
(``core.batches.Deferred``); before, it took them with its first chunk, and batches at once were written one after
another.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from pathlib import Path

import common  # bench/common.py (this folder is on sys.path)

OUT = Path(__file__).parent / "out"
DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/xinyong_bench_par"


def _file(seed: int, rows: int) -> Path:
    from ingest_validate import HEADERS, iter_rows

    path = OUT / f"penalties-par-{rows}-seed{seed}.csv"
    if not path.exists():
        import csv

        with path.open("w", newline="", encoding="gb18030") as fh:
            w = csv.writer(fh)
            w.writerow(HEADERS)
            w.writerows(iter_rows(rows, 0.02, seed=seed, subjects=max(1, rows // 5), authority_seed=seed))
    return path


def _prepare(url: str, departments: int) -> list[int]:
    from ingest_validate import authorities
    from xinyong.auth import service as auth
    from xinyong.auth.roles import system_principal
    from xinyong.catalog.service import seed_catalog
    from xinyong.core.db import get_database
    from xinyong.core.migrate import upgrade
    from xinyong.identifiers import uscc

    upgrade(url)
    actor = system_principal("bench")
    ids = []
    with get_database(url).sessionmaker() as session, session.begin():
        seed_catalog(session, actor=actor)
        for k in range(departments):
            dept = auth.create_department(
                session,
                actor=actor,
                code=f"dept{k}",
                name=f"基准测试部门{k}",
                uscc=uscc.make(authority="1", category="1", region="350100", org_body=f"0031{k:04d}"),
            )
            for name, code, _ in authorities(seed=100 + k):
                auth.add_authority(session, actor=actor, ref=dept.id, uscc=code, name=name, reason="基准测试")
            ids.append(dept.id)
    return ids


def _load(url: str, department_id: int, path: str, started: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    from xinyong.auth.roles import system_principal
    from xinyong.core.db import get_database
    from xinyong.ingest.service import ingest_file

    db = get_database(url)
    t0 = time.time()
    with db.sessionmaker() as session, session.begin():
        summary = ingest_file(session, actor=system_principal("bench"), department_id=department_id, path=Path(path))
    started.put((department_id, t0, time.time(), summary["accepted"], summary["rejected"]))


def run(url: str, departments: int, rows: int, at_once: bool) -> dict[str, float]:
    url = common.fresh_database(url, default_name="xinyong_bench_par")
    ids = _prepare(url, departments)
    files = [str(_file(100 + k, rows)) for k in range(departments)]
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    t0 = time.time()
    procs = [ctx.Process(target=_load, args=(url, d, f, queue)) for d, f in zip(ids, files, strict=True)]
    if at_once:
        for p in procs:
            p.start()
        for p in procs:
            p.join()
    else:
        for p in procs:
            p.start()
            p.join()
    wall = time.time() - t0
    if any(p.exitcode for p in procs):
        raise SystemExit("a load failed")
    spans = [queue.get(timeout=10) for _ in procs]
    accepted = sum(s[3] for s in spans)
    return {"wall": wall, "accepted": accepted, "rows_per_s": departments * rows / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=DEFAULT)
    parser.add_argument("--departments", type=int, default=2)
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()
    os.environ.setdefault("XINYONG_SECRET_KEY", "bench-secret-key-not-for-production")
    OUT.mkdir(exist_ok=True)
    for k in range(args.departments):
        _file(100 + k, args.rows)
    for at_once in (False, True):
        r = run(args.db, args.departments, args.rows, at_once)
        label = "all at once" if at_once else "one after another"
        print(
            f"{label:18} {args.departments} × {args.rows:,} rows: {r['wall']:.1f} s wall, "
            f"{r['rows_per_s']:,.0f} rows/s, {r['accepted']:,} accepted"
        )


if __name__ == "__main__":
    main()
