"""Benchmark: what the exchange feed costs a large upload, and how fast the feed is exported.

    .venv/bin/python bench/exchange.py [--rows 50000]

Imports the same N-row penalty file (the generator of ``bench/ingest.py``) into two fresh SQLite databases with
``ingest.service.ingest_file``: once without the feed's producers (``core.hooks`` listeners emptied) and once wired
as in production (every accepted row a feed message, written set-based in the same transaction). Prints both
times and the difference per row, then measures the feed's way out: rendering the national rows
(``exchange.render``, 2,000 messages at a time), the push to an in-process HTTP receiver (the tests' fake
provincial receiver, batches of 500, HMAC-signed, receipts committed) and the export (CSV, one file per kind and
day, with the manifest), each in messages/s. ``--no-plain`` skips the import without the feed; ``--db postgresql://…/xinyong_bench_x`` runs on PostgreSQL.

    .venv/bin/python bench/exchange.py --export-rows 1000000 [--db URL] [--steps 10000,100000,1000000]

Export at scale: imports a small template file through the ingest (feed wired), then clones its records, versions
and feed messages set-based (``core.bulk.insert_rows``, not the ingest path) up to N messages, spread over 10 days,
and times ``exchange.export`` (CSV) at each step size (``--since`` the last N messages): messages/s and the peak
memory of the export (its own process's high-water RSS, VmHWM); also per CPU second of the exporting process, a
figure the shared machine's load disturbs less than the wall time. Then the push of the last ``--push-rows``
messages (default 100,000) to the fake provincial receiver.
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


def build_feed(url: str, n: int, template: Path) -> None:
    """Clone the template's records (with their first version) and feed messages up to ``n`` messages, set-based."""
    import datetime as dt

    from sqlalchemy import select, update

    from xinyong.core.bulk import allocate_ids, insert_rows
    from xinyong.core.db import get_database, utcnow
    from xinyong.exchange.models import FeedHead, FeedMessage
    from xinyong.records.models import CreditRecord, RecordVersion

    db = get_database(url)
    rec_table, ver_table, feed_table = CreditRecord.__table__, RecordVersion.__table__, FeedMessage.__table__
    with db.session() as session:
        records = [dict(r._mapping) for r in session.execute(select(rec_table).order_by(rec_table.c.id))]
        versions = {
            r.record_id: dict(r._mapping) for r in session.execute(select(ver_table).where(ver_table.c.version_no == 1))
        }
        have = session.scalar(select(FeedHead.last_seq)) or 0
    records = [r for r in records if r["id"] in versions]
    days = 10
    start = utcnow() - dt.timedelta(days=days)
    chunk = 50_000
    seq = have
    t0 = time.perf_counter()
    while seq < n:
        m = min(chunk, n - seq)
        with db.session() as session:
            rids = allocate_ids(session, rec_table, m)
            vids = allocate_ids(session, ver_table, m)
            recs, vers, msgs = [], [], []
            for i in range(m):
                seq += 1
                t = records[seq % len(records)]
                rid, vid = rids[i], vids[i]
                rec = dict(t, id=rid, doc_no=f"{t['doc_no']}-{rid}", doc_no_norm=f"{t['doc_no_norm']}-{rid}")
                rec["current_version_id"] = vid
                recs.append(rec)
                vers.append(dict(versions[t["id"]], id=vid, record_id=rid))
                msgs.append(
                    {
                        "seq": seq,
                        "kind": t["kind"],
                        "op": "created",
                        "entity_id": rid,
                        "subject_id": t["subject_id"],
                        "department_id": t["department_id"],
                        "payload": {
                            "version_no": 1,
                            "withdrawn_at": None,
                            "withdrawn_reason": None,
                            "ended_on": None,
                            "reason": None,
                        },
                        "created_at": start + dt.timedelta(days=days * seq / n),
                    }
                )
            insert_rows(session, rec_table, recs)
            insert_rows(session, ver_table, vers)
            insert_rows(session, feed_table, msgs)
            session.execute(update(FeedHead).where(FeedHead.id == 1).values(last_seq=seq))
        print(f"  built {seq:,} messages ({time.perf_counter() - t0:.0f} s)", flush=True)


def export_child(url: str, since_seq: int, out: Path) -> None:
    """One timed export in this (fresh) process: prints its figures as JSON. Peak memory: ``VmHWM`` of
    /proc/self/status, this process's own high-water mark (``ru_maxrss`` survives ``exec`` on Linux, so it would
    report the parent's build)."""
    import json

    from xinyong.core.db import get_database
    from xinyong.exchange import export

    db = get_database(url)
    t0, c0 = time.perf_counter(), time.process_time()
    with db.session(write=False) as session:
        manifest = export.export(session, out_dir=out, since_seq=since_seq, fmt="csv")
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    status = Path("/proc/self/status").read_text()
    rss = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024
    size = sum(f.stat().st_size for f in out.iterdir()) / 2**20
    print(
        json.dumps(
            {
                "count": manifest["count"],
                "files": len(manifest["files"]),
                "seconds": elapsed,
                "cpu_seconds": cpu,
                "rss_mib": rss,
                "size_mib": size,
            }
        )
    )


