"""Benchmark: the government credit file (政务共享, ``reports.government_file.read_file``) at city size.

    .venv/bin/python bench/government_file.py [--subjects 1000000] [--entries 100000] [--records 2000000]
        [--files 2000] [--db URL] [--reuse] [--http-seconds 10] [--clients 8] [--workers 2]

Builds the check benchmark's database (``bench/check.py``'s ``build``: ``--subjects`` legal persons, ``--entries``
list entries, ``--records`` penalties over the last five years on random subjects; ``--reuse`` keeps an earlier one
of the same size), then reads ``--files`` files in-process as a department operator with purpose ``procurement``,
each in its own committed transaction as the API does (the access-log row is part of every read): half for
subjects with list entries or records, half for random ones. Prints p50 / p95 / p99 / max and the average numbers of
records and list entries per file. With ``--http-seconds`` > 0 it then starts uvicorn and loads
``GET /api/v1/subjects/{code}/file?purpose=procurement`` from ``--clients`` keep-alive connections (the lean asyncio
client of ``bench/common.py``) and prints files/s and latency percentiles. Target (issue #15): p95 < 50 ms on the
1M-subject dataset.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE))

import common  # noqa: E402 - bench helpers beside this file
from check import build, fresh_database, reuse  # noqa: E402 - the check bench's database

pct = common.pct


def _with_data(url: str, limit: int) -> list[str]:
    """Codes of subjects that have penalties (the files people actually ask for)."""
    from sqlalchemy import select

    from xinyong.core.db import get_database
    from xinyong.records.models import CreditRecord
    from xinyong.subjects.models import Subject

    db = get_database(url)
    with db.session() as session:
        stmt = (
            select(Subject.uscc)
            .join(CreditRecord, CreditRecord.subject_id == Subject.id)
            .group_by(Subject.uscc)
            .limit(limit)
        )
        return [c for c in session.scalars(stmt) if c]


def _operator_token(url: str) -> tuple[str, int]:
    """A department operator's token (the file is for departments) and its department's id."""
    from sqlalchemy import select

    from xinyong.auth import tokens as auth_tokens
    from xinyong.auth.models import Department
    from xinyong.auth.roles import Role, system_principal
    from xinyong.core.db import get_database

    db = get_database(url)
    with db.session() as session:
        dept = session.scalar(select(Department).where(Department.code == "czj"))
        _tok, raw = auth_tokens.create_token(
            session, actor=system_principal("bench"), name="档案查询", role=Role.DEPT_OPERATOR, department_id=dept.id
        )
        return raw, dept.id


def in_process(url: str, sample: list[str], department_id: int) -> None:
    from xinyong.auth.roles import Principal, Role
    from xinyong.core.db import get_database
    from xinyong.reports.government_file import read_file

    db = get_database(url)
    actor = Principal(kind="token", name="bench", role=Role.DEPT_OPERATOR, department_id=department_id, token_id=1)
    with db.session() as session:  # warm the connection pool and the catalogue's pages
        read_file(session, actor=actor, code=sample[0], purpose="procurement")
    times: list[float] = []
    records = entries = 0
    for code in sample:
        t0 = time.perf_counter()
        with db.session() as session:  # commits: the access-log row is part of the read
            answer = read_file(session, actor=actor, code=code, purpose="procurement")
        times.append((time.perf_counter() - t0) * 1000)
        records += len(answer["records"])
        entries += len(answer["lists"])
    n = len(sample)
    print(
        f"government file in-process ({n:,} files, half with records; {records / n:.1f} records and "
        f"{entries / n:.2f} list entries per file): p50 {pct(times, 50):.2f} ms, p95 {pct(times, 95):.2f} ms, "
        f"p99 {pct(times, 99):.2f} ms, max {max(times):.2f} ms"
    )


def over_http(url: str, token: str, sample: list[str], seconds: float, clients: int, workers: int) -> None:
    from xinyong.web import devserver

    server = devserver.start(
        url,
        keep_env=True,
        workers=workers,
        cwd=ROOT,
        timeout=30,
        uvicorn_args=["--loop", "uvloop", "--http", "httptools", "--log-level", "warning"],
    )

    def request(r: random.Random) -> bytes:
        code = r.choice(sample)
        return (
            f"GET /api/v1/subjects/{code}/file?purpose=procurement HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        ).encode()

    try:
        asyncio.run(common.load(server.port, request, 3, clients))  # warm-up
        cpu0 = common.process_tree_cpu(server.pid)
        latencies, errors, elapsed = asyncio.run(common.load(server.port, request, seconds, clients))
        cpu = common.process_tree_cpu(server.pid) - cpu0
        first = f" (first: {errors[0]})" if errors else ""
        print(
            f"over HTTP ({workers} workers, {clients} keep-alive connections, {elapsed:.1f} s): "
            f"{len(latencies) / elapsed:,.0f} files/s, p50 {pct(latencies, 50):.1f} ms, p95 {pct(latencies, 95):.1f} ms, "
            f"p99 {pct(latencies, 99):.1f} ms, errors {len(errors)}{first}; server CPU "
            f"{cpu / max(1, len(latencies)) * 1000:.2f} ms per file"
        )
    finally:
        server.stop(timeout=30)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=1_000_000)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--records", type=int, default=2_000_000, help="penalties (credit records) to write")
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--db", help="database URL (default: a new SQLite file in bench/out)")
    parser.add_argument("--http-seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reuse", action="store_true", help="keep the database of an earlier run of this size")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    os.environ.setdefault("XINYONG_SECRET_KEY", "bench-secret-key-not-for-production")
    os.environ["XINYONG_DATA_DIR"] = str(OUT)
    url = args.db or f"sqlite:///{OUT / 'bench-file.db'}"
    reused = reuse(url, args.subjects) if args.reuse else None
    if reused is None:
        url = fresh_database(args.db) if args.db else common.fresh_database(None, default_name="bench-file.db")
        os.environ["XINYONG_DATABASE_URL"] = url
        codes, listed, _token = build(url, args.subjects, args.entries, args.seed, args.records)
    else:
        os.environ["XINYONG_DATABASE_URL"] = url
        codes, listed, _token = reused
    token, department_id = _operator_token(url)
    rng = random.Random(args.seed + 2)
    busy = sorted(set(_with_data(url, 20_000)) | listed)
    sample = [rng.choice(busy) if i % 2 == 0 else rng.choice(codes) for i in range(args.files)]
    del codes
    gc.collect()
    gc.freeze()  # the bench's own million codes are not the platform's garbage
    in_process(url, sample, department_id)
    if args.http_seconds > 0:
        over_http(url, token, sample, args.http_seconds, args.clients, args.workers)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak RSS (bench process): {peak_kib / 1024:.0f} MB")


if __name__ == "__main__":
    from xinyong.wiring import wire

    wire()  # the start-up wiring every entry point does (core.hooks)
    main()
