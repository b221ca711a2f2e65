"""The append-only, hash-chained audit log, on every backend: recording, tamper detection, triggers, concurrency,
the CLI and the API's access rule."""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, event, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests.factories import auth_headers, make_token
from xinyong.auth.roles import Role
from xinyong.core import audit, clikit
from xinyong.core.audit import (
    APPEND_ONLY_DDL,
    GENESIS_HASH,
    AuditChainHead,
    AuditEvent,
    verify_chain,
)
from xinyong.core.db import Database, forget_databases
from xinyong.core.settings import reset_settings


def _record(session: Session, n: int, *, start: int = 1) -> list[AuditEvent]:
    """n events with realistic snapshots, committed."""
    events = [
        audit.record(
            session,
            actor="user:1:张三",
            action="department.update",
            entity_type="department",
            entity_id=i,
            reason=f"第 {i} 次修改：更正名称",
            before={"name": f"旧名称{i}", "active": True},
            after={"name": f"新名称{i}", "updated": dt.date(2025, 10, 9), "roles": {Role.ADMIN, Role.BANK}},
        )
        for i in range(start, start + n)
    ]
    session.commit()
    return events


@contextlib.contextmanager
def _bypassing_triggers(session: Session, database: Database) -> Iterator[Connection]:
    """A connection that can change audit_events despite the append-only triggers, as a database owner could.

    The test's own session must not hold a transaction open (PostgreSQL's ALTER TABLE would wait for it, an
    SQLite reader would keep seeing its old snapshot)."""
    session.commit()
    with database.engine.begin() as conn:
        if database.dialect == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER audit_events_no_update")
            conn.exec_driver_sql("DROP TRIGGER audit_events_no_delete")
            yield conn
            for stmt in APPEND_ONLY_DDL["sqlite"]:
                conn.exec_driver_sql(stmt)
        else:
            conn.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
            conn.exec_driver_sql("ALTER TABLE audit_events DISABLE TRIGGER USER")
            yield conn
            conn.exec_driver_sql("ALTER TABLE audit_events ENABLE TRIGGER USER")


def _by_seq(session: Session, seq: int) -> AuditEvent:
    return session.scalars(select(AuditEvent).where(AuditEvent.seq == seq)).one()


# Recording -------------------------------------------------------------------------------------------------------


def test_record_builds_a_verifiable_chain(session: Session) -> None:
    assert verify_chain(session).to_dict() == {"ok": True, "events": 0, "first_bad_id": None, "problem": None}
    events = _record(session, 5)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
    assert len({e.hash for e in events}) == 5
    head = session.get(AuditChainHead, 1)
    assert head is not None and (head.count, head.last_hash, head.last_event_id) == (5, events[-1].hash, events[-1].id)

    report = verify_chain(session)
    assert report.ok and report.events == 5 and report.problem is None

    stored = _by_seq(session, 2)
    assert stored.entity_id == "2"  # entity ids are stored as text
    assert stored.after == {"name": "新名称2", "updated": "2025-10-09", "roles": ["admin", "bank"]}


def test_snapshots_survive_the_database_round_trip(session: Session) -> None:
    """What the hash covers must read back identically on both backends (JSONB normalises numbers)."""
    audit.record(
        session,
        actor="system:cli",
        action="test.values",
        entity_type="test",
        entity_id=None,
        reason=None,
        before={
            "big": 1e16,
            "whole": 3.0,
            "negative_zero": -0.0,
            "tiny": 1.5e-9,
            "fraction": 0.1,
            "amount": decimal.Decimal("2000.50"),
            "n": 2**62,
            "nested": [{"k": (1, 2)}, None, True],
        },
        after={"at": dt.datetime(2025, 10, 9, 8, 30, tzinfo=dt.UTC), 7: "int key", "nan": float("nan")},
    )
    session.commit()
    session.expunge_all()
    report = verify_chain(session)
    assert report.ok, report.problem
    stored = _by_seq(session, 1)
    assert stored.before["amount"] == "2000.50"
    assert stored.before["big"] == 10**16
    assert stored.after["7"] == "int key"


