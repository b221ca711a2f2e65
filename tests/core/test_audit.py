"""The append-only, hash-chained audit log, on every backend: recording, tamper detection, triggers, concurrency,
the CLI and the API's access rule."""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import json
import threading
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
            session, actor="user:1:张三", action="department.update", entity_type="department", entity_id=i,
            reason=f"第 {i} 次修改：更正名称", before={"name": f"旧名称{i}", "active": True},
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
    assert all(b.prev_hash == a.hash for a, b in zip(events, events[1:], strict=False))
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
        session, actor="system:cli", action="test.values", entity_type="test", entity_id=None, reason=None,
        before={"big": 1e16, "whole": 3.0, "negative_zero": -0.0, "tiny": 1.5e-9, "fraction": 0.1,
                "amount": decimal.Decimal("2000.50"), "n": 2**62, "nested": [{"k": (1, 2)}, None, True]},
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
    for stmt in ("UPDATE audit_events SET reason = 'edited' WHERE seq = 2",
                 "DELETE FROM audit_events WHERE seq = 3",
                 "DELETE FROM audit_events"):
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
    forged = dict(prev_hash=events[2].prev_hash, seq=3, at=events[2].at, actor=events[2].actor,
                  action=events[2].action, entity_type=events[2].entity_type, entity_id=events[2].entity_id,
                  reason="伪造的原因", before=events[2].before, after=events[2].after)
    with _bypassing_triggers(session, database) as conn:
        conn.execute(text("UPDATE audit_events SET reason = :r, hash = :h WHERE seq = 3"),
                     {"r": "伪造的原因", "h": audit.event_hash(**forged)})
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
        conn.execute(text("UPDATE audit_chain_head SET count = 4, last_hash = :h, last_event_id = :id"),
                     {"h": events[3].hash, "id": events[3].id})
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
                    audit.record(s, actor=f"thread:{name}", action="test.concurrent", entity_type="test",
                                 entity_id=i)
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
    early = audit.anchor(session)
    _record(session, 2, start=3)
    late = audit.anchor(session)
    assert (early["seq"], late["seq"]) == (3, 5)
    assert audit.verify_anchors(session, [early, late]).ok

    forged = {**late, "seq": 2}
    report = audit.verify_anchors(session, [forged, {"seq": "x"}])
    assert not report.ok and [p["anchor"] for p in report.problems] == [1, 2]
    assert "签名无效" in report.problems[0]["problem"] and "格式" in report.problems[1]["problem"]

    with _bypassing_triggers(session, database) as conn:  # the intruder empties the log
        conn.execute(text("DELETE FROM audit_chain_head"))
        conn.execute(text("DELETE FROM audit_events"))
    assert verify_chain(session).ok                       # an empty chain is a valid chain …
    report = audit.verify_anchors(session, [early, late])
    assert not report.ok and {p["seq"] for p in report.problems} == {3, 5}  # … but not the one anchored
    assert all("截断或清空" in p["problem"] for p in report.problems)

    _record(session, 3)                                   # and rebuilds three events of their own
    report = audit.verify_anchors(session, [early, late])
    assert [p["seq"] for p in report.problems] == [3, 5]
    assert "重写" in report.problems[0]["problem"] and "截断" in report.problems[1]["problem"]


def test_cli_anchor_and_verify_with_anchors(cli: CliRunner, database: Database, session: Session, tmp_path) -> None:
    _record(session, 2)
    path = tmp_path / "anchors" / "audit.jsonl"
    code, a = _run(cli, database, "anchor", "--out", str(path))
    assert code == 0 and a["seq"] == 2 and len(a["mac"]) == 64
    code, body = _run(cli, database, "verify", "--anchors", str(path))
    assert code == 0 and body["ok"] and body["anchors"] == {"ok": True, "anchors": 1, "problems": []}
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


# API -------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/audit/events", "/api/v1/audit/verify"])
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
    page = client.get("/api/v1/audit/events", params={"limit": 2, "before_seq": 4, "entity_type": "department"},
                      headers=headers).json()
    assert [e["seq"] for e in page] == [3, 2]
    assert client.get("/api/v1/audit/events", params={"limit": 0}, headers=headers).status_code == 422

    assert client.get("/api/v1/audit/verify", headers=headers).json() == {
        "ok": True, "events": 5, "first_bad_id": None, "problem": None}
    with _bypassing_triggers(session, database) as conn:
        conn.execute(text("UPDATE audit_events SET entity_id = '99' WHERE seq = 3"))
    report = client.get("/api/v1/audit/verify", headers=headers).json()
    assert report["ok"] is False and report["first_bad_id"] == _by_seq(session, 3).id
