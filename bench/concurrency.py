"""Benchmark: writers at once over HTTP — uploads of penalty files while business systems run credit checks.

    .venv/bin/python bench/concurrency.py [--db URL] [--workers N] [--uploaders 4] [--rows 500] [--seconds 20]
                                          [--clients 4] [--subjects 20000]

Builds a fresh database (a new SQLite file in bench/out by default; with ``--db postgresql+psycopg://…/<name>`` the
database ``<name>``, which must start with ``xinyong_bench``, is dropped and created) with ``--subjects`` legal
persons and a tenth of them on lists (``bench/check.py``'s builder), a department with an operator token and a
business system's token, and writes ``--uploaders`` × 100 penalty files of ``--rows`` rows each (GB18030 CSV of the
national standard, 2 % faulty rows, counterparts drawn from one pool, so files name the same companies new to the
registry: ``bench/ingest_validate.py``'s generator). First, in-process, it imports one file of ``--rows`` rows
and one of 20,000 (new subjects and records) and prints how long each one's write transaction was open — on
SQLite the time every other writer waits — against the whole import. Then it starts uvicorn (``--workers``;
default 1 on SQLite, 2 on PostgreSQL) and measures, each phase ``--seconds`` long:

1. checks alone: ``--clients`` keep-alive connections posting single checks (``bench/common.py``'s client);
2. the same checks while ``--uploaders`` clients each upload their files one after another
   (``POST /api/v1/ingest/files``, each a new batch).

Prints checks/s and p50 / p99 latency in both phases, accepted uploads per minute, rows written per second, upload
latency p50 / p99, every answer that was not 2xx (a 5xx or a reset connection is a failure of the platform) and the
server's CPU time.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import sys
import threading
import time
from pathlib import Path

import common  # bench/common.py (this folder is on sys.path)
from xinyong.web import devserver

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
ROOT = HERE.parent
FILES_PER_UPLOADER = 100


def write_files(folder: Path, uploaders: int, rows: int, count: int = FILES_PER_UPLOADER) -> dict[int, list[Path]]:
    """``uploaders`` × ``count`` distinct penalty files (kept between runs with the same sizes)."""
    from ingest_validate import HEADERS, iter_rows

    folder.mkdir(parents=True, exist_ok=True)
    files: dict[int, list[Path]] = {}
    for u in range(uploaders):
        files[u] = []
        for j in range(count):
            path = folder / f"u{u}-{j}-{rows}-a7.csv"
            if not path.exists():
                tmp = path.with_suffix(".tmp")
                with tmp.open("w", encoding="gb18030", newline="") as fh:
                    writer = csv.writer(fh)
                    writer.writerow([f"某市行政处罚信息（双公示）第 {u}-{j} 批"])
                    writer.writerow(HEADERS)
                    # One pool of counterparts for every file: the files name the same companies, new to the registry.
                    # Every file names the authorities of seed 7, which the department reports for (operator_token).
                    for row in iter_rows(rows, 0.02, seed=1000 * (u + 1) + j, subjects=rows, authority_seed=7):
                        writer.writerow(row)
                tmp.replace(path)
            files[u].append(path)
    return files


def lock_hold(url: str, path: Path) -> tuple[float, float, float, int]:
    """Import ``path`` in-process as the upload route does (``ingest_file`` in a write session): seconds in all, the
    longest write transaction (from its BEGIN to its COMMIT: on SQLite the write lock held, what every other writer
    may wait), all write transactions together (on SQLite a batch also finds or creates its subjects in short ones
    ahead of the one that stores its records), rows."""
    from sqlalchemy import event, select

    from xinyong.auth.models import Department
    from xinyong.auth.roles import Principal, Role
    from xinyong.core.db import get_database
    from xinyong.ingest.service import ingest_file

    db = get_database(url)
    with db.session(write=False) as session:
        dept_id = session.scalar(select(Department.id).where(Department.code == "czj"))
    actor = Principal(kind="token", name="bench", role=Role.DEPT_OPERATOR, department_id=dept_id)
    spans: list[float] = []

    def begin(conn: object) -> None:
        conn.info["bench_t0"] = time.perf_counter()  # type: ignore[attr-defined]

    def commit(conn: object) -> None:
        info = conn.info  # type: ignore[attr-defined]
        t0 = info.pop("bench_t0", None)
        if t0 is not None and (info.get("immediate") or not url.startswith("sqlite")):
            spans.append(time.perf_counter() - t0)

    event.listen(db.engine, "begin", begin)
    event.listen(db.engine, "commit", commit)
    try:
        t0 = time.perf_counter()
        with db.session() as session:
            summary = ingest_file(session, actor=actor, department_id=dept_id, path=path)
        total = time.perf_counter() - t0
    finally:
        event.remove(db.engine, "begin", begin)
        event.remove(db.engine, "commit", commit)
    return total, max(spans), sum(spans), summary["accepted"]


def operator_token(url: str) -> str:
    from sqlalchemy import select

    from ingest_validate import authorities
    from xinyong.auth import service as auth
    from xinyong.auth import tokens as auth_tokens
    from xinyong.auth.models import Department
    from xinyong.auth.roles import Role, system_principal
    from xinyong.core.db import get_database

    with get_database(url).session() as session:
        dept = session.scalar(select(Department).where(Department.code == "czj"))
        # The authority rule (auth.authorities): without these the files' rows were all refused (0 rows accepted).
        known = {a.uscc for a in auth.list_authorities(session, actor=system_principal("bench"), ref=dept.id)[1]}
        for name, code, _ in authorities(7):
            if code not in known:
                auth.add_authority(
                    session, actor=system_principal("bench"), ref=dept.id, uscc=code, name=name, reason="基准测试"
                )
        _token, raw = auth_tokens.create_token(
            session, actor=system_principal("bench"), name="报送系统", role=Role.DEPT_OPERATOR, department_id=dept.id
        )
    return raw


def start_server(url: str, workers: int, data_dir: Path) -> devserver.Server:
    """uvicorn (uvloop + httptools, warnings only) on a free port, with the caller's XINYONG_* settings."""
    try:
        return devserver.start(
            url,
            data_dir=data_dir,
            keep_env=True,
            workers=workers,
            cwd=ROOT,
            timeout=30,
            uvicorn_args=["--loop", "uvloop", "--http", "httptools", "--log-level", "warning"],
        )
    except devserver.ServerDidNotStart as exc:
        raise SystemExit(str(exc)) from None


