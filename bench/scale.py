"""Benchmark: the platform at province size on PostgreSQL (issue #19 part 2).

    .venv/bin/python bench/scale.py --db postgresql+psycopg://postgres@127.0.0.1/xinyong_scale \\
        [--subjects 1000000 --records 2000000] [--reuse] [--no-eval] [--samples 200]

Builds the database (unless ``--reuse``): the demo city through the services, then ``--subjects`` legal persons and
``--records`` records with their versions, list entries (2 %) and commitments (5 %) set-based
(``xinyong demo --size N --records M --fast``; the database, whose name must start with ``xinyong_scale`` or
``xinyong_bench``, is dropped and created first). Then, in this process, on the built database:

- name search (``subjects.search.search_subjects``): full names, 4-character parts (字号 + industry), 2-character
  字号 and codes — p50 / p95;
- the check (``measures.check.check_and_record``, as the API): single subjects (half of them listed) and batches of
  100 codes — p50 / p95;
- the government file (``reports.government_file.read_file``, logged): p50 / p95;
- a list sync (``lists.sync.sync_list``) of a court 失信被执行人 snapshot of ``--list-rows`` rows (60 % by USCC,
  25 % by name, 15 % unknown) into the empty list: wall time;
- the dashboards (``analytics.dashboards.overview``: receipts per month, timeliness, completeness, check feedback,
  lists) for a year, all departments and one department: wall time;
- a full evaluation run of the general model (``evaluation.service.run_evaluation``, the ``xinyong evaluation run``
  path): wall time (skipped with ``--no-eval``).

For each operation the SELECT statements it sent are captured and EXPLAINed (same parameters): the scan nodes are
printed (relation, index, Index Only Scan / Index Scan / Bitmap / Seq Scan), so a plan that lost its index shows.
Prints the database size, the load average and the peak RSS of this process.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import random
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import common  # bench/common.py (this folder is on sys.path)

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
MODEL = "public_credit_legal_person"
BIG_TABLES = {"subjects", "credit_records", "record_versions", "list_entries", "commitments", "checks", "check_items"}


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def _admin(url: str) -> tuple[Any, str]:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.get_backend_name() != "postgresql":
        raise SystemExit("bench/scale.py measures PostgreSQL")
    if not (u.database or "").startswith(("xinyong_scale", "xinyong_bench")):
        raise SystemExit("refusing to drop a database whose name does not start with xinyong_scale / xinyong_bench")
    return create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT"), str(u.database)


def _xinyong(url: str, *args: str) -> dict[str, Any]:
    env = {**os.environ, "XINYONG_DATA_DIR": str(OUT / "scale"), "XINYONG_DATABASE_URL": url}
    env.setdefault("XINYONG_SECRET_KEY", "bench-secret-key-not-for-production")
    exe = Path(sys.executable).parent / "xinyong"
    out = subprocess.run([str(exe), *args, "--json"], env=env, check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout))


def build(url: str, subjects: int, records: int) -> None:
    """The demo city (built once through the services into ``<name>_city`` and kept as a template: a few minutes
    whatever the size), copied to ``<name>``, then the set-based bulk (``xinyong demo --fast``)."""
    from sqlalchemy import text

    admin, name = _admin(url)
    city = f"{name}_city"
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": city}).first():
            conn.execute(text(f'CREATE DATABASE "{city}"'))
            t0 = time.perf_counter()
            _xinyong(url.rsplit("/", 1)[0] + f"/{city}", "demo", "--build-only", "--size", "2000")
            print(f"built the demo city template {city} in {time.perf_counter() - t0:.0f} s")
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{city}"'))
    admin.dispose()
    t0 = time.perf_counter()
    result = _xinyong(url, "demo", "--build-only", "--fast", "--size", str(subjects), "--records", str(records))
    bulk = result.get("bulk", {})
    print(f"bulk build in {time.perf_counter() - t0:.0f} s: steps (s) {bulk.get('timings')}")


# EXPLAIN of what an operation sent -------------------------------------------------------------------------------


@contextmanager
def captured(engine: Any) -> Iterator[list[tuple[str, Any]]]:
    """The SELECT statements (with their parameters) sent through ``engine`` inside the block."""
    from sqlalchemy import event

    seen: list[tuple[str, Any]] = []

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        head = statement.lstrip().upper()
        if (head.startswith(("SELECT", "WITH"))) and not executemany:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def _scans(node: dict[str, Any], out: list[str]) -> None:
    kind = node.get("Node Type", "")
    if "Scan" in kind and kind not in ("Function Scan", "Values Scan", "CTE Scan", "Subquery Scan", "Result"):
        rel = node.get("Relation Name") or ""
        idx = node.get("Index Name")
        out.append(f"{kind} {rel}" + (f" ({idx})" if idx else ""))
    for child in node.get("Plans", []) or []:
        _scans(child, out)


def explain(engine: Any, statements: list[tuple[str, Any]], label: str) -> list[str]:
    """Print the scan nodes of each distinct statement's plan; returns the sequential scans of big tables."""
    seq_big: list[str] = []
    done: set[str] = set()
    print(f"  EXPLAIN {label}:")
    with engine.connect() as conn:
        for statement, params in statements:
            key = " ".join(statement.split())[:400]
            if key in done:
                continue
            done.add(key)
            try:
                raw = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, params).scalar_one()
            except Exception as exc:  # noqa: BLE001 - a statement that cannot be re-run alone is reported, not fatal
                conn.rollback()
                print(f"    (not explained: {type(exc).__name__}) {key[:90]}")
                continue
            plan = raw[0]["Plan"] if isinstance(raw, list) else json.loads(raw)[0]["Plan"]
            scans: list[str] = []
            _scans(plan, scans)
            short = key[:110]
            print(f"    {short}\n      -> {', '.join(scans) or plan.get('Node Type')}")
            seq_big += [s for s in scans if s.startswith("Seq Scan") and s.split()[2] in BIG_TABLES]
    return seq_big


