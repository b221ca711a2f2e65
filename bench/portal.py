"""Benchmark: the public portal on a province-sized registry (name search, subject page, report, HTTP).

    .venv/bin/python bench/portal.py [--subjects 1000000] [--entries 50000] [--db URL] [--reuse]
                                     [--queries 500] [--pages 300] [--reports 20] [--http-seconds 10] [--clients 8]
                                     [--upkeep 100000]

Builds a fresh database (a new SQLite file in bench/out by default; with ``--db postgresql+psycopg://…/<name>``
the database ``<name>``, which must start with ``xinyong_bench``, is dropped and created; ``--reuse`` keeps an
existing one) with N organisations with varied Chinese names (bulk, ``core.bulk.insert_rows``, with the search
index in place so its upkeep is part of the load time) and M list entries in force. Then it times, in-process:
- name search (``subjects.search.search_subjects``): partial names of 3-6 characters cut from real names (trigram
  index), 2-character fragments (bigram index), very common 2-character fragments (沁阳, 有限, 公司: the cap and the
  exact/prefix look-up), and USCCs: p50 / p95 / max each (with ``--reuse``, missing search indexes are created first
  and the time it took is printed);
- the subject page (``GET /subject/<uscc>`` through the ASGI app, middleware included): p50 / p95;
- credit report generation (``reports.service.generate_report``, PDF included): p50 / p95;
and over HTTP (uvicorn on loopback, a lean asyncio keep-alive client): subject pages/s, p50 / p99, errors.
With ``--upkeep N`` it first times the bulk load of N subjects into an empty database three times: without search
indexes, with the trigram index only, with trigram and bigram indexes (rows/s: the cost of index upkeep on import).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402  (bench/common.py)
from check import OUT, ROOT, fresh_database, pct  # noqa: E402

REGIONS = ["沁阳市", "焦作市", "河南省", "沁阳市怀庆", "沁阳市紫陵", "沁阳市西向", "沁阳市王曲", "沁阳市崇义"]
CHARS = (
    "宏达鑫华盛兴隆昌恒泰丰源瑞祥福安康永嘉信诚德利金银海天宇新星辉明光远鹏飞腾龙凤祥云春秋博文雅正"
    "通顺远航佳美优品创智科润泽万方圆中联合众和睿思维峰岭山川江河湖泉林森旺发达富贵吉庆乐怡悦"
)
INDUSTRIES = [
    "机械",
    "商贸",
    "建筑工程",
    "食品",
    "农业开发",
    "物流",
    "科技",
    "化工",
    "纺织",
    "餐饮",
    "汽车服务",
    "医药",
    "建材",
    "电子",
    "印务",
    "环保科技",
    "置业",
    "文化传媒",
    "劳务",
    "装饰工程",
]
FORMS = ["有限公司", "股份公司", "专业合作社", "厂", "经营部", "门市部", "店"]


def make_name(rng: random.Random, i: int) -> str:
    word = "".join(rng.choice(CHARS) for _ in range(rng.choice((2, 2, 3))))
    return f"{rng.choice(REGIONS)}{word}{rng.choice(INDUSTRIES)}{rng.choice(FORMS)}"


def subject_rows(rng: random.Random, start: int, ids: list[int], now: dt.datetime) -> list[dict]:
    from xinyong.identifiers import uscc
    from xinyong.identifiers.names import normalize_org_name

    rows = []
    for i, sid in enumerate(ids):
        k = start + i
        name = make_name(rng, k)
        individual = name.endswith(("店", "经营部", "门市部"))
        rows.append(
            {
                "id": sid,
                "kind": "individual_business" if individual else "legal_person",
                "org_type": "individual_business" if individual else "enterprise",
                "name": name,
                "name_norm": normalize_org_name(name),
                "uscc": uscc.make(
                    authority="9", category="2" if individual else "1", region="410882", org_body=f"{k:08d}"
                ),
                "uscc_flagged": False,
                "region_code": "410882",
                "legal_rep": "张三",
                "registered_on": dt.date(2000, 1, 1) + dt.timedelta(days=k % 8000),
                "status": "存续",
                "address": "沁阳市怀庆街道1号",
                "registration_authority": "沁阳市市场监督管理局",
                "created_at": now,
                "updated_at": now,
            }
        )
    return rows


def build(url: str, subjects: int, entries: int, seed: int) -> None:
    from sqlalchemy import select, text

    from xinyong.auth.roles import system_principal
    from xinyong.catalog.service import seed_catalog
    from xinyong.core.bulk import allocate_ids, insert_rows
    from xinyong.core.db import get_database, utcnow
    from xinyong.lists.models import ListEntry, ListType
    from xinyong.lists.types import seed_list_types
    from xinyong.models import Base
    from xinyong.subjects.models import Subject
    from xinyong.subjects.search import ensure_search_index

    rng = random.Random(seed)
    db = get_database(url)
    Base.metadata.create_all(db.engine)
    ensure_search_index(db.engine)
    actor = system_principal("bench")
    with db.session() as session:
        seed_catalog(session, actor=actor)
        seed_list_types(session, actor=actor)
        types = list(session.scalars(select(ListType)))
    t0 = time.perf_counter()
    now = utcnow()
    chunk = 50_000
    with db.session() as session:
        for start in range(0, subjects, chunk):
            n = min(chunk, subjects - start)
            ids = allocate_ids(session, Subject.__table__, n)
            insert_rows(session, Subject.__table__, subject_rows(rng, start, ids, now))
    took = time.perf_counter() - t0
    upkeep = "FTS5 trigram + bigram triggers" if db.dialect == "sqlite" else "pg_trgm + bigram GIN indexes"
    print(f"subjects: {subjects:,} in {took:.1f} s ({subjects / took:,.0f}/s, search index upkeep: {upkeep})")
    t0 = time.perf_counter()
    today = dt.date.today()
    with db.session() as session:
        first = session.scalar(select(Subject.id).order_by(Subject.id).limit(1))
        picks = rng.sample(range(subjects), min(entries, subjects))
        ids = allocate_ids(session, ListEntry.__table__, len(picks))
        rows = []
        for n, (eid, idx) in enumerate(zip(ids, picks, strict=True)):
            lt = rng.choice(types)
            listed_on = today - dt.timedelta(days=rng.randint(30, 600))
            rows.append(
                {
                    "id": eid,
                    "list_type_id": lt.id,
                    "entry_key": f"B{n}",
                    "subject_id": first + idx,
                    "party_name": "x",
                    "party_code": None,
                    "party_kind": "legal_person",
                    "region_code": "410882",
                    "reason": "基准测试列入事由",
                    "facts": "",
                    "legal_basis": "基准测试依据",
                    "decision_no": f"沁测〔2025〕{n}号",
                    "authority": lt.authority,
                    "status": "active",
                    "listed_on": listed_on,
                    "term_end": today + dt.timedelta(days=rng.randint(1, 700)),
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
    print(f"entries: {len(picks):,} in {time.perf_counter() - t0:.1f} s")


def time_upkeep(url: str, n: int, seed: int) -> None:
    """Bulk load of ``n`` subjects into an empty database without / with the trigram / with both search indexes."""
    from sqlalchemy import text

    from xinyong.core.bulk import allocate_ids, insert_rows
    from xinyong.core.db import forget_databases, get_database, utcnow
    from xinyong.models import Base
    from xinyong.subjects import search
    from xinyong.subjects.models import Subject

    sqlite = url.startswith("sqlite")
    trigram = search.SQLITE_DDL if sqlite else search.POSTGRES_DDL
    bigram = search.SQLITE_BIGRAM_DDL if sqlite else search.POSTGRES_BIGRAM_DDL
    rates = []
    for label, ddl in (("no search index", ()), ("trigram", trigram), ("trigram + bigram", trigram + bigram)):
        scratch = OUT / "bench-portal-upkeep.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(scratch) + suffix).unlink(missing_ok=True)
        target = (
            f"sqlite:///{scratch}" if sqlite else fresh_database(url.rsplit("/", 1)[0] + "/xinyong_bench_portal_upkeep")
        )
        db = get_database(target)
        Base.metadata.create_all(db.engine)
        with db.engine.begin() as conn:
            for statement in ddl:
                conn.execute(text(statement))
        rng = random.Random(seed)
        now = utcnow()
        t0 = time.perf_counter()
        with db.session() as session:
            for start in range(0, n, 50_000):
                ids = allocate_ids(session, Subject.__table__, min(50_000, n - start))
                insert_rows(session, Subject.__table__, subject_rows(rng, start, ids, now))
        took = time.perf_counter() - t0
        rates.append(n / took)
        print(
            f"bulk load of {n:,} subjects, {label}: {took:.1f} s ({n / took:,.0f}/s"
            + (f", {rates[0] / rates[-1]:.2f}x the time without)" if len(rates) > 1 else ")")
        )
        db.dispose()
        forget_databases()
        for suffix in ("", "-wal", "-shm"):
            Path(str(scratch) + suffix).unlink(missing_ok=True)


def sample(url: str, n: int, seed: int) -> list[tuple[int, str, str]]:
    from sqlalchemy import func, select

    from xinyong.core.db import get_database
    from xinyong.subjects.models import Subject

    db = get_database(url)
    with db.session() as session:
        top = session.scalar(select(func.max(Subject.id)))
        rng = random.Random(seed)
        ids = [rng.randint(1, top) for _ in range(n * 2)]
        rows = session.execute(select(Subject.id, Subject.name, Subject.uscc).where(Subject.id.in_(ids))).all()
    return [tuple(r) for r in rows][:n]  # type: ignore[misc]


def report(label: str, values: list[float]) -> None:
    print(
        f"{label}: n={len(values)}, p50 {pct(values, 50):.1f} ms, p95 {pct(values, 95):.1f} ms, "
        f"max {max(values):.1f} ms"
    )


def time_search(url: str, subjects: list[tuple[int, str, str]], seed: int) -> None:
    from sqlalchemy import text

    from xinyong.core.db import get_database
    from xinyong.subjects.search import ensure_search_index, search_subjects

    rng = random.Random(seed)
    db = get_database(url)
    t0 = time.perf_counter()
    if ensure_search_index(db.engine):
        print(f"search indexes created (missing on the reused database) in {time.perf_counter() - t0:.1f} s")
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    groups: dict[str, list[float]] = {
        "search, partial name (3-6 chars)": [],
        "search, 2-char fragment": [],
        "search, USCC": [],
    }
    hits = 0
    with db.session() as session:
        search_subjects(session, q="宏达机械")  # warm-up
        for _sid, name, code in subjects:
            core = name[3:]  # without the 3-character region prefix (沁阳市, 焦作市, 河南省 …)
            length = rng.randint(3, min(6, len(core)))
            start = rng.randint(0, len(core) - length)
            for label, q in (
                ("search, partial name (3-6 chars)", core[start : start + length]),
                ("search, 2-char fragment", core[start : start + 2]),
                ("search, USCC", code),
            ):
                t0 = time.perf_counter()
                result = search_subjects(session, q=q, limit=20)
                groups[label].append((time.perf_counter() - t0) * 1000)
                hits += bool(result.items)
        common = []
        for _ in range(20):
            for q in ("沁阳", "有限", "公司", "限公"):  # in most names: capped (on a large registry), plus prefixes
                t0 = time.perf_counter()
                result = search_subjects(session, q=q, limit=20)
                common.append((time.perf_counter() - t0) * 1000)
    for label, values in groups.items():
        report(label, values)
    report("search, very common 2-char fragment (capped)", common)
    print(f"  (queries with at least one result: {hits} of {3 * len(subjects)})")


def time_pages_and_reports(url: str, subjects: list[tuple[int, str, str]], reports: int) -> None:
    from fastapi.testclient import TestClient

    from xinyong.auth.roles import ANONYMOUS
    from xinyong.core.db import get_database
    from xinyong.reports.service import generate_report
    from xinyong.web.app import create_app

    db = get_database(url)
    with TestClient(create_app(db)) as client:
        client.get(f"/subject/{subjects[0][2]}")
        times = []
        for _sid, _name, code in subjects:
            t0 = time.perf_counter()
            r = client.get(f"/subject/{code}")
            times.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200, r.status_code
        report("subject page (in-process ASGI)", times)
    times = []
    for _sid, _name, code in subjects[:reports]:
        with db.session() as session:
            t0 = time.perf_counter()
            _rep, pdf = generate_report(session, subject_code=code, requester=ANONYMOUS)
            times.append((time.perf_counter() - t0) * 1000)
    report(f"report generation (PDF {len(pdf) / 1024:.0f} KiB)", times)


def load(port: int, paths: list[str], seconds: float, connections: int) -> tuple[list[float], list[str], float]:
    def request(r: random.Random) -> bytes:
        return f"GET {r.choice(paths)} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/html\r\n\r\n".encode()

    return asyncio.run(common.load(port, request, seconds, connections))


def over_http(url: str, subjects: list[tuple[int, str, str]], seconds: float, clients: int) -> None:
    import httpx

    from xinyong.web import devserver

    server = devserver.start(url, keep_env=True, cwd=ROOT, timeout=30, uvicorn_args=["--log-level", "warning"])
    port, base = server.port, server.base_url
    try:
        paths = [f"/subject/{code}" for _sid, _name, code in subjects]
        httpx.get(base + paths[0], timeout=30)
        latencies, errors, elapsed = load(port, paths, seconds, clients)
        print(
            f"subject page over HTTP ({clients} connections, {elapsed:.1f} s): {len(latencies) / elapsed:,.0f} "
            f"pages/s, p50 {pct(latencies, 50):.1f} ms, p99 {pct(latencies, 99):.1f} ms, errors {len(errors)}"
            + (f" (first: {errors[0]})" if errors else "")
        )
    finally:
        server.stop(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=1_000_000)
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--db", help="database URL (default: a new SQLite file in bench/out)")
    parser.add_argument("--reuse", action="store_true", help="use the existing database as it is")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--reports", type=int, default=20)
    parser.add_argument("--http-seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--upkeep", type=int, default=0, help="time the bulk load of N subjects per index set")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    if args.upkeep:
        time_upkeep(args.db or "sqlite:///", args.upkeep, args.seed)
    if args.reuse:
        url = args.db or f"sqlite:///{OUT / 'bench-portal.db'}"
    elif args.db:
        url = fresh_database(args.db)
    else:
        path = OUT / "bench-portal.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    print(f"database: {url.split('@')[-1]}")
    if not args.reuse:
        build(url, args.subjects, args.entries, args.seed)
    subjects = sample(url, max(args.queries, args.pages), args.seed)
    time_search(url, subjects[: args.queries], args.seed)
    time_pages_and_reports(url, subjects[: args.pages], args.reports)
    if args.http_seconds > 0:
        over_http(url, subjects[: args.pages], args.http_seconds, args.clients)
    print(f"peak RSS (this process): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    from xinyong.wiring import wire

    wire()  # the start-up wiring every entry point does (core.hooks)
    main()
