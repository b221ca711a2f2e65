"""Benchmark: what scheduled audit anchoring and verification cost on a long audit log.

    .venv/bin/python bench/audit.py [--events 1000000] [--new 1000] [--anchors 105120] [--db URL] [--reuse]

Builds a database with N audit events (a valid chain with realistic snapshots, hashed here and written with
``core.bulk.insert_rows``; a fresh SQLite file in bench/out by default, or ``--db postgresql+psycopg://…/<name>``,
whose name must start with ``xinyong_bench``, dropped and created). Then it times, in-process and as the CLI an
operator's cron runs (a new process each time, imports included):
- the first anchor (no previous anchor: the whole chain is verified once);
- an anchor after ``--new`` more events (five busy minutes), verifying from the previous anchor only;
- an anchor with nothing new (a quiet night: still a fresh, signed anchor);
- the full ``audit verify`` of the chain, with an anchors file of ``--anchors`` lines (a year of anchors every five
  minutes is 105,120), ``audit verify --anchors-only`` (the anchors and the window, no chain), and the newest anchor
  read from the end of that file;
and prints the figures and the peak RSS of this process.

``--reuse`` keeps a database built by an earlier run with the same ``--events``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import subprocess
import sys
import time

import common  # bench/common.py (this folder is on sys.path)

BATCH = 50_000


def build(url: str, n: int) -> None:
    from xinyong.core import bulk
    from xinyong.core.audit import GENESIS_HASH, AuditChainHead, AuditEvent, event_hash
    from xinyong.core.db import Database
    from xinyong.models import Base

    db = Database(url)
    Base.metadata.create_all(db.engine)
    base = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    prev = GENESIS_HASH
    t0 = time.perf_counter()
    with db.session() as session:
        for start in range(1, n + 1, BATCH):
            seqs = range(start, min(start + BATCH, n + 1))
            ids = bulk.allocate_ids(session, AuditEvent.__table__, len(seqs))
            rows = []
            for id_, seq in zip(ids, seqs, strict=True):
                at = base + dt.timedelta(milliseconds=seq * 37)
                ev = {
                    "seq": seq,
                    "at": at,
                    "actor": f"user:{seq % 97}:操作员{seq % 97}",
                    "action": "record.update",
                    "entity_type": "record",
                    "entity_id": str(seq * 7),
                    "reason": f"第 {seq} 次更正：处罚金额录入错误",
                    "before": {"amount": seq % 5000, "status": "public", "decided_on": "2025-03-01"},
                    "after": {"amount": seq % 5000 + 100, "status": "public", "decided_on": "2025-03-01"},
                }
                ev["prev_hash"] = prev
                ev["hash"] = prev = event_hash(
                    **{
                        k: ev[k]
                        for k in (
                            "prev_hash",
                            "seq",
                            "at",
                            "actor",
                            "action",
                            "entity_type",
                            "entity_id",
                            "reason",
                            "before",
                            "after",
                        )
                    }
                )
                rows.append({"id": id_, **ev})
            bulk.insert_rows(session, AuditEvent.__table__, rows)
        session.add(AuditChainHead(id=1, last_event_id=ids[-1], last_hash=prev, count=n))
    db.dispose()
    print(f"built {n:,} audit events in {time.perf_counter() - t0:.1f} s")


def cli(url: str, *args: str) -> tuple[float, dict]:
    """Run ``xinyong --db URL audit ARGS --json`` in a new process: wall seconds and its JSON."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", "from xinyong.cli import main; main()", "--db", url, "audit", *args, "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    took = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise SystemExit(f"audit {' '.join(args)} failed ({proc.returncode}): {proc.stdout}{proc.stderr}")
    return took, json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--new", type=int, default=1000, help="events written between two anchors")
    parser.add_argument("--anchors", type=int, default=105_120, help="lines of the anchors file for verify")
    parser.add_argument("--db", default=None)
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args()

    os.environ.setdefault("XINYONG_SECRET_KEY", "bench-secret-key-not-for-production")
    name = f"bench-audit-{args.events}.db"
    url = args.db or f"sqlite:///{common.OUT / name}"
    if not args.reuse or (not args.db and not (common.OUT / name).exists()):
        url = common.fresh_database(args.db, default_name=name)
        build(url, args.events)
    os.environ["XINYONG_DATABASE_URL"] = url

    from sqlalchemy import func, select

    from xinyong.core import audit
    from xinyong.core.db import Database

    db = Database(url)
    with db.session() as session:
        total = session.scalar(select(func.count()).select_from(audit.AuditEvent))
    print(f"database: {db.dialect}, {total:,} audit events")
    anchors_file = common.OUT / "bench-audit-anchors.jsonl"
    anchors_file.unlink(missing_ok=True)

    def timed(label: str, fn):  # noqa: ANN001, ANN202
        t0 = time.perf_counter()
        result = fn()
        print(f"{label:<62} {time.perf_counter() - t0:8.3f} s")
        return result

    with db.session() as session:
        first = timed("anchor, first (whole chain verified), in-process", lambda: audit.anchor(session))
    assert first.ok, first.chain.problem
    audit.append_anchor(anchors_file, first.anchor)

    with db.session() as session:
        for i in range(args.new):
            audit.record(
                session,
                actor="system:bench",
                action="bench.write",
                entity_type="bench",
                entity_id=i,
                reason="五分钟内的业务",
                before={"n": i},
                after={"n": i + 1},
            )
    with db.session() as session:
        inc = timed(
            f"anchor after {args.new:,} new events (from the previous), in-process",
            lambda: audit.anchor(session, previous=audit.last_anchor_in_file(anchors_file)),
        )
    assert inc.ok and inc.chain.checked == args.new + 1, inc.to_dict()
    audit.append_anchor(anchors_file, inc.anchor)
    with db.session() as session:
        quiet = timed(
            "anchor with nothing new, in-process",
            lambda: audit.anchor(session, previous=audit.last_anchor_in_file(anchors_file)),
        )
    assert quiet.ok and quiet.chain.checked == 1

    took, out = cli(url, "anchor", "--out", str(anchors_file))
    assert out["ok"] and out["verified_events"] == 1, out
    print(f"{'xinyong audit anchor --out FILE (new process, cron)':<62} {took:8.3f} s")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import xinyong.cli"], check=True)
    print(f"{'  of which starting Python and importing xinyong.cli':<62} {time.perf_counter() - t0:8.3f} s")

    # A year of anchors: the lines name existing events with their real hashes (signed as anchoring would).
    rng = random.Random(7)
    with db.session() as session:
        sample = sorted(rng.sample(range(1, total + 1), min(2000, total)))
        hashes = dict(
            session.execute(
                select(audit.AuditEvent.seq, audit.AuditEvent.hash).where(audit.AuditEvent.seq.in_(sample))
            ).all()
        )
    with anchors_file.open("w", encoding="utf-8") as fh:
        for i in range(args.anchors - 1):
            seq = sample[min(i * len(sample) // args.anchors, len(sample) - 1)]
            fh.write(json.dumps(audit.sign_head(seq, hashes[seq]), ensure_ascii=False) + "\n")
    with db.session() as session:
        audit.append_anchor(anchors_file, audit.anchor(session).anchor)
    size = anchors_file.stat().st_size
    newest = timed(
        f"newest anchor from the end of a {args.anchors:,}-line file ({size / 1e6:.1f} MB)",
        lambda: audit.last_anchor_in_file(anchors_file),
    )
    assert newest is not None and newest["seq"] == total + args.new

    with db.session() as session:
        report = timed("verify_chain (whole chain), in-process", lambda: audit.verify_chain(session))
    assert report.ok, report.problem
    with db.session() as session:
        ar = timed(
            f"verify_anchors ({args.anchors:,} anchors), in-process",
            lambda: audit.verify_anchors(
                session, audit.read_anchor_file(anchors_file), max_age=dt.timedelta(minutes=15)
            ),
        )
    assert ar.ok and not ar.stale, ar.to_dict()
    took, out = cli(url, "verify", "--anchors", str(anchors_file), "--anchors-only")
    assert out["ok"], out
    print(f"{'xinyong audit verify --anchors FILE --anchors-only (new process)':<62} {took:8.3f} s")
    took, out = cli(url, "verify", "--anchors", str(anchors_file))
    assert out["ok"], out
    print(f"{'xinyong audit verify --anchors FILE (new process)':<62} {took:8.3f} s")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {rss:.0f} MiB")


if __name__ == "__main__":
    from xinyong.wiring import wire

    wire()  # the start-up wiring every entry point does (core.hooks)
    main()