def test_events_for_is_newest_first_and_filters(session: Session) -> None:
    _record(session, 3)
    audit.record(session, actor="system:cli", action="user.create", entity_type="user", entity_id=9)
    session.commit()
    assert [e.seq for e in audit.events_for(session)] == [4, 3, 2, 1]
    assert [e.seq for e in audit.events_for(session, entity_type="department", entity_id=2)] == [2]
    assert [e.seq for e in audit.events_for(session, actor="system:cli")] == [4]
    assert [e.seq for e in audit.events_for(session, limit=2, before_seq=4)] == [3, 2]


# The append-only triggers ----------------------------------------------------------------------------------------


def test_triggers_refuse_update_and_delete(session: Session, database: Database) -> None:
    _record(session, 3)
    for stmt in (
        "UPDATE audit_events SET reason = 'edited' WHERE seq = 2",
        "DELETE FROM audit_events WHERE seq = 3",
        "DELETE FROM audit_events",
    ):
        with pytest.raises(DBAPIError, match="append-only"), database.engine.begin() as conn:
            conn.execute(text(stmt))
    with pytest.raises(DBAPIError, match="append-only"):  # through the ORM as well
        _by_seq(session, 1).reason = "edited"
        session.flush()
    session.rollback()
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == 3
    assert verify_chain(session).ok


# Tamper detection ------------------------------------------------------------------------------------------------


def test_verify_detects_an_edited_event(session: Session, database: Database) -> None:
    events = _record(session, 5)  # the session keeps these objects: verification must read the database
    with _bypassing_triggers(session, database) as conn:
        conn.execute(text("UPDATE audit_events SET reason = '无' WHERE seq = 3"))
    report = verify_chain(session)
    assert not report.ok
    assert report.first_bad_id == events[2].id
    assert report.events == 2
    assert "已被修改" in report.problem


def test_verify_detects_an_edit_with_a_recomputed_hash(session: Session, database: Database) -> None:
    events = _record(session, 5)
    forged = dict(
        prev_hash=events[2].prev_hash,
        seq=3,
        at=events[2].at,
        actor=events[2].actor,
        action=events[2].action,
        entity_type=events[2].entity_type,
        entity_id=events[2].entity_id,
        reason="伪造的原因",
        before=events[2].before,
        after=events[2].after,
    )
    with _bypassing_triggers(session, database) as conn:
        conn.execute(
            text("UPDATE audit_events SET reason = :r, hash = :h WHERE seq = 3"),
            {"r": "伪造的原因", "h": audit.event_hash(**forged)},
        )
    report = verify_chain(session)
    assert not report.ok
    assert report.first_bad_id == events[3].id  # the next event no longer links to it
    assert "前序哈希" in report.problem


def test_verify_detects_a_deleted_middle_event(session: Session, database: Database) -> None:
    events = _record(session, 5)
    with _bypassing_triggers(session, database) as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = 3"))
    report = verify_chain(session)
    assert not report.ok
    assert report.first_bad_id == events[3].id
    assert report.events == 2
    assert "缺失" in report.problem


def test_verify_detects_a_deleted_tail_event(session: Session, database: Database) -> None:
    events = _record(session, 5)
    with _bypassing_triggers(session, database) as conn:
        # the head's foreign key points at the last event: the intruder moves it back, leaves the rest
        conn.execute(text("UPDATE audit_chain_head SET last_event_id = :id"), {"id": events[3].id})
        conn.execute(text("DELETE FROM audit_events WHERE seq = 5"))
    report = verify_chain(session)
    assert not report.ok
    assert report.first_bad_id is None
    assert report.events == 4
    assert "链头" in report.problem


@pytest.mark.parametrize("change", ["last_hash = 'ffff'", "count = count + 1", "count = count - 1"])
def test_verify_detects_a_tampered_chain_head(session: Session, database: Database, change: str) -> None:
    _record(session, 5)
    with _bypassing_triggers(session, database) as conn:
        conn.execute(text(f"UPDATE audit_chain_head SET {change}"))
    report = verify_chain(session)
    assert not report.ok
    assert report.first_bad_id is None