def export_at_scale(args: argparse.Namespace) -> None:
    import json
    import shutil
    import subprocess

    from ingest import write_file
    from xinyong.core.db import get_database
    from xinyong.exchange import feed

    template = OUT / "penalties-1000-s200-e0.02.csv"
    if not template.exists():
        write_file(template, 1000, 0.02, 200)
    name = f"bench-exchange-export-{args.export_rows}.db"
    db_url = f"{args.db}_export" if args.db else None
    _, _, url = run_import(name, template, feed=True, db_url=db_url)
    build_feed(url, args.export_rows, template)
    db = get_database(url)
    with db.session(write=False) as session:
        last = feed.last_seq(session)
    db.engine.dispose()
    steps = [int(s) for s in args.steps.split(",")] if args.steps else [10_000, 100_000, args.export_rows]
    out = OUT / "exchange-export-scale"
    print(f"messages in the feed {last:,}; backend {url.split(':')[0]}", flush=True)
    for step in [s for s in steps if s <= last]:
        shutil.rmtree(out, ignore_errors=True)
        child = subprocess.run(
            [sys.executable, __file__, "--export-child", url, str(last - step + 1), str(out)],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(child.stdout.strip().splitlines()[-1])
        assert r["count"] == step, r
        print(
            f"export {step:>9,} messages  {r['seconds']:7.1f} s  → {step / r['seconds']:>7,.0f} messages/s "
            f"(CPU {r['cpu_seconds']:6.1f} s → {step / r['cpu_seconds']:>7,.0f}/s)  "
            f"peak RSS of the export process {r['rss_mib']:5.0f} MiB  "
            f"{r['files']} files, {r['size_mib']:,.0f} MiB",
            flush=True,
        )
    shutil.rmtree(out, ignore_errors=True)
    if args.push_rows:
        time_push(url, last, min(args.push_rows, last))


def time_push(url: str, last: int, n: int) -> None:
    """The push of the last ``n`` messages to the tests' fake provincial receiver (real HTTP on 127.0.0.1, in
    this process; batches of 500, HMAC-signed, a receipt and its rejections committed per batch)."""
    from sqlalchemy import delete

    from xinyong.core.db import get_database
    from xinyong.exchange import push
    from xinyong.exchange.models import PushReceipt, PushState

    sys.path.insert(0, str(HERE.parent))  # the tests' fake provincial receiver
    from tests.exchange.receiver import SECRET, TOKEN, FakeProvince

    db = get_database(url)
    with db.session() as session:
        session.execute(delete(PushReceipt))
        session.execute(delete(PushState))
        session.add(PushState(id=1, acked_seq=last - n, sent_seq=last - n, failures=0))
    with FakeProvince(lambda m: "bench_reject" if m["seq"] % 997 == 0 else None) as fake:
        settings = push.ExchangeSettings(receiver_url=fake.url, token=TOKEN, hmac_secret=SECRET, batch_size=500)
        t0, c0 = time.perf_counter(), time.process_time()
        result = push.push_once(db, settings=settings)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert result["ok"] and result["sent"] == n, result
    print(
        f"push   {n:>9,} messages  {elapsed:7.1f} s  → {n / elapsed:>7,.0f} messages/s "
        f"(CPU of pusher and receiver {cpu:6.1f} s → {n / cpu:>7,.0f}/s)  rejected {result['rejected']:,}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--export-rows", type=int, default=0, help="export at scale: N messages (set-based build)")
    parser.add_argument("--steps", default=None, help="export sizes to time, e.g. 10000,100000,1000000")
    parser.add_argument("--push-rows", type=int, default=100_000, help="with --export-rows: push the last N")
    parser.add_argument("--no-plain", action="store_true", help="skip the import without the feed")
    parser.add_argument(
        "--db",
        default=None,
        help="PostgreSQL URL of a database named xinyong_bench… (dropped and created; the "
        "import without the feed uses …_plain); default: SQLite files in bench/out",
    )
    parser.add_argument("--export-child", nargs=3, metavar=("URL", "SINCE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    os.environ.setdefault("XINYONG_SECRET_KEY", "bench-secret-key-not-for-production")
    os.environ["XINYONG_DATA_DIR"] = str(OUT)
    if args.export_child:
        url, since, out = args.export_child
        export_child(url, int(since), Path(out))
        return
    from ingest import write_file

    if args.export_rows:
        export_at_scale(args)
        return
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
