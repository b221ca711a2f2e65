"""Benchmark: what the exchange feed costs a large upload, and how fast the feed is exported.

    .venv/bin/python bench/exchange.py [--rows 50000]

Imports the same N-row penalty file (the generator of ``bench/ingest.py``) into two fresh SQLite databases with
``ingest.service.ingest_file``: once without the feed's producers (``core.hooks`` listeners emptied) and once wired
as in production (every accepted row a feed message, written set-based in the same transaction). Prints both
times and the difference per row, then measures the feed's way out: rendering the national rows
(``exchange.render``, 2,000 messages at a time), the push to an in-process HTTP receiver (the tests' fake
provincial receiver, batches of 500, HMAC-signed, receipts committed) and the export (CSV, one file per kind and
day, with the manifest), each in messages/s. ``--no-plain`` skips the import without the feed; ``--db postgresql://…/xinyong_bench_x`` runs on PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import common  # bench/common.py (this folder is on sys.path)

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE))


def run_import(name: str, path: Path, *, feed: bool, db_url: str | None = None) -> tuple[float, int, str]:
    from ingest_validate import authorities
    from xinyong.auth import service as auth
    from xinyong.auth.roles import system_principal
    from xinyong.catalog.service import seed_catalog
    from xinyong.core import hooks
    from xinyong.core.db import get_database
    from xinyong.core.migrate import upgrade
    from xinyong.identifiers import uscc
    from xinyong.ingest.service import ingest_file

    url = common.fresh_database(db_url, default_name=name)
    upgrade(url)
    db = get_database(url)
    actor = system_principal("bench")
    with db.sessionmaker() as session, session.begin():
        seed_catalog(session, actor=actor)
        dept = auth.create_department(
            session,
            actor=actor,
            code="scjgj",
            name="福州市市场监督管理局",
            uscc=uscc.make(authority="1", category="1", region="350100", org_body="00310001"),
        )
        dept_id = dept.id
        for auth_name, code, _ in authorities():
            auth.add_authority(session, actor=actor, ref=dept_id, uscc=code, name=auth_name, reason="基准测试")
    saved = hooks.audit_listeners[:], hooks.batch_listeners[:]
    if not feed:
        hooks.audit_listeners.clear()
        hooks.batch_listeners.clear()
    try:
        t0 = time.perf_counter()
        with db.sessionmaker() as session, session.begin():
            summary = ingest_file(session, actor=actor, department_id=dept_id, path=path, kind="penalty")
        elapsed = time.perf_counter() - t0
    finally:
        hooks.audit_listeners[:], hooks.batch_listeners[:] = saved
    return elapsed, summary["accepted"], url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--no-plain", action="store_true", help="skip the import without the feed")
    parser.add_argument(
        "--db",
        default=None,
        help="PostgreSQL URL of a database named xinyong_bench… (dropped and created; the "
        "import without the feed uses …_plain); default: SQLite files in bench/out",
    )
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    os.environ.setdefault("XINYONG_SECRET_KEY", "bench-secret-key-not-for-production")
    os.environ["XINYONG_DATA_DIR"] = str(OUT)
    from ingest import write_file

    subjects = max(1, args.rows // 5)
    path = OUT / f"penalties-{args.rows}-s{subjects}-e0.02.csv"
    if not path.exists():
        write_file(path, args.rows, 0.02, subjects)

    plain = None
    if not args.no_plain:
        plain_url = f"{args.db}_plain" if args.db else None
        plain, accepted, _ = run_import("bench-exchange-plain.db", path, feed=False, db_url=plain_url)
    wired, accepted, url = run_import("bench-exchange-feed.db", path, feed=True, db_url=args.db)

    from xinyong.core.db import get_database
    from xinyong.exchange import export, feed, push, render

    sys.path.insert(0, str(HERE.parent))  # the tests' fake provincial receiver
    from tests.exchange.receiver import SECRET, TOKEN, FakeProvince

    db = get_database(url)
    with db.sessionmaker() as session:
        messages = feed.count(session)
        t0 = time.perf_counter()
        after = 0
        while batch := feed.messages_after(session, after, limit=2000):
            render.render_messages(session, batch)
            after = batch[-1].seq
        rendered = time.perf_counter() - t0
    with FakeProvince() as fake:
        settings = push.ExchangeSettings(receiver_url=fake.url, token=TOKEN, hmac_secret=SECRET, batch_size=500)
        t0 = time.perf_counter()
        result = push.push_once(db, settings=settings)
        pushed = time.perf_counter() - t0
    assert result["ok"] and result["sent"] == messages, result
    with db.sessionmaker() as session:
        t0 = time.perf_counter()
        manifest = export.export(session, out_dir=OUT / "exchange-export", since_seq=1, fmt="csv")
        exported = time.perf_counter() - t0
    print(f"rows accepted       {accepted:,}; feed messages {messages:,}")
    if plain is not None:
        print(f"import, no feed     {plain:7.1f} s  → {accepted / plain:>9,.0f} rows/s")
    print(f"import, with feed   {wired:7.1f} s  → {accepted / wired:>9,.0f} rows/s")
    if plain is not None:
        print(
            f"feed cost           {(wired - plain) / accepted * 1e6:7.1f} µs per row "
            f"({(wired / plain - 1) * 100:+.0f} %)"
        )
    print(f"render              {rendered:7.1f} s  → {messages / rendered:>9,.0f} messages/s")
    print(f"push (HTTP, 500)    {pushed:7.1f} s  → {messages / pushed:>9,.0f} messages/s")
    print(f"export (CSV)        {exported:7.1f} s  → {manifest['count'] / exported:>9,.0f} messages/s")


if __name__ == "__main__":
    from xinyong.wiring import wire

    wire()  # the start-up wiring every entry point does (core.hooks)
    main()