def test_verify_detects_a_head_rolled_back_to_an_earlier_event(session: Session, database: Database) -> None:
    events = _record(session, 5)
    with _bypassing_triggers(session, database) as conn:
        conn.execute(
            text("UPDATE audit_chain_head SET count = 4, last_hash = :h, last_event_id = :id"),
            {"h": events[3].hash, "id": events[3].id},
        )
    assert not verify_chain(session).ok


def test_verify_detects_a_missing_chain_head(session: Session, database: Database) -> None:
    _record(session, 2)
    with _bypassing_triggers(session, database) as conn:
        conn.execute(text("DELETE FROM audit_chain_head"))
    assert not verify_chain(session).ok


# Concurrency -----------------------------------------------------------------------------------------------------


def test_concurrent_appends_do_not_fork_the_chain(database: Database) -> None:
    """Two writers with their own sessions, starting on an empty log (so they also race to create the head)."""
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            barrier.wait()
            for i in range(50):
                with database.session() as s:
                    audit.record(s, actor=f"thread:{name}", action="test.concurrent", entity_type="test", entity_id=i)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a writer is stuck"
    assert not errors, errors
    with database.session() as s:
        report = verify_chain(s)
        assert report.ok, report.problem
        assert report.events == 100
        rows = s.execute(select(AuditEvent.seq, AuditEvent.prev_hash, AuditEvent.actor)).all()
        assert sorted(r.seq for r in rows) == list(range(1, 101))
        assert len({r.prev_hash for r in rows}) == 100  # no two events continue the same predecessor
        assert sum(r.actor == "thread:a" for r in rows) == 50
        assert s.get(AuditChainHead, 1).count == 100


