"""Benchmark: sync a snapshot of the court's 失信被执行人 list against a registry of N subjects.

    .venv/bin/python bench/list_sync.py [--subjects 1000000] [--entries 100000] [--db URL] [--rebuild]

Builds (or reuses) a synthetic registry — organisations with USCCs, some with an organisation-code alias, and
natural persons (5 %) with encrypted IDs — written straight with ``core.bulk`` so the registry build does not
dominate the run. Then writes a GB18030 CSV snapshot of M court entries: 40 % carry a USCC, 20 % an organisation
code, 25 % are persons with masked IDs (``4108821990****1234``), 15 % organisations by name only (most exactly as
registered, some with another legal form or unknown). Syncs it through ``lists.sync.sync_list`` in one
transaction, then syncs it again (all unchanged), and prints rows/s, the link outcome and peak memory.

Default database: a SQLite file under bench/out/ (kept, so the registry is built once). PostgreSQL URLs must name
a database starting with ``xinyong_bench`` (it is created if missing, never dropped).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import random
import resource
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
SEED = 20240601
REGIONS = ["410882", "410802", "410803", "410811", "410821", "410822", "410823", "410825", "410883", "410800"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍红建国志强海燕文斌"
WORDS = "宏达远大华鑫恒通金源瑞丰盛世博雅东方新星永安信诚天成广汇利民泰和众合嘉禾隆基顺发"
TRADES = [
    "机械",
    "化工",
    "建材",
    "商贸",
    "食品",
    "纺织",
    "物流",
    "科技",
    "电子",
    "农业",
    "建筑",
    "印刷",
    "医药",
    "环保",
]
FORMS = ["有限公司", "有限责任公司", "股份有限公司", "厂", "商行"]


def org_name(i: int, rng: random.Random) -> str:
    word = "".join(rng.choice(WORDS) for _ in range(2))
    return f"沁阳市{word}{rng.choice(TRADES)}{i:07d}{rng.choice(FORMS[:3])}"


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def person_number(i: int) -> str:
    """A distinct valid resident ID for person ``i`` (sequence i mod 1000, a distinct birth date per thousand)."""
    from xinyong.identifiers import resident_id

    birth = dt.date(1950, 1, 1) + dt.timedelta(days=(i // 1000) * 37 % 18000)
    return resident_id.make(region=REGIONS[i % len(REGIONS)], birth_date=birth, sequence=i % 1000)


def database_url(url: str | None) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    if not url:
        return f"sqlite:///{OUT / 'bench-listsync.db'}"
    u = make_url(url)
    if u.get_backend_name() == "postgresql":
        if not (u.database or "").startswith("xinyong_bench"):
            raise SystemExit("refusing a PostgreSQL database whose name does not start with xinyong_bench")
        admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": u.database}).scalar():
                conn.execute(text(f'CREATE DATABASE "{u.database}"'))
        admin.dispose()
    return url


def build_registry(db, n: int) -> None:  # type: ignore[no-untyped-def]
    """N subjects: 95 % organisations (USCC; every third with an org-code alias), 5 % persons."""
    from xinyong.core.bulk import insert_rows
    from xinyong.core.db import utcnow
    from xinyong.identifiers import uscc
    from xinyong.identifiers.masking import mask_resident_id
    from xinyong.identifiers.names import normalize_org_name, normalize_person_name
    from xinyong.identifiers.vault import get_vault
    from xinyong.subjects.models import Subject, SubjectAlias, SubjectName

    rng = random.Random(SEED)
    vault = get_vault()
    now = utcnow()
    persons = n // 20
    chunk = 50_000
    sid = 0
    with db.sessionmaker() as session, session.begin():
        for start in range(0, n, chunk):
            subjects, names, aliases = [], [], []
            for i in range(start, min(n, start + chunk)):
                sid += 1
                region = REGIONS[i % len(REGIONS)]
                if i < persons:
                    name = person_name(rng)
                    number = person_number(i)
                    row = {
                        "id": sid,
                        "kind": "natural_person",
                        "name": name,
                        "name_norm": normalize_person_name(name),
                        "resident_id_hash": vault.lookup_hash(number),
                        "resident_id_enc": vault.encrypt(number),
                        "resident_id_masked": mask_resident_id(number),
                        "region_code": region,
                    }
                else:
                    name = org_name(i, rng)
                    code = uscc.make(authority="9", category="1", region=region, org_body=f"{i:08d}")
                    row = {
                        "id": sid,
                        "kind": "legal_person",
                        "org_type": "enterprise",
                        "name": name,
                        "name_norm": normalize_org_name(name),
                        "uscc": code,
                        "region_code": region,
                        "legal_rep": person_name(rng),
                    }
                    if i % 3 == 0:
                        aliases.append(
                            {
                                "subject_id": sid,
                                "scheme": "org_code",
                                "value": code[8:17],
                                "source": "bench",
                                "created_at": now,
                            }
                        )
                row.update(uscc_flagged=False, source="bench", created_at=now, updated_at=now)
                subjects.append(row)
                names.append(
                    {
                        "subject_id": sid,
                        "name": name,
                        "name_norm": row["name_norm"],
                        "valid_from": now,
                        "source": "bench",
                    }
                )
            cols = sorted({k for r in subjects for k in r})
            insert_rows(session, Subject.__table__, subjects, cols)
            insert_rows(session, SubjectName.__table__, names)
            insert_rows(session, SubjectAlias.__table__, aliases)
            print(f"  registry {min(n, start + chunk):,}/{n:,}", end="\r", flush=True)
    if db.dialect == "postgresql":
        with db.engine.begin() as conn:
            from sqlalchemy import text

            conn.execute(text("SELECT setval(pg_get_serial_sequence('subjects', 'id'), :n)"), {"n": n})
            conn.execute(text("ANALYZE subjects; ANALYZE subject_names; ANALYZE subject_aliases"))
    print()


def write_snapshot(path: Path, n_subjects: int, m: int) -> None:
    """M court entries drawn from the registry (same RNG as the registry, so names and codes agree)."""
    from xinyong.identifiers import uscc

    rng = random.Random(SEED)
    persons = n_subjects // 20
    # Re-draw the registry's names in order (cheap) to know each subject's name.
    person_names = [person_name(rng) for _ in range(persons)]
    org_names = {}
    picks = random.Random(SEED + 1)
    org_ids = sorted(picks.sample(range(persons, n_subjects), min(m, n_subjects - persons)))
    wanted = set(org_ids)
    for i in range(persons, n_subjects):
        name = org_name(i, rng)
        if i in wanted:
            org_names[i] = name
        person_name(rng)  # the legal representative drawn after each organisation
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
    grounds = ["违反财产报告制度", "有履行能力而拒不履行生效法律文书确定义务", "违反限制消费令"]
    with path.open("w", encoding="gb18030", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(headers)
        for k in range(m):
            share = k % 20
            code, name, sex, age, rep = "", "", "", "", ""
            if share < 12:  # 40 % USCC, 20 % org code
                i = org_ids[k % len(org_ids)]
                name = org_names[i]
                full = uscc.make(authority="9", category="1", region=REGIONS[i % len(REGIONS)], org_body=f"{i:08d}")
                code = full if share < 8 else full[8:17]
                rep = "某某"
            elif share < 17:  # 25 % persons with masked IDs
                i = (k * 7919) % persons
                number = person_number(i)
                name, sex, age = person_names[i], "男", str(2025 - int(number[6:10]))
                code = number[:10] + "****" + number[14:]
            else:  # 15 % organisations by name only
                i = org_ids[k % len(org_ids)]
                name = org_names[i] if share < 19 else f"沁阳市未登记商号{k:06d}经营部"
            w.writerow(
                [
                    name,
                    sex,
                    age,
                    code,
                    rep,
                    "沁阳市人民法院",
                    "河南",
                    f"(2024)豫0882民初{k}号",
                    "2024年03月01日",
                    f"(2025)豫0882执{k}号",
                    "沁阳市人民法院",
                    "支付货款",
                    "全部未履行",
                    grounds[k % 3],
                    f"2025年{1 + k % 12:02d}月{1 + k % 28:02d}日",
                ]
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=1_000_000)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--db", help="database URL (default: SQLite file in bench/out)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the registry even if it is there")
    parser.add_argument("--profile", help="write a cProfile of the first sync to this file")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    os.environ.setdefault("XINYONG_SECRET_KEY", "bench-secret-key-not-for-production")
    os.environ["XINYONG_DATA_DIR"] = str(OUT)

    from sqlalchemy import func, select, text

    from xinyong.auth.roles import system_principal
    from xinyong.catalog.service import seed_catalog
    from xinyong.core.db import get_database
    from xinyong.core.migrate import upgrade
    from xinyong.lists.models import ListEntry
    from xinyong.lists.sync import sync_list
    from xinyong.lists.types import seed_list_types
    from xinyong.models import Base
    from xinyong.subjects.models import Subject

    url = database_url(args.db)
    if args.rebuild and url.startswith("sqlite"):
        for suffix in ("", "-wal", "-shm"):
            Path(str(OUT / "bench-listsync.db") + suffix).unlink(missing_ok=True)
    upgrade(url)
    db = get_database(url)
    Base.metadata.create_all(db.engine)  # tables newer than the last migration
    actor = system_principal("bench")
    with db.sessionmaker() as session:
        have = session.scalar(select(func.count()).select_from(Subject)) or 0
    if have != args.subjects:
        if have:
            raise SystemExit(
                f"the database holds {have:,} subjects, not {args.subjects:,}: use --rebuild "
                "(SQLite) or another xinyong_bench database"
            )
        t0 = time.perf_counter()
        build_registry(db, args.subjects)
        print(f"built registry of {args.subjects:,} subjects in {time.perf_counter() - t0:.0f} s")
    with db.sessionmaker() as session, session.begin():
        seed_catalog(session, actor=actor)
        seed_list_types(session, actor=actor)
    with db.engine.begin() as conn:  # every run starts from an empty list
        for table in ("list_entry_events", "list_entries", "list_syncs", "list_match_judgements"):
            conn.execute(text(f"DELETE FROM {table}"))

    snapshot = OUT / f"court-{args.subjects}-{args.entries}.csv"
    if not snapshot.exists():
        t0 = time.perf_counter()
        write_snapshot(snapshot, args.subjects, args.entries)
        print(f"wrote {snapshot.name} ({snapshot.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t0:.0f} s")

    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
    timings = []
    for run in ("first", "again"):
        t0 = time.perf_counter()
        with db.sessionmaker() as session, session.begin():
            if profiler and run == "first":
                profiler.enable()
            record = sync_list(session, actor=actor, list_code="court_dishonest_debtor", path=snapshot)
            if profiler and run == "first":
                profiler.disable()
            counts = (
                record.rows,
                record.added,
                record.changed,
                record.removed,
                record.unchanged,
                record.review_queued,
                (record.report or {}).get("link_status"),
            )
            t1 = time.perf_counter()
        timings.append((run, t1 - t0, time.perf_counter() - t1, counts))
    if profiler:
        profiler.dump_stats(args.profile)
    with db.sessionmaker() as session:
        linked = session.scalar(select(func.count()).select_from(ListEntry).where(ListEntry.subject_id.is_not(None)))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"database            {db.dialect}")
    print(f"registry            {args.subjects:,} subjects")
    for run, took, commit, (rows, added, changed, removed, unchanged, queued, status) in timings:
        print(
            f"sync ({run:5})        {rows:,} rows in {took:.1f} s (+ commit {commit:.2f} s) → {rows / took:,.0f} rows/s;"
            f" added {added:,}, changed {changed:,}, removed {removed:,}, unchanged {unchanged:,},"
            f" review queued {queued:,}"
        )
        if status:
            print(f"  link status       {status}")
    print(f"entries linked      {linked:,}")
    print(f"peak memory (RSS)   {peak_mb:,.0f} MB")
    print(f"python              {sys.version.split()[0]}")


if __name__ == "__main__":
    from xinyong.wiring import wire

    wire()  # the start-up wiring every entry point does (core.hooks)
    main()