def check_load(
    port: int, token: str, codes: list[str], listed: list[str], seconds: float, clients: int
) -> tuple[list[float], list[str], float]:
    def request(rng: random.Random) -> bytes:
        code = rng.choice(listed) if rng.random() < 0.5 else rng.choice(codes)
        body = json.dumps({"scenario": "general", "subjects": [{"code": code}]}).encode()
        return (
            f"POST /api/v1/checks HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    return asyncio.run(common.load(port, request, seconds, clients))


class Uploads:
    """Uploader threads: each sends its files one after another on one keep-alive connection until stopped."""

    def __init__(self, port: int, token: str, files: dict[int, list[Path]]) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.token, self.files = token, files
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.accepted: list[tuple[float, float, int]] = []  # (finished at, seconds, rows accepted)
        self.failures: list[str] = []
        self.statuses: dict[int, int] = {}
        self.threads = [threading.Thread(target=self._run, args=(u,)) for u in files]

    def _run(self, u: int) -> None:
        import httpx

        with httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {self.token}"}, timeout=300) as c:
            for path in self.files[u]:
                if self.stop.is_set():
                    return
                t0 = time.perf_counter()
                try:
                    r = c.post("/api/v1/ingest/files", files={"file": (path.name, path.read_bytes(), "text/csv")})
                except httpx.HTTPError as exc:
                    with self.lock:
                        self.failures.append(f"{type(exc).__name__}: {exc}")
                    return
                t1 = time.perf_counter()
                with self.lock:
                    self.statuses[r.status_code] = self.statuses.get(r.status_code, 0) + 1
                    if r.status_code == 201:
                        self.accepted.append((t1, t1 - t0, r.json()["accepted"]))
                    else:
                        self.failures.append(f"{r.status_code} {r.text[:200]}")
            with self.lock:
                self.failures.append(f"uploader {u} ran out of files (use fewer --seconds or more files)")

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()


def summarise_checks(label: str, latencies: list[float], errors: list[str], elapsed: float) -> None:
    if not latencies:
        print(f"{label}: no checks answered")
        return
    print(
        f"{label}: {len(latencies) / elapsed:,.0f} checks/s, p50 {common.pct(latencies, 50):.1f} ms, "
        f"p99 {common.pct(latencies, 99):.1f} ms, max {max(latencies):.0f} ms, non-200 {len(errors)}"
        + (f" ({sorted(set(errors))[:3]})" if errors else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a new SQLite file in bench/out)")
    parser.add_argument("--workers", type=int, help="uvicorn worker processes (default 1 on SQLite, 2 on PostgreSQL)")
    parser.add_argument("--uploaders", type=int, default=4)
    parser.add_argument("--rows", type=int, default=500, help="rows per uploaded file")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument("--clients", type=int, default=4, help="keep-alive connections posting checks")
    parser.add_argument("--subjects", type=int, default=20_000)
    args = parser.parse_args()
    os.environ.setdefault("XINYONG_SECRET_KEY", "bench-secret-key-not-for-production")
    sys.path.insert(0, str(HERE))
    import check  # bench/check.py: the registry builder

    url = common.fresh_database(args.db, default_name="bench-concurrency.db")
    sqlite = url.startswith("sqlite")
    workers = args.workers or (1 if sqlite else 2)
    codes, listed, check_token = check.build(url, args.subjects, args.subjects // 10, seed=13)
    upload_token = operator_token(url)
    files = write_files(OUT / "concurrency", args.uploaders, args.rows)
    solo = [write_files(OUT / "concurrency-solo", 1, n, count=1)[0][0] for n in (args.rows, 20_000)]
    for path in solo:  # the second: as many rows as are validated before the transaction begins
        total, held, writing, accepted = lock_hold(url, path)
        print(
            f"in-process, one {path.stem.split('-')[2]}-row file ({accepted:,} rows accepted): {total:.2f} s, its "
            f"longest write transaction (on SQLite: the write lock held at once) {held:.2f} s ({held / total:.0%}), "
            f"its write transactions together {writing:.2f} s"
        )
    from xinyong.core.db import forget_databases

    forget_databases()
    data_dir = OUT / "concurrency-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    server = start_server(url, workers, data_dir)
    port = server.port
    listed_codes = sorted(listed)
    try:
        print(
            f"server: uvicorn, {workers} worker process(es), database {url.split(':', 1)[0]}; "
            f"{args.uploaders} uploaders × {args.rows}-row files, {args.clients} check connections"
        )
        check_load(port, check_token, codes, listed_codes, 3, args.clients)  # warm-up: pools, caches, token
        lat, err, elapsed = check_load(port, check_token, codes, listed_codes, args.seconds, args.clients)
        summarise_checks("checks alone", lat, err, elapsed)

        uploads = Uploads(port, upload_token, files)
        cpu0, t0 = common.process_tree_cpu(server.pid), time.perf_counter()
        uploads.start()
        lat, err, elapsed = check_load(port, check_token, codes, listed_codes, args.seconds, args.clients)
        window_end = time.perf_counter()
        uploads.finish()
        cpu = common.process_tree_cpu(server.pid) - cpu0
        summarise_checks(f"checks while {args.uploaders} uploads run", lat, err, elapsed)
        done = [a for a in uploads.accepted if a[0] <= window_end]
        window = window_end - t0
        times = [a[1] for a in uploads.accepted]
        rows = sum(a[2] for a in done)
        print(
            f"uploads: {len(done)} accepted in {window:.1f} s = {len(done) / window * 60:.1f} uploads/min, "
            f"{rows / window:,.0f} rows/s accepted; upload latency p50 "
            f"{common.pct(times, 50) if times else float('nan'):.2f} s, p99 "
            f"{common.pct(times, 99) if times else float('nan'):.2f} s; answers {dict(sorted(uploads.statuses.items()))}"
        )
        print(f"server CPU during the mixed phase: {cpu:.1f} s in {time.perf_counter() - t0:.1f} s")
        if uploads.failures:
            print(f"upload failures ({len(uploads.failures)}): {uploads.failures[:5]}")
    finally:
        server.stop()


if __name__ == "__main__":
    from xinyong.wiring import wire

    wire()  # the start-up wiring every entry point does (core.hooks)
    main()