def test_verify_while_another_writer_appends(database: Database) -> None:
    """An append that commits while verification is reading is not mistaken for a cut-off tail."""
    with database.sessionmaker() as s:
        _record(s, 3)
    armed = True

    def append_now(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        nonlocal armed
        if armed and "audit_chain_head" in statement:
            armed = False
            with database.session() as other:
                audit.record(other, actor="system:other", action="test.race", entity_type="test")

    event.listen(database.engine, "before_cursor_execute", append_now)
    try:
        with database.session(write=False) as s:
            report = verify_chain(s)
    finally:
        event.remove(database.engine, "before_cursor_execute", append_now)
    assert not armed  # the concurrent append did happen during verification
    assert report.ok, report.problem
    assert report.events in (3, 4)
    with database.session(write=False) as s:
        assert verify_chain(s).to_dict()["events"] == 4


# CLI -------------------------------------------------------------------------------------------------------------


@pytest.fixture
def cli(database: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    from xinyong.cli import app

    # `--db` writes the URL into os.environ and clikit's state: make both revert after the test.
    monkeypatch.setenv("XINYONG_DATABASE_URL", database.url)
    monkeypatch.setattr(clikit.state, "db_url", None)
    runner = CliRunner()
    runner.app = app  # type: ignore[attr-defined]
    yield runner
    forget_databases()
    reset_settings()


def _run(cli: CliRunner, database: Database, *args: str) -> tuple[int, Any]:
    result = cli.invoke(cli.app, ["--db", database.url, "audit", *args, "--json"])  # type: ignore[attr-defined]
    return result.exit_code, json.loads(result.stdout)


def test_cli_verify_exit_codes(cli: CliRunner, database: Database, session: Session) -> None:
    _record(session, 4)
    code, body = _run(cli, database, "verify")
    assert code == 0
    assert body == {"ok": True, "events": 4, "first_bad_id": None, "problem": None}

    with _bypassing_triggers(session, database) as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'user:2:李四' WHERE seq = 2"))
    code, body = _run(cli, database, "verify")
    assert code == 1
    assert body["ok"] is False and body["events"] == 1 and "已被修改" in body["problem"]


def test_anchors_detect_an_emptied_or_rebuilt_chain(session: Session, database: Database) -> None:
    """Emptying both tables (or cutting the tail and fixing the head) leaves a chain that verifies on its own;
    an anchor kept outside the database still catches it. Anchors cannot be forged without the master key."""
    _record(session, 3)
    early = audit.anchor(session).anchor
    _record(session, 2, start=3)
    late = audit.anchor(session).anchor
    assert (early["seq"], late["seq"]) == (3, 5)
    assert audit.verify_anchors(session, [early, late]).ok

    forged = {**late, "seq": 2}
    report = audit.verify_anchors(session, [forged, {"seq": "x"}])
    assert not report.ok and [p["anchor"] for p in report.problems] == [1, 2]
    assert "签名无效" in report.problems[0]["problem"] and "格式" in report.problems[1]["problem"]

    with _bypassing_triggers(session, database) as conn:  # the intruder empties the log
        conn.execute(text("DELETE FROM audit_chain_head"))
        conn.execute(text("DELETE FROM audit_events"))
    assert verify_chain(session).ok  # an empty chain is a valid chain …
    report = audit.verify_anchors(session, [early, late])
    assert not report.ok and {p["seq"] for p in report.problems} == {3, 5}  # … but not the one anchored
    assert all("截断或清空" in p["problem"] for p in report.problems)

    _record(session, 3)  # and rebuilds three events of their own
    report = audit.verify_anchors(session, [early, late])
    assert [p["seq"] for p in report.problems] == [3, 5]
    assert "重写" in report.problems[0]["problem"] and "截断" in report.problems[1]["problem"]


def test_cli_anchor_and_verify_with_anchors(cli: CliRunner, database: Database, session: Session, tmp_path) -> None:
    _record(session, 2)
    path = tmp_path / "anchors" / "audit.jsonl"
    code, a = _run(cli, database, "anchor", "--out", str(path))
    assert code == 0 and a["seq"] == 2 and len(a["mac"]) == 64
    code, body = _run(cli, database, "verify", "--anchors", str(path))
    assert code == 0 and body["ok"] and body["anchors"]["ok"] and body["anchors"]["anchors"] == 1
    assert body["anchors"]["problems"] == [] and body["anchors"]["events_after_newest"] == 0
    with _bypassing_triggers(session, database) as conn:
        conn.execute(text("DELETE FROM audit_chain_head"))
        conn.execute(text("DELETE FROM audit_events"))
    code, body = _run(cli, database, "verify", "--anchors", str(path))
    assert code == 1 and body["problem"] is None and body["anchors"]["problems"][0]["seq"] == 2
    code, body = _run(cli, database, "verify", "--anchors", str(tmp_path / "missing.jsonl"))
    assert code != 0 and body["error"]["code"] == "file_not_found"


def test_cli_log(cli: CliRunner, database: Database, session: Session) -> None:
    _record(session, 3)
    code, rows = _run(cli, database, "log")
    assert code == 0
    assert [r["seq"] for r in rows] == [3, 2, 1]
    assert rows[0]["actor"] == "user:1:张三" and rows[0]["reason"] == "第 3 次修改：更正名称"
    assert rows[0]["before"] == {"name": "旧名称3", "active": True}
    assert dt.datetime.fromisoformat(rows[0]["at"]).tzinfo is not None

    code, rows = _run(cli, database, "log", "--type", "department", "--id", "2")
    assert code == 0 and [r["seq"] for r in rows] == [2]
    code, rows = _run(cli, database, "log", "--limit", "1")
    assert code == 0 and [r["seq"] for r in rows] == [3]


# Anchors: incremental anchoring, the unanchored window, the anchors file, the loop ------------------------------


def _cut_tail(conn: Connection, events: list[AuditEvent], keep: int) -> None:
    """The attack anchors cannot see: delete every event after ``keep`` and fix the head to match."""
    last = events[keep - 1]
    conn.execute(
        text("UPDATE audit_chain_head SET count = :n, last_hash = :h, last_event_id = :id"),
        {"n": keep, "h": last.hash, "id": last.id},
    )
    conn.execute(text("DELETE FROM audit_events WHERE seq > :n"), {"n": keep})


def test_anchor_rehashes_only_the_events_after_the_previous_anchor(session: Session) -> None:
    _record(session, 6)
    first = audit.anchor(session)
    assert first.ok and first.verified_from == 0 and first.chain.checked == 6
    assert (first.anchor["seq"], first.anchor["hash"]) == (6, _by_seq(session, 6).hash)
    _record(session, 3, start=7)
    second = audit.anchor(session, previous=first.anchor)
    assert second.ok and second.verified_from == 6
    assert second.chain.checked == 4  # the anchored event itself and the three after it
    assert second.anchor["seq"] == 9 and second.anchor["hash"] == _by_seq(session, 9).hash
    again = audit.anchor(session, previous=second.anchor)  # nothing new: still a fresh, signed anchor
    assert again.ok and again.chain.checked == 1 and again.anchor["seq"] == 9
    assert again.anchor["at"] >= second.anchor["at"]

    forged = {**second.anchor, "seq": 3}  # a previous anchor that is not ours is not trusted: start from genesis
    assert audit.anchor(session, previous=forged).verified_from == 0


def test_anchor_refuses_to_sign_a_chain_broken_after_the_previous_anchor(session: Session, database: Database) -> None:
    events = _record(session, 6)
    previous = audit.anchor(session).anchor
    _record(session, 2, start=7)
    with _bypassing_triggers(session, database) as conn:
        conn.execute(text("UPDATE audit_events SET reason = '无' WHERE seq = 7"))
    refused = audit.anchor(session, previous=previous)
    assert not refused.ok and refused.anchor is None
    assert "已被修改" in refused.chain.problem and refused.to_dict()["ok"] is False

    with _bypassing_triggers(session, database) as conn:  # cut back below the previous anchor, head fixed
        _cut_tail(conn, events, 4)
    refused = audit.anchor(session, previous=previous)
    assert not refused.ok and "第 6 条事件不存在" in refused.chain.problem


def test_deletion_after_the_newest_anchor_is_reported_as_the_unanchored_window(
    session: Session, database: Database
) -> None:
    """Events after the newest anchor can be deleted (head fixed) without any check failing: what verification
    can do is say how many events are unanchored and since when, so that the window is seen and kept short."""
    _record(session, 5)
    newest = audit.anchor(session).anchor
    events = [_by_seq(session, s) for s in range(1, 6)] + _record(session, 4, start=6)
    at = dt.datetime.fromisoformat(newest["at"])
    report = audit.verify_anchors(
        session, [newest], max_age=dt.timedelta(minutes=15), now=at + dt.timedelta(minutes=10)
    )
    assert report.ok and not report.stale
    assert report.events_after_newest == 4 and report.newest == {"seq": 5, "at": newest["at"]}
    assert report.newest_age_seconds == 600 and report.max_age_seconds == 900

    with _bypassing_triggers(session, database) as conn:
        _cut_tail(conn, events, 7)  # events 8 and 9 are gone
    assert verify_chain(session).ok
    report = audit.verify_anchors(
        session, [newest], max_age=dt.timedelta(minutes=15), now=at + dt.timedelta(minutes=20)
    )
    assert report.ok and report.problems == []  # undetectable …
    assert report.events_after_newest == 2  # … but reported as the window, …
    assert report.stale and report.newest_age_seconds == 1200  # … and too old a window fails the check
    assert not audit.verify_anchors(session, [newest], max_age=None, now=at + dt.timedelta(days=9)).stale


def test_no_valid_anchor_is_a_stale_window(session: Session) -> None:
    _record(session, 3)
    report = audit.verify_anchors(session, [], max_age=dt.timedelta(minutes=15))
    assert report.ok and report.stale and report.newest is None and report.events_after_newest == 3
    assert not audit.verify_anchors(session, [], max_age=None).stale
    forged = {**audit.anchor(session).anchor, "mac": "0" * 64}
    report = audit.verify_anchors(session, [forged], max_age=dt.timedelta(minutes=15))
    assert not report.ok and report.stale and report.newest is None


def test_the_newest_anchor_is_the_latest_signed_one_whatever_its_place(session: Session) -> None:
    _record(session, 2)
    early = audit.anchor(session).anchor
    _record(session, 2, start=3)
    late = audit.anchor(session).anchor
    report = audit.verify_anchors(session, [late, early])
    assert report.ok and report.newest["seq"] == 4 and report.events_after_newest == 0


@pytest.mark.parametrize("attack", ["delete_middle", "delete_and_relink", "cut_back_to_first_anchor"])
def test_deleting_between_two_anchors_is_detected(
    cli: CliRunner, database: Database, session: Session, tmp_path, attack: str
) -> None:
    path = tmp_path / "anchors.jsonl"
    _record(session, 4)
    assert _run(cli, database, "anchor", "--out", str(path))[0] == 0
    events = [_by_seq(session, s) for s in range(1, 5)] + _record(session, 4, start=5)
    assert _run(cli, database, "anchor", "--out", str(path))[0] == 0
    assert [a["seq"] for a in audit.read_anchor_file(path)] == [4, 8]
    code, body = _run(cli, database, "verify", "--anchors", str(path))
    assert code == 0 and body["ok"] and body["anchors"]["events_after_newest"] == 0

    with _bypassing_triggers(session, database) as conn:
        if attack == "delete_middle":
            conn.execute(text("DELETE FROM audit_events WHERE seq = 6"))
        elif attack == "delete_and_relink":
            # events 5 and 6 removed; 7 and 8 renumbered and re-hashed onto event 4, the head moved to match
            conn.execute(text("DELETE FROM audit_events WHERE seq IN (5, 6)"))
            prev = events[3].hash
            for new_seq, ev in ((5, events[6]), (6, events[7])):
                h = audit.event_hash(
                    prev_hash=prev,
                    seq=new_seq,
                    at=ev.at,
                    actor=ev.actor,
                    action=ev.action,
                    entity_type=ev.entity_type,
                    entity_id=ev.entity_id,
                    reason=ev.reason,
                    before=ev.before,
                    after=ev.after,
                )
                conn.execute(
                    text("UPDATE audit_events SET seq = :s, prev_hash = :p, hash = :h WHERE id = :id"),
                    {"s": new_seq, "p": prev, "h": h, "id": ev.id},
                )
                prev = h
            conn.execute(
                text("UPDATE audit_chain_head SET count = 6, last_hash = :h, last_event_id = :id"),
                {"h": prev, "id": events[7].id},
            )
        else:
            _cut_tail(conn, events, 4)
    code, body = _run(cli, database, "verify", "--anchors", str(path))
    assert code == 1 and body["ok"] is False
    if attack == "delete_middle":
        assert "缺失" in body["problem"]
    else:
        assert body["problem"] is None  # the chain verifies on its own: only the second anchor catches it
        assert [p["seq"] for p in body["anchors"]["problems"]] == [8]
    code, body = _run(cli, database, "anchor", "--out", str(path))
    if attack == "delete_middle":
        # anchoring re-checks only what follows the newest anchor; the hole before it is the full check's to find
        assert code == 0 and body["verified_from"] == 8
        assert _run(cli, database, "verify", "--anchors", str(path))[0] == 1
    else:  # no new anchor vouches for the shortened chain
        assert code == 1 and body["ok"] is False and body["verified_from"] == 8 and "seq" not in body
        assert len(audit.read_anchor_file(path)) == 2


def test_cli_verify_reports_the_window_and_fails_when_the_newest_anchor_is_too_old(
    cli: CliRunner, database: Database, session: Session, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "anchors.jsonl"
    _record(session, 3)
    real_now = audit.utcnow
    monkeypatch.setattr(audit, "utcnow", lambda: real_now() - dt.timedelta(minutes=20))
    code, a = _run(cli, database, "anchor", "--out", str(path))
    monkeypatch.setattr(audit, "utcnow", real_now)
    assert code == 0 and a["seq"] == 3
    _record(session, 2, start=4)

    code, body = _run(cli, database, "verify", "--anchors", str(path))
    assert code == 1 and body["ok"] is False and body["problem"] is None
    w = body["anchors"]
    assert w["ok"] and w["problems"] == [] and w["stale"]  # not evidence of tampering: the anchoring stopped
    assert w["events_after_newest"] == 2 and w["newest"]["seq"] == 3
    assert 1195 <= w["newest_age_seconds"] <= 1300 and w["max_age_seconds"] == 900

    code, body = _run(cli, database, "verify", "--anchors", str(path), "--max-age", "3600")
    assert code == 0 and not body["anchors"]["stale"]
    code, body = _run(cli, database, "verify", "--anchors", str(path), "--anchors-only")  # for frequent monitoring
    assert code == 1 and body["chain_checked"] is False and "events" not in body and body["anchors"]["stale"]
    code, body = _run(cli, database, "verify", "--anchors-only")
    assert code == 2 and body["error"]["code"] == "anchors_required"
    monkeypatch.setenv("XINYONG_AUDIT_ANCHOR_MAX_AGE", "0")  # 0: no limit
    reset_settings()
    code, body = _run(cli, database, "verify", "--anchors", str(path))
    assert code == 0 and body["anchors"]["max_age_seconds"] is None

    monkeypatch.setenv("XINYONG_AUDIT_ANCHOR_MAX_AGE", "60")
    monkeypatch.setenv("XINYONG_AUDIT_ANCHORS_FILE", str(path))  # the file from the settings, no --anchors
    reset_settings()
    code, body = _run(cli, database, "verify")
    assert code == 1 and body["anchors"]["stale"] and body["anchors"]["max_age_seconds"] == 60
    result = cli.invoke(cli.app, ["--db", database.url, "audit", "verify"])  # type: ignore[attr-defined]
    assert result.exit_code == 1
    shown = result.stdout.replace("\n", "")  # Rich wraps long lines
    assert "锚点过旧" in shown and "其后 2 条事件尚未锚定" in shown


def test_cli_anchor_appends_newest_last_and_verifies_incrementally(
    cli: CliRunner, database: Database, session: Session, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "audit-anchors.jsonl"
    monkeypatch.setenv("XINYONG_AUDIT_ANCHORS_FILE", str(path))  # --out defaults to the setting
    reset_settings()
    _record(session, 5)
    code, first = _run(cli, database, "anchor")
    assert code == 0 and first["ok"] and first["verified_from"] == 0 and first["verified_events"] == 5
    _record(session, 2, start=6)
    code, second = _run(cli, database, "anchor")
    assert code == 0 and second["verified_from"] == 5 and second["verified_events"] == 3 and second["seq"] == 7
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(x) for x in lines] == [{k: d[k] for k in ("seq", "hash", "at", "mac")} for d in (first, second)]
    result = cli.invoke(cli.app, ["--db", database.url, "audit", "anchor"])  # type: ignore[attr-defined]
    shown = result.stdout.replace("\n", "")
    assert result.exit_code == 0 and "第 7 条事件" in shown and "校验了 1 条" in shown
    code, body = _run(cli, database, "verify")
    assert code == 0 and body["anchors"]["anchors"] == 3 and body["anchors"]["events_after_newest"] == 0


def test_cli_anchor_loop_stops_after_count(cli: CliRunner, database: Database, session: Session, tmp_path) -> None:
    path = tmp_path / "anchors.jsonl"
    _record(session, 2)
    args = ["--db", database.url, "audit", "anchor", "--out", str(path), "--loop", "--every", "0.1", "--count", "3"]
    result = cli.invoke(cli.app, [*args, "--json"])  # type: ignore[attr-defined]
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]  # one JSON document per line
    assert [(r["seq"], r["verified_from"]) for r in rows] == [(2, 0), (2, 2), (2, 2)]
    assert len(audit.read_anchor_file(path)) == 3


def test_cli_anchor_loop_stops_on_sigterm(database: Database, session: Session, tmp_path) -> None:
    path = tmp_path / "anchors.jsonl"
    _record(session, 2)
    env = {**os.environ, "XINYONG_DATABASE_URL": database.url}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from xinyong.cli import main; main()",
            "audit",
            "anchor",
            "--out",
            str(path),
            "--loop",
            "--every",
            "0.2",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if path.exists() and len(path.read_text(encoding="utf-8").splitlines()) >= 2:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "已停止" in err
    anchors = audit.read_anchor_file(path)
    assert len(anchors) >= 2 and all(a["seq"] == 2 for a in anchors)
    assert audit.verify_anchors(session, anchors).ok


def test_anchors_file_backward_compatible_and_robust(session: Session, tmp_path) -> None:
    """A file written by earlier versions (same line format and key) still verifies; the last valid anchor is
    found from the end of a long file; a line cut short by a crash does not swallow the next anchor."""
    path = tmp_path / "anchors.jsonl"
    # Written by the first version of `audit anchor` with XINYONG_SECRET_KEY=test-secret-key-not-for-production.
    old = (
        '{"seq": 0, "hash": "' + GENESIS_HASH + '", "at": "2025-01-01T00:00:00+00:00", '
        '"mac": "41bfd25851bbb3ed60a072d01277fff0ddd5d650697c3363fa9f4760234e806f"}\n'
    )
    path.write_text(old, encoding="utf-8")
    assert audit.verify_anchors(session, audit.read_anchor_file(path)).ok
    assert audit.last_anchor_in_file(path)["at"] == "2025-01-01T00:00:00+00:00"
    assert audit.last_anchor_in_file(tmp_path / "missing.jsonl") is None

    _record(session, 2)
    for _ in range(30):
        audit.append_anchor(path, audit.anchor(session).anchor)
    _record(session, 1, start=3)
    newest = audit.anchor(session).anchor
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"seq": 3, "hash": "cut sh')  # a write that never finished
    audit.append_anchor(path, newest)
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"seq": 99, "hash": "x", "at": "2030-01-01T00:00:00", "mac": "forged"}\n')
    assert audit.last_anchor_in_file(path, block=64) == newest  # small blocks: lines cross block boundaries
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[-2]) == newest and lines[-3].startswith('{"seq": 3, "hash": "cut sh')


