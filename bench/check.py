"""Benchmark: the credit check (``measures.check.run_check``) on a province-sized registry.

    .venv/bin/python bench/check.py [--subjects 1000000] [--entries 100000] [--records 0] [--db URL] [--reuse]
                                    [--singles 2000]
                                    [--http-seconds 10] [--load wrk|python] [--clients 8] [--threads 1]
                                    [--workers 2] [--batch 10000]

Builds a fresh database (a new SQLite file in bench/out by default; with ``--db postgresql+psycopg://…/<name>``
the database ``<name>``, which must start with ``xinyong_bench``, is dropped and created) from the models, seeds the
catalog, the list types and the measures, then writes N legal persons and M list entries in force (bulk,
``core.bulk.insert_rows``; black and red lists, a few expired ones) and ``--records`` penalties of the last five
years (a tenth of them 重大违法记录: a fine of 200万元 or more, or 责令停产停业; the measures triggered by records read
them in every check of a scenario they apply in, ``general`` included). Then it times:
- single checks in-process (one subject, scenario ``general``, half of them listed; each recorded and committed
  by ``measures.check.check_and_record``, as the API does): p50 / p99 / max;
- single checks over HTTP: uvicorn on loopback (``--workers`` processes, uvloop + httptools), ``--clients``
  keep-alive connections posting for ``--http-seconds`` after a warm-up: checks/s, p50 / p99 latency, errors. The
  load comes from ``wrk`` (C, ``--threads`` threads, a Lua script drawing each body from 20,000 prepared ones)
  when it is installed (``apt-get install wrk``), else from the lean asyncio client of ``bench/common.py``
  (``--load python``), which costs the shared cores more CPU per request;
- a ``--batch``-subject check in-process and over HTTP (one request);
and prints the figures and the peak RSS of this process and of the server.

``--reuse`` keeps a database built by an earlier run with the same ``--subjects`` (the codes are generated again,
the listed ones read back, a new token issued), so that repeated measurements skip the minute of building.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import os
import random
import resource
import shutil
import time
from pathlib import Path

import common  # bench/common.py (this folder is on sys.path)

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
ROOT = HERE.parent


def fresh_database(url: str | None) -> str:
    return common.fresh_database(url, default_name="bench-check.db")


pct = common.pct


def build(url: str, subjects: int, entries: int, seed: int, records: int = 0) -> tuple[list[str], set[str], str]:
    """Create and fill the database; returns the USCCs, the listed ones and a business-system token."""
    from sqlalchemy import select, text

    from xinyong.auth import service as auth
    from xinyong.auth import tokens as auth_tokens
    from xinyong.auth.roles import Role, system_principal
    from xinyong.catalog.service import seed_catalog
    from xinyong.core.bulk import allocate_ids, insert_rows
    from xinyong.core.db import get_database, utcnow
    from xinyong.identifiers import uscc
    from xinyong.lists.models import ListEntry, ListType
    from xinyong.lists.types import seed_list_types
    from xinyong.measures.service import seed_measures
    from xinyong.models import Base
    from xinyong.subjects.models import Subject

    rng = random.Random(seed)
    db = get_database(url)
    Base.metadata.create_all(db.engine)
    actor = system_principal("bench")
    with db.session() as session:
        seed_catalog(session, actor=actor)
        seed_list_types(session, actor=actor)
        seed_measures(session, actor=actor)
        dept = auth.create_department(
            session,
            actor=actor,
            code="czj",
            name="沁阳市财政局",
            uscc=uscc.make(authority="1", category="1", region="410882", org_body="00000001"),
        )
        _tok, raw = auth_tokens.create_token(
            session, actor=actor, name="采购系统", role=Role.BUSINESS_SYSTEM, department_id=dept.id
        )
        types = {t.code: t for t in session.scalars(select(ListType))}
        dept_id = dept.id

    t0 = time.perf_counter()
    codes: list[str] = []
    now = utcnow()
    chunk = 100_000
    with db.session() as session:
        for start in range(0, subjects, chunk):
            n = min(chunk, subjects - start)
            ids = allocate_ids(session, Subject.__table__, n)
            rows = []
            for i, sid in enumerate(ids):
                code = _code(start + i)
                codes.append(code)
                name = f"沁阳市测试{start + i}有限公司"
                rows.append(
                    {
                        "id": sid,
                        "kind": "legal_person",
                        "org_type": "enterprise",
                        "name": name,
                        "name_norm": name,
                        "uscc": code,
                        "uscc_flagged": False,
                        "region_code": "410882",
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            insert_rows(session, Subject.__table__, rows)
    print(f"subjects: {subjects:,} in {time.perf_counter() - t0:.1f} s")

    t0 = time.perf_counter()
    black = [t for t in types.values() if t.kind != "red"]
    red = [t for t in types.values() if t.kind == "red"]
    today = dt.date.today()
    listed_idx = rng.sample(range(subjects), min(entries, subjects))
    listed: set[str] = set()
    with db.session() as session:
        first_id = session.scalar(select(Subject.id).order_by(Subject.id).limit(1))
        ids = allocate_ids(session, ListEntry.__table__, len(listed_idx))
        rows = []
        for n, (eid, idx) in enumerate(zip(ids, listed_idx, strict=True)):
            lt = rng.choice(red if n % 5 == 0 else black)
            expired = n % 20 == 1
            listed_on = today - dt.timedelta(days=rng.randint(30, 600))
            term_end = (
                (listed_on + dt.timedelta(days=10)) if expired else today + dt.timedelta(days=rng.randint(1, 700))
            )
            if not expired:
                listed.add(codes[idx])
            rows.append(
                {
                    "id": eid,
                    "list_type_id": lt.id,
                    "entry_key": f"B{n}",
                    "subject_id": first_id + idx,
                    "party_name": f"沁阳市测试{idx}有限公司",
                    "party_code": codes[idx],
                    "party_kind": "legal_person",
                    "region_code": "410882",
                    "reason": "基准测试列入事由",
                    "facts": "",
                    "legal_basis": "基准测试认定依据",
                    "decision_no": f"沁测〔2025〕{n}号",
                    "authority": lt.authority,
                    "status": "active",
                    "listed_on": listed_on,
                    "term_end": term_end,
                    "data": {},
                    "match_status": "code",
                    "source": "department",
                    "revision": 1,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        insert_rows(session, ListEntry.__table__, rows)
    with db.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    print(f"entries: {len(listed_idx):,} ({len(listed):,} in force) in {time.perf_counter() - t0:.1f} s")
    if records:
        t0 = time.perf_counter()
        _penalties(db, records, subjects, first_id, dept_id, rng, today, now)
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        print(f"records: {records:,} penalties in {time.perf_counter() - t0:.1f} s")
    return codes, listed, raw


def _penalties(
    db,
    records: int,
    subjects: int,
    first_id: int,
    dept_id: int,
    rng: random.Random,  # noqa: ANN001
    today: dt.date,
    now: dt.datetime,
) -> None:
    """``records`` penalties on random subjects, decided over the last five years; one in ten a major one."""
    from xinyong.core.bulk import allocate_ids, insert_rows
    from xinyong.records.models import CreditRecord

    with db.session() as session:
        ids = allocate_ids(session, CreditRecord.__table__, records)
        rows = []
        for n, rid in enumerate(ids):
            major = n % 10 == 0
            types = ["责令停产停业"] if major and n % 20 == 0 else ["罚款"]
            fine = rng.randint(2_000_000, 9_000_000) * 100 if major else rng.randint(500, 50_000) * 100
            doc = f"沁测罚〔2025〕{n}号"
            rows.append(
                {
                    "id": rid,
                    "kind": "penalty",
                    "authority_uscc": "11410882MB0000000X",
                    "doc_no_norm": doc,
                    "doc_no": doc,
                    "authority": "沁阳市市场监督管理局",
                    "subject_id": first_id + rng.randrange(subjects),
                    "department_id": dept_id,
                    "current_version_id": None,
                    "version_count": 1,
                    "content_hash": f"{n:064d}",
                    "party_kind": "legal_person",
                    "party_name": "基准测试",
                    "decision_date": today - dt.timedelta(days=rng.randint(1, 5 * 365)),
                    "severity": "general",
                    "penalty_types": types,
                    "penalty_types_key": "|" + "|".join(types) + "|",
                    "fine_fen": fine,
                    "withdrawn_at": None,
                    "ended_on": None,
                    "received_at": now,
                    "workdays_late": 0,
                    "late": False,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            if len(rows) == 100_000:
                insert_rows(session, CreditRecord.__table__, rows)
                rows = []
        if rows:
            insert_rows(session, CreditRecord.__table__, rows)


def _code(i: int) -> str:
    from xinyong.identifiers import uscc

    return uscc.make(authority="9", category="1", region="410882", org_body=f"{i:08d}")


def reuse(url: str, subjects: int) -> tuple[list[str], set[str], str] | None:
    """The codes, listed codes and a new token of a database that :func:`build` filled earlier with ``subjects``
    subjects; None when there is no such database."""
    from sqlalchemy import func, select
    from sqlalchemy.exc import SQLAlchemyError

    from xinyong.auth import tokens as auth_tokens
    from xinyong.auth.models import Department
    from xinyong.auth.roles import Role, system_principal
    from xinyong.core.db import get_database
    from xinyong.lists.models import ListEntry
    from xinyong.lists.rules import in_force_clause
    from xinyong.subjects.models import Subject

    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return None
    db = get_database(url)
    try:
        with db.session() as session:
            if session.scalar(select(func.count()).select_from(Subject)) != subjects:
                return None
            listed = set(
                session.scalars(select(ListEntry.party_code).where(in_force_clause(ListEntry, dt.date.today())))
            )
            dept = session.scalar(select(Department).where(Department.code == "czj"))
            _tok, raw = auth_tokens.create_token(
                session,
                actor=system_principal("bench"),
                name="采购系统（再次测量）",
                role=Role.BUSINESS_SYSTEM,
                department_id=dept.id,
            )
    except SQLAlchemyError:
        return None
    print(f"reusing {url}: {subjects:,} subjects, {len(listed):,} listed")
    return [_code(i) for i in range(subjects)], listed, raw


def in_process(url: str, codes: list[str], listed: set[str], singles: int, batch: int, rng: random.Random) -> None:
    from xinyong.auth.roles import Principal, Role
    from xinyong.core.db import get_database
    from xinyong.measures.check import SubjectQuery, check_and_record, run_check

    db = get_database(url)
    actor = Principal(kind="token", name="bench", role=Role.BUSINESS_SYSTEM, department_id=1, token_id=1)
    listed_list = sorted(listed)
    with db.session() as session:  # warm the catalogue cache and the connection pool
        run_check(session, actor=actor, subjects=[SubjectQuery(code=listed_list[0])], scenario="general")
    sample = [rng.choice(listed_list) if i % 2 == 0 else rng.choice(codes) for i in range(singles)]
    times = []
    measures = 0
    for code in sample:
        t0 = time.perf_counter()
        answer = check_and_record(db, actor=actor, subjects=[SubjectQuery(code=code)], scenario="general")
        times.append((time.perf_counter() - t0) * 1000)
        measures += answer["summary"]["measures"]
    if singles:
        print(
            f"single check in-process ({singles:,}, half listed, {measures / singles:.1f} measures avg): "
            f"p50 {pct(times, 50):.2f} ms, p99 {pct(times, 99):.2f} ms, max {max(times):.2f} ms"
        )
    if not batch:
        return
    codes_batch = rng.sample(codes, batch)
    t0 = time.perf_counter()
    answer = check_and_record(db, actor=actor, subjects=[SubjectQuery(code=c) for c in codes_batch], scenario="general")
    s = answer["summary"]
    print(
        f"batch of {batch:,} in-process: {time.perf_counter() - t0:.2f} s "
        f"(matched {s['matched']:,}, with punishments {s['with_punishments']:,}, rewards {s['with_rewards']:,})"
    )


free_port = common.free_port


def load(
    port: int, token: str, codes: list[str], listed: list[str], seconds: float, connections: int
) -> tuple[list[float], list[str], float]:
    """Single-subject checks (half of them listed subjects) from ``connections`` keep-alive connections."""
    import json as _json

    def request(r: random.Random) -> bytes:
        code = r.choice(listed) if r.random() < 0.5 else r.choice(codes)
        body = _json.dumps({"scenario": "general", "subjects": [{"code": code}]}).encode()
        return (
            f"POST /api/v1/checks HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    return asyncio.run(common.load(port, request, seconds, connections))


def over_http(
    url: str,
    token: str,
    codes: list[str],
    listed: set[str],
    seconds: float,
    clients: int,
    batch: int,
    rng: random.Random,
    workers: int,
    load_kind: str,
    threads: int,
) -> None:
    import json as _json

    import httpx

    from xinyong.web import devserver

    server = devserver.start(
        url,
        keep_env=True,
        workers=workers,
        cwd=ROOT,
        timeout=30,
        uvicorn_args=["--loop", "uvloop", "--http", "httptools", "--log-level", "warning"],
    )
    port, base = server.port, server.base_url
    headers = {"Authorization": f"Bearer {token}"}
    try:
        listed_list = sorted(listed)
        httpx.post(
            f"{base}/api/v1/checks",
            json={"scenario": "general", "subjects": [{"code": codes[0]}]},
            headers=headers,
            timeout=30,
        )
        print(f"server: uvicorn, {workers} worker process(es), uvloop + httptools, database {url.split(':', 1)[0]}")
        if load_kind == "wrk":
            bodies = [
                _json.dumps(
                    {
                        "scenario": "general",
                        "subjects": [{"code": rng.choice(listed_list) if i % 2 == 0 else rng.choice(codes)}],
                    }
                ).encode()
                for i in range(20_000)
            ]
            wrk_headers = {**headers, "Content-Type": "application/json"}
            # Warm-up: every worker's connection pool, catalogue and token cache, and the database's pages.
            common.wrk(port, "/api/v1/checks", bodies, wrk_headers, seconds=3, connections=clients, threads=threads)
            pg0 = common.processes_cpu("postgres")
            cpu0, t0 = common.process_tree_cpu(server.pid), time.perf_counter()
            r = common.wrk(
                port, "/api/v1/checks", bodies, wrk_headers, seconds=seconds, connections=clients, threads=threads
            )
            cpu = common.process_tree_cpu(server.pid) - cpu0
            elapsed = time.perf_counter() - t0
            pg = common.processes_cpu("postgres") - pg0
            print(
                f"over HTTP, load: {r['command']} ({r['requests']:,} requests): {r['rps']:,.0f} checks/s, "
                f"p50 {r['p50']:.1f} ms, p90 {r['p90']:.1f} ms, p99 {r['p99']:.1f} ms, non-2xx {r['non2xx']}, "
                f"socket errors: {r['socket_errors']}"
            )
            print(
                f"server CPU: {cpu:.1f} s in {elapsed:.1f} s ({cpu / max(1, r['requests']) * 1000:.2f} ms per "
                f"check; the rest of the 2 cores went to wrk and others)"
            )
            if pg > 0:
                print(
                    f"PostgreSQL's processes on this machine: {pg:.1f} s CPU ({pg / max(1, r['requests']) * 1000:.2f}"
                    f" ms per check)"
                )
        else:
            load(port, token, codes, listed_list, 3, clients)  # warm-up
            cpu0 = common.process_tree_cpu(server.pid)
            latencies, errors, elapsed = load(port, token, codes, listed_list, seconds, clients)
            cpu = common.process_tree_cpu(server.pid) - cpu0
            first = f" (first: {errors[0]})" if errors else ""
            print(
                f"over HTTP, load: {clients} keep-alive connections, asyncio client, {elapsed:.1f} s: "
                f"{len(latencies) / elapsed:,.0f} checks/s, p50 {pct(latencies, 50):.1f} ms, "
                f"p99 {pct(latencies, 99):.1f} ms, errors {len(errors)}{first}"
            )
            per_check = cpu / max(1, len(latencies)) * 1000
            print(f"server CPU: {cpu:.1f} s in {elapsed:.1f} s ({per_check:.2f} ms per check)")
        if batch:
            body = {"scenario": "general", "subjects": [{"code": c} for c in rng.sample(codes, batch)]}
            t0 = time.perf_counter()
            resp = httpx.post(f"{base}/api/v1/checks", json=body, headers=headers, timeout=120)
            took = time.perf_counter() - t0
            print(
                f"batch of {batch:,} over HTTP: {took:.2f} s (status {resp.status_code}, "
                f"{len(resp.content) / 1e6:.1f} MB answer)"
            )
        try:
            status = Path(f"/proc/{server.pid}/status").read_text()
            peak = next(line for line in status.splitlines() if line.startswith("VmHWM"))
            print(f"server peak RSS: {peak.split(':', 1)[1].strip()}")
        except (OSError, StopIteration):
            pass
    finally:
        server.stop(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=1_000_000)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--records", type=int, default=0, help="penalties (credit records) to write")
    parser.add_argument("--db", help="database URL (default: a new SQLite file in bench/out)")
    parser.add_argument("--singles", type=int, default=2000)
    parser.add_argument("--http-seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument(
        "--load",
        choices=("wrk", "python"),
        default="wrk" if shutil.which("wrk") else "python",
        help="load generator over HTTP (default: wrk when installed)",
    )
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument(
        "--reuse", action="store_true", help="keep the database of an earlier run when it has --subjects subjects"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    os.environ.setdefault("XINYONG_SECRET_KEY", "bench-secret-key-not-for-production")
    os.environ["XINYONG_DATA_DIR"] = str(OUT)
    url = args.db or f"sqlite:///{OUT / 'bench-check.db'}"
    reused = reuse(url, args.subjects) if args.reuse else None
    if reused is None:
        url = fresh_database(args.db)
        os.environ["XINYONG_DATABASE_URL"] = url
        codes, listed, token = build(url, args.subjects, args.entries, args.seed, args.records)
    else:
        os.environ["XINYONG_DATABASE_URL"] = url
        codes, listed, token = reused
    rng = random.Random(args.seed + 1)
    # The bench holds a million codes a server process does not: keep them out of the collector's way, so that
    # the in-process latencies are the check's and not this script's garbage collection.
    gc.collect()
    gc.freeze()
    in_process(url, codes, listed, args.singles, args.batch, rng)
    if args.http_seconds > 0:
        over_http(
            url,
            token,
            codes,
            listed,
            args.http_seconds,
            args.clients,
            args.batch,
            rng,
            args.workers,
            args.load,
            args.threads,
        )
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak RSS (bench process): {peak_kib / 1024:.0f} MB")


if __name__ == "__main__":
    from xinyong.wiring import wire

    wire()  # the start-up wiring every entry point does (core.hooks)
    main()