# Samples ---------------------------------------------------------------------------------------------------------


def samples(url: str, n: int, rng: random.Random) -> dict[str, Any]:
    from sqlalchemy import text

    from xinyong.core.db import get_database

    db = get_database(url)
    with db.engine.connect() as conn:
        lo, hi = conn.execute(text("SELECT min(id), max(id) FROM subjects WHERE source = 'bulk'")).one()
        ids = [rng.randint(lo, hi) for _ in range(n * 3)]
        rows = conn.execute(
            text("SELECT id, name, uscc FROM subjects WHERE id = ANY(:ids) AND uscc IS NOT NULL"), {"ids": ids}
        ).all()
        listed = conn.execute(
            text(
                "SELECT s.uscc FROM list_entries e JOIN subjects s ON s.id = e.subject_id "
                "WHERE e.status = 'active' AND s.uscc IS NOT NULL ORDER BY e.id LIMIT :n"
            ),
            {"n": n * 5},
        ).scalars()
        with_records = conn.execute(
            text(
                "SELECT s.uscc FROM credit_records r JOIN subjects s ON s.id = r.subject_id "
                "WHERE r.id = ANY(:ids) AND s.uscc IS NOT NULL"
            ),
            {
                "ids": [
                    rng.randint(*conn.execute(text("SELECT min(id), max(id) FROM credit_records")).one())
                    for _ in range(n)
                ]
            },
        ).scalars()
        return {
            "subjects": [(r[1], r[2]) for r in rows],
            "listed": list(listed),
            "with_records": list(with_records),
            "department_id": conn.execute(
                text("SELECT department_id FROM credit_records GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
            ).scalar(),
        }


def timed(fn: Callable[[], Any], n: int) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def summary(label: str, times: list[float]) -> None:
    print(
        f"{label:<46} n={len(times):>4}  p50 {common.pct(times, 50):8.2f} ms  p95 {common.pct(times, 95):8.2f} ms  "
        f"max {max(times):8.2f} ms"
    )


# Measurements ----------------------------------------------------------------------------------------------------


def measure_search(
    url: str, sample: dict[str, Any], n: int, rng: random.Random, skip: tuple[str, ...] = ()
) -> list[str]:
    from xinyong.core.db import get_database
    from xinyong.subjects.search import search_subjects

    db = get_database(url)
    if skip:
        # A partial database (--skip-search) may lack a search index on purpose: do not let the first search build
        # it (subjects.search.ensure_search_index creates missing ones; at 10M that takes many minutes).
        from xinyong.subjects import search as search_module

        search_module._ensured.add(str(db.engine.url))
    subjects = sample["subjects"]
    kinds: dict[str, list[str]] = {
        "full name": [rng.choice(subjects)[0] for _ in range(n)],
        # 字号 + industry (4 characters after the city: 宏达机械)
        "4-character part": [rng.choice(subjects)[0][3:7] for _ in range(n)],
        "2-character 字号": [rng.choice(subjects)[0][3:5] for _ in range(n)],
        "code (USCC)": [rng.choice(subjects)[1] for _ in range(n)],
    }
    seq: list[str] = []
    with db.session(write=False) as s:
        search_subjects(s, q=kinds["full name"][0])  # the search indexes exist; the catalogue is warm
    for label, queries in kinds.items():
        if label in skip:
            continue
        it = iter(queries)
        with db.session(write=False) as s:
            times = timed(lambda s=s, it=it: search_subjects(s, q=next(it)), len(queries))
        summary(f"name search, {label}", times)
        with captured(db.engine) as stmts, db.session(write=False) as s:
            res = search_subjects(s, q=queries[0])
        print(f"  ({queries[0]!r}: {res.total} matches, mode {res.mode}{', capped' if res.capped else ''})")
        seq += explain(db.engine, stmts, f"search {label}")
    return seq


def measure_check(url: str, sample: dict[str, Any], n: int, rng: random.Random) -> list[str]:
    from xinyong.auth.roles import Principal, Role
    from xinyong.core.db import get_database
    from xinyong.measures.check import SubjectQuery, check_and_record

    db = get_database(url)
    actor = Principal(kind="token", name="bench", role=Role.BUSINESS_SYSTEM, department_id=1, token_id=1)
    codes = [c for _n, c in sample["subjects"]]
    listed = sample["listed"] or codes
    single = [rng.choice(listed) if i % 2 == 0 else rng.choice(codes) for i in range(n)]
    check_and_record(db, actor=actor, subjects=[SubjectQuery(code=single[0])], scenario="general")  # warm
    it = iter(single)
    times = timed(
        lambda: check_and_record(db, actor=actor, subjects=[SubjectQuery(code=next(it))], scenario="general"), n
    )
    summary("check, single subject (half listed)", times)
    batches = max(5, n // 10)
    pool = codes + listed

    def batch() -> None:
        chosen = rng.sample(pool, min(100, len(pool)))
        check_and_record(db, actor=actor, subjects=[SubjectQuery(code=c) for c in chosen], scenario="general")

    summary("check, batch of 100 codes", timed(batch, batches))
    # The check's hot statements run on the driver's cursor (measures._sql.Prepared), past SQLAlchemy's events:
    # record them at the source for the EXPLAIN.
    from xinyong.measures import _sql

    prepared: list[tuple[str, Any]] = []
    original = _sql.Prepared.rows

    def recording(self: Any, conn: Any, values: Any, **params: Any) -> list[Any]:
        rows = original(self, conn, values, **params)
        sql, order, constants = self._compiled[(conn.dialect.name, len(values))]
        bound = {**constants, **params, **{f"v{i}": v for i, v in enumerate(values)}}
        prepared.append((sql, tuple(bound[k] for k in order) if order is not None else bound))
        return rows

    _sql.Prepared.rows = recording  # type: ignore[method-assign]
    try:
        with captured(db.engine) as stmts, captured(db.replica.statement_engine) as stmts2:
            check_and_record(db, actor=actor, subjects=[SubjectQuery(code=c) for c in listed[:100]], scenario="general")
    finally:
        _sql.Prepared.rows = original  # type: ignore[method-assign]
    return explain(db.engine, prepared + stmts2 + stmts, "check (100 listed codes)")


def measure_file(url: str, sample: dict[str, Any], n: int, rng: random.Random) -> list[str]:
    from xinyong.auth.roles import Principal, Role
    from xinyong.core.db import get_database
    from xinyong.core.errors import NotFound
    from xinyong.reports.government_file import read_file

    db = get_database(url)
    actor = Principal(
        kind="token", name="bench", role=Role.DEPT_OPERATOR, department_id=sample["department_id"], token_id=1
    )
    codes = [c for _n, c in sample["subjects"]]
    with_records = sample["with_records"] or codes
    chosen = [rng.choice(with_records) if i % 2 == 0 else rng.choice(codes) for i in range(n)]
    counts = {"records": 0, "lists": 0}

    def one(code: str) -> None:
        try:
            with db.session() as s:
                answer = read_file(s, actor=actor, code=code, purpose="procurement")
            counts["records"] += len(answer["records"])
            counts["lists"] += len(answer["lists"])
        except NotFound:
            pass

    one(chosen[0])
    it = iter(chosen)
    times = timed(lambda: one(next(it)), n)
    summary("government file (half with records)", times)
    print(f"  ({counts['records'] / n:.1f} records, {counts['lists'] / n:.2f} list entries per file)")
    with captured(db.engine) as stmts:
        one(with_records[0])
    return explain(db.engine, stmts, "government file")


def write_court_list(path: Path, sample: dict[str, Any], rows: int, rng: random.Random) -> None:
    headers = [
        "被执行人姓名/名称",
        "性别",
        "年龄",
        "身份证号码/组织机构代码",
        "法定代表人或者负责人姓名",
        "执行法院",
        "省份",
        "执行依据文号",
        "立案时间",
        "案号",
        "做出执行依据单位",
        "生效法律文书确定的义务",
        "被执行人的履行情况",
        "失信被执行人行为具体情形",
        "发布时间",
    ]
    subjects = sample["subjects"]
    with path.open("w", encoding="gb18030", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(headers)
        for k in range(rows):
            name, code = subjects[k % len(subjects)]
            share = k % 20
            if share < 12:
                row_name, row_code = name, code  # 60 % by USCC
            elif share < 17:
                row_name, row_code = name, ""  # 25 % by name only
            else:
                row_name, row_code = f"郑州市未登记商号{k:06d}经营部", ""  # 15 % nobody registered
            w.writerow(
                [
                    row_name,
                    "",
                    "",
                    row_code,
                    "某某",
                    "郑州市中级人民法院",
                    "河南",
                    f"(2024)豫01民初{k}号",
                    "2024年03月01日",
                    f"(2025)豫01执{k}号",
                    "郑州市中级人民法院",
                    "支付货款",
                    "全部未履行",
                    "有履行能力而拒不履行生效法律文书确定义务",
                    f"2025年{1 + k % 12:02d}月{1 + k % 28:02d}日",
                ]
            )


def measure_list_sync(url: str, sample: dict[str, Any], rows: int, rng: random.Random) -> list[str]:
    from sqlalchemy import text

    from xinyong.auth.roles import system_principal
    from xinyong.core.db import get_database
    from xinyong.lists.sync import sync_list

    db = get_database(url)
    path = OUT / f"scale-court-{rows}.csv"
    write_court_list(path, sample, rows, rng)
    with db.engine.connect() as conn:  # the demo city's own court entries (a snapshot replaces them)
        before = conn.execute(
            text(
                "SELECT count(*) FROM list_entries e JOIN list_types t ON t.id = e.list_type_id "
                "WHERE t.code = 'court_dishonest_debtor'"
            )
        ).scalar_one()
    actor = system_principal("bench")
    with captured(db.engine) as stmts:
        t0 = time.perf_counter()
        with db.sessionmaker() as session, session.begin():
            record = sync_list(session, actor=actor, list_code="court_dishonest_debtor", path=path)
            counts = (record.rows, record.added, record.review_queued, (record.report or {}).get("link_status"))
        seconds = time.perf_counter() - t0
    print(
        f"list sync, court snapshot of {rows:,} rows over {before:,} entries: {seconds:.2f} s ({rows / seconds:,.0f} rows/s); "
        f"rows/added/review {counts[:3]}, links {counts[3]}"
    )
    return explain(db.engine, stmts[:40], "list sync (first 40 statements)")


def measure_dashboards(url: str, sample: dict[str, Any]) -> list[str]:
    from xinyong.analytics import dashboards
    from xinyong.analytics.dashboards import Period
    from xinyong.core.db import get_database

    db = get_database(url)
    year = Period(dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    seq: list[str] = []
    for label, dept in (("all departments", None), ("one department", sample["department_id"])):
        with db.session(write=False) as s:
            t0 = time.perf_counter()
            data = dashboards.overview(s, period=year, department_id=dept)
            seconds = time.perf_counter() - t0
        print(
            f"dashboards overview, 12 months, {label}: {seconds:.2f} s "
            f"({sum(data['records']['totals']):,} records received in the period)"
        )
        for part, fn in (("timeliness", dashboards.timeliness), ("completeness", dashboards.data_quality)):
            with db.session(write=False) as s:
                t0 = time.perf_counter()
                fn(s, period=year, department_id=dept)
                print(f"  {part}, {label}: {time.perf_counter() - t0:.3f} s")
    with captured(db.engine) as stmts, db.session(write=False) as s:
        dashboards.timeliness(s, period=year, department_id=sample["department_id"])
        dashboards.data_quality(s, period=year, department_id=sample["department_id"])
    seq += explain(db.engine, stmts, "dashboards timeliness + completeness, one department")
    return seq


def measure_evaluation(url: str) -> None:
    from sqlalchemy import text

    from xinyong.auth.roles import system_principal
    from xinyong.core.db import get_database
    from xinyong.evaluation import service

    db = get_database(url)
    t0 = time.perf_counter()
    with db.session() as session:
        runs = service.run_evaluation(session, actor=system_principal("bench"), model=MODEL)
    seconds = time.perf_counter() - t0
    run = runs[0]
    print(
        f"evaluation, full run of {MODEL}: {seconds:.1f} s; evaluated {run['evaluated']:,}, "
        f"changed {run['changed']:,}, grade changed {run['grade_changed']:,}"
    )
    with db.engine.connect() as conn:
        print(
            "  results now: "
            + str(conn.execute(text("SELECT count(*) FROM evaluation_results")).scalar_one())
            + " rows"
        )


def explain_evaluation(url: str) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of the evaluation's values statement (``evaluation.engine.values_query``, the whole
    population): where a full run's time goes. Read-only; as long as the statement itself."""
    from sqlalchemy import text
    from sqlalchemy.dialects import postgresql

    from xinyong.core.db import get_database
    from xinyong.evaluation import engine, service

    db = get_database(url)
    with db.session(write=False) as session:
        model = service.get_model(session, MODEL)
        stmt = engine.values_query(session, service.spec_of(model), dt.date.today(), subset=False)
        sql = str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
        session.execute(text(f"SET LOCAL work_mem = '{engine.PG_WORK_MEM}'"))
        session.execute(text("SET LOCAL jit = off"))
        t0 = time.perf_counter()
        plan = session.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + sql)).scalars().all()
    print(f"EXPLAIN ANALYZE of the evaluation's values statement ({time.perf_counter() - t0:.1f} s):")
    for line in plan:
        print("    " + line)


def sizes(url: str) -> None:
    from sqlalchemy import text

    from xinyong.core.db import get_database

    db = get_database(url)
    with db.engine.connect() as conn:
        total = conn.execute(text("SELECT pg_size_pretty(pg_database_size(current_database()))")).scalar_one()
        counts = {
            t: conn.execute(text(f"SELECT reltuples::bigint FROM pg_class WHERE oid = '{t}'::regclass")).scalar_one()
            for t in ("subjects", "credit_records", "list_entries", "commitments")
        }
        versions = conn.execute(
            text(
                "SELECT sum(reltuples)::bigint FROM pg_class WHERE relkind = 'r' AND relname LIKE 'record\\_versions\\_h%'"
            )
        ).scalar_one()
        big = conn.execute(
            text(
                "SELECT c.relname, pg_size_pretty(pg_total_relation_size(c.oid)) FROM pg_class c "
                "WHERE c.relkind IN ('r', 'p') AND c.relnamespace = 'public'::regnamespace "
                "ORDER BY pg_total_relation_size(c.oid) DESC LIMIT 6"
            )
        ).all()
    print(f"database {total}; rows (estimated) {counts}, record_versions {versions}")
    print("  largest tables: " + ", ".join(f"{n} {s}" for n, s in big))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True)
    ap.add_argument("--subjects", type=int, default=1_000_000)
    ap.add_argument("--records", type=int, default=None, help="default: 2 × subjects")
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--no-eval", action="store_true")
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--list-rows", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument("--explain-eval", action="store_true", help="EXPLAIN ANALYZE the evaluation's values statement")
    ap.add_argument("--only-eval", action="store_true", help="skip the other measurements")
    ap.add_argument(
        "--only",
        default="search,check,file,dashboards,listsync",
        help="the measurements to run (comma-separated; a partial database may lack what the others need)",
    )
    ap.add_argument("--skip-search", default="", help="search kinds to skip (comma-separated labels)")
    args = ap.parse_args()
    from xinyong.wiring import wire

    wire()
    OUT.mkdir(exist_ok=True)
    os.environ.setdefault("XINYONG_SECRET_KEY", "bench-secret-key-not-for-production")
    os.environ["XINYONG_DATA_DIR"] = str(OUT / "scale")
    records = args.subjects * 2 if args.records is None else args.records
    print(f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, load average {load()}, {os.cpu_count()} CPUs")
    if not args.reuse:
        build(args.db, args.subjects, records)
        print(f"load average after the build {load()}")
    sizes(args.db)
    if args.only_eval:
        if args.explain_eval:
            explain_evaluation(args.db)
        measure_evaluation(args.db)
        return
    rng = random.Random(args.seed)
    sample = samples(args.db, args.samples, rng)
    seq: list[str] = []
    only = set(args.only.split(","))
    if "search" in only:
        skip = tuple(k for k in args.skip_search.split(",") if k)
        seq += measure_search(args.db, sample, args.samples, rng, skip)
    if "check" in only:
        seq += measure_check(args.db, sample, args.samples, rng)
    if "file" in only:
        seq += measure_file(args.db, sample, args.samples // 2, rng)
    if "dashboards" in only:
        seq += measure_dashboards(args.db, sample)
    if "listsync" in only:
        seq += measure_list_sync(args.db, sample, args.list_rows, rng)
    print(f"sequential scans of big tables in the plans above: {sorted(set(seq)) or 'none'}", flush=True)
    if args.explain_eval:
        explain_evaluation(args.db)
    if not args.no_eval:
        print(f"load average before the evaluation {load()}")
        measure_evaluation(args.db)
    print(f"load average at the end {load()}; peak RSS of this process {rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
