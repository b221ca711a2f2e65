"""Benchmark: the storage floor of collection on SQLite — what writing alone costs, with no validation at all.

    .venv/bin/python bench/ingest_floor.py [--rows 300000] [--tables both|records|versions]

Creates a fresh migrated SQLite database (bench/out/bench-floor.db) and inserts N credit records and their first
versions with plain ``sqlite3`` ``executemany`` (the fastest path Python has), values built in advance, keys
(document numbers, subjects) spread as in a real city. The rate printed is an upper bound for
``bench/ingest.py``: whatever collection does per row (decode, validate, mask, hash, resolve the subject) comes
on top of it.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import time

import common  # bench/common.py (this folder is on sys.path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--tables", choices=("both", "records", "versions"), default="both")
    args = parser.parse_args()
    os.environ.setdefault("XINYONG_SECRET_KEY", "bench-secret-key-not-for-production")
    from xinyong.core.bulk import SQLITE_CACHE_KIB
    from xinyong.core.migrate import upgrade

    url = common.fresh_database(None, default_name="bench-floor.db")
    upgrade(url)
    con = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    con.execute("PRAGMA foreign_keys=OFF")
    rcols = [r[1] for r in con.execute("PRAGMA table_info(credit_records)")]
    vcols = [r[1] for r in con.execute("PRAGMA table_info(record_versions)")]
    rng = random.Random(7)
    content = (
        '{"kind":"penalty","party_name":"福州市鼓楼区某某商贸有限公司","party_kind":"legal_person",'
        '"party_uscc":"91350100MA2YQ8K10X","doc_no":"榕鼓市监罚〔2024〕12号","decision_date":"2024-03-05",'
        '"authority":"福州市鼓楼区市场监督管理局","authority_uscc":"11350100003100010X","penalty_types":["罚款","警告"],'
        '"fine_wan":"1.5","severity":"general","source_unit":"福州市鼓楼区市场监督管理局"}'
    )
    data = "{" + ",".join(f'"字段{i}":"某某某某某某某某"' for i in range(30)) + "}"
    ts = "2026-11-26 00:00:00.000000"
    batch = 2_000
    authorities = [f"1135010000310{i:03d}X" for i in range(40)]
    written, t0 = 0.0, time.perf_counter()
    con.execute("BEGIN")
    for start in range(0, args.rows, batch):
        recs, vers = [], []
        for i in range(start, min(args.rows, start + batch)):
            a = i % len(authorities)  # each authority numbers its decisions in sequence
            rec = dict.fromkeys(rcols)
            rec.update(
                id=i + 1,
                kind="penalty",
                authority_uscc=authorities[a],
                doc_no_norm=f"榕市监罚(2024){i // 40 + 1}号",
                doc_no="x",
                authority="a",
                subject_id=rng.randint(1, args.rows // 5),
                department_id=1,
                current_version_id=i + 1,
                version_count=1,
                content_hash=f"{rng.getrandbits(256):064x}",
                party_kind="legal_person",
                party_name="福州市某某商贸有限公司",
                decision_date="2024-03-05",
                severity="general",
                penalty_types='["罚款"]',
                penalty_types_key="|罚款|",
                fine_fen=1_500_000,
                received_at=ts,
                workdays_late=0,
                late=0,
                created_at=ts,
                updated_at=ts,
            )
            recs.append(tuple(rec[c] for c in rcols))
            ver = dict.fromkeys(vcols)
            ver.update(
                id=i + 1,
                record_id=i + 1,
                version_no=1,
                content_hash=rec["content_hash"],
                content=content,
                data=data,
                extra="{}",
                flags="[]",
                changed_fields="[]",
                source_row=i + 2,
                department_id=1,
                received_at=ts,
                actor="bench",
                created_at=ts,
            )
            vers.append(tuple(ver[c] for c in vcols))
        t1 = time.perf_counter()
        if args.tables in ("both", "records"):
            con.executemany(
                f"INSERT INTO credit_records ({','.join(rcols)}) VALUES ({','.join('?' * len(rcols))})", recs
            )
        if args.tables in ("both", "versions"):
            con.executemany(
                f"INSERT INTO record_versions ({','.join(vcols)}) VALUES ({','.join('?' * len(vcols))})", vers
            )
        written += time.perf_counter() - t1
    t1 = time.perf_counter()
    con.execute("COMMIT")
    written += time.perf_counter() - t1
    total = time.perf_counter() - t0
    print(f"tables             {args.tables}")
    print(f"rows               {args.rows:,}")
    print(f"executemany+commit {written:7.1f} s  → {args.rows / written:>9,.0f} rows/s (the floor)")
    print(f"with building rows {total:7.1f} s  → {args.rows / total:>9,.0f} rows/s")


if __name__ == "__main__":
    from xinyong.wiring import wire

    wire()  # the start-up wiring every entry point does (core.hooks)
    main()