# API -------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/audit/events", "/api/v1/audit/verify", "/api/v1/audit/anchors"])
def test_api_refuses_anonymous_and_non_admin_callers(client: Any, session: Session, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    response = client.get(path, headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"
    response = client.get(path, headers=auth_headers(make_token(session, Role.DEPT_VIEWER)))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "role_not_allowed"


def test_api_lists_events_and_verifies_for_the_admin(client: Any, session: Session, database: Database) -> None:
    headers = auth_headers(make_token(session, Role.ADMIN))  # itself audited: token.create is event 1
    _record(session, 4)
    response = client.get("/api/v1/audit/events", headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert [e["seq"] for e in body] == [5, 4, 3, 2, 1]
    assert body[-1]["action"] == "token.create"
    assert body[0]["hash"] == _by_seq(session, 5).hash
    page = client.get(
        "/api/v1/audit/events", params={"limit": 2, "before_seq": 4, "entity_type": "department"}, headers=headers
    ).json()
    assert [e["seq"] for e in page] == [3, 2]
    assert client.get("/api/v1/audit/events", params={"limit": 0}, headers=headers).status_code == 422

    assert client.get("/api/v1/audit/verify", headers=headers).json() == {
        "ok": True,
        "events": 5,
        "first_bad_id": None,
        "problem": None,
    }
    with _bypassing_triggers(session, database) as conn:
        conn.execute(text("UPDATE audit_events SET entity_id = '99' WHERE seq = 3"))
    report = client.get("/api/v1/audit/verify", headers=headers).json()
    assert report["ok"] is False and report["first_bad_id"] == _by_seq(session, 3).id


def test_api_shows_the_anchor_status_to_the_admin(
    client: Any, session: Session, database: Database, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = auth_headers(make_token(session, Role.ADMIN))
    response = client.get("/api/v1/audit/anchors", headers=headers)
    assert response.status_code == 404 and response.json()["error"]["code"] == "anchors_not_configured"
    path = tmp_path / "anchors.jsonl"
    monkeypatch.setenv("XINYONG_AUDIT_ANCHORS_FILE", str(path))
    reset_settings()
    response = client.get("/api/v1/audit/anchors", headers=headers)
    assert response.status_code == 404 and response.json()["error"]["code"] == "anchors_file_not_found"

    events = [_by_seq(session, 1), *_record(session, 3)]
    audit.append_anchor(path, audit.anchor(session).anchor)
    events += _record(session, 2, start=4)
    body = client.get("/api/v1/audit/anchors", headers=headers).json()
    assert body["ok"] and not body["stale"] and body["file"] == str(path)
    assert body["anchors"] == 1 and body["newest"]["seq"] == 4 and body["events_after_newest"] == 2
    assert body["max_age_seconds"] == 900 and 0 <= body["newest_age_seconds"] < 60

    with _bypassing_triggers(session, database) as conn:
        _cut_tail(conn, events, 2)
    body = client.get("/api/v1/audit/anchors", headers=headers).json()
    assert body["ok"] is False and [p["seq"] for p in body["problems"]] == [4]
