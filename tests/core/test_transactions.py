"""Write transactions, transient conflicts and retries (core.db), on both databases (issue #13, findings 2, 3).

- SQLite: a write transaction begins ``BEGIN IMMEDIATE``, so a transaction that reads and then writes while
  another writer commits queues instead of failing with "database is locked";
- both: a transient conflict is retried by ``Database.run`` and by the HTTP layer (``web.transactions``), within a
  bound; past it the caller gets ``Busy`` (503 with Retry-After over HTTP), never an internal error;
- PostgreSQL: a real deadlock is recognised as transient, and two transactions that deadlock both finish when run
  through ``Database.run``.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from tests.factories import make_department
from xinyong.auth.deps import SessionDep
from xinyong.auth.models import Department
from xinyong.core import db as core_db
from xinyong.core.db import Database, RetryPolicy, is_transient, run_with_retries
from xinyong.core.errors import Busy
from xinyong.core.settings import reset_settings


def _locked() -> OperationalError:
    """What SQLAlchemy raises when SQLite answers SQLITE_BUSY."""
    orig = sqlite3.OperationalError("database is locked")
    orig.sqlite_errorcode = 5  # type: ignore[attr-defined]
    return OperationalError("UPDATE x", {}, orig)


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Retries without the pauses (the bound stays: 4 further attempts)."""
    monkeypatch.setenv("XINYONG_DB_RETRY_BACKOFF", "0.001")
    reset_settings()
    yield
    reset_settings()


def test_a_write_transaction_that_read_first_waits_for_another_writer(database: Database, session: Session) -> None:
    """The finding: a transaction that read, then writes after another writer committed, failed at once on
    SQLite ("database is locked", no busy wait). A write transaction now holds the lock from its first statement:
    the other writer waits for it, and both changes land."""
    dept = make_department(session, code="scjgj", name="沁阳市市场监督管理局")
    session.close()
    other_done = threading.Event()
    errors: list[BaseException] = []

    def other_writer() -> None:
        try:
            with database.session() as s:
                s.execute(update(Department).where(Department.id == dept.id).values(short_name="别的写入"))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            other_done.set()

    with database.session() as s:
        assert s.scalar(select(Department.name).where(Department.id == dept.id)) == "沁阳市市场监督管理局"
        thread = threading.Thread(target=other_writer)
        thread.start()
        other_done.wait(1.0)  # PostgreSQL: the other writer commits now; SQLite: it waits for this transaction
        s.execute(update(Department).where(Department.id == dept.id).values(name="沁阳市市场监管局"))
    thread.join(10)
    assert not errors, errors
    with database.session(write=False) as s:
        row = s.execute(select(Department.name, Department.short_name).where(Department.id == dept.id)).one()
    assert tuple(row) == ("沁阳市市场监管局", "别的写入")


def test_readers_neither_wait_for_nor_block_the_writer(database: Database, session: Session) -> None:
    make_department(session, code="scjgj")
    session.close()
    with database.session() as writer:
        writer.execute(update(Department).values(short_name="写入中"))
        started = time.monotonic()
        with database.session(write=False) as reader:
            assert reader.scalar(select(Department.short_name)) is None  # the committed state, at once
        assert time.monotonic() - started < 1.0


def test_is_transient_recognises_only_conflicts_between_transactions() -> None:
    assert is_transient(_locked())
    snapshot = sqlite3.OperationalError("database is locked")
    snapshot.sqlite_errorcode = 517  # type: ignore[attr-defined]  # SQLITE_BUSY_SNAPSHOT
    assert is_transient(OperationalError("x", {}, snapshot))
    assert not is_transient(OperationalError("x", {}, sqlite3.OperationalError("no such table: t")))
    assert not is_transient(IntegrityError("x", {}, sqlite3.IntegrityError("UNIQUE constraint failed")))
    assert not is_transient(ValueError("database is locked"))
    wrapped = RuntimeError("outer")
    wrapped.__cause__ = _locked()
    assert is_transient(wrapped)
    assert is_transient(ExceptionGroup("group", [ValueError(), _locked()]))


def test_run_retries_a_transient_conflict_then_answers_busy(database: Database, quick_retries: None) -> None:
    calls: list[bool] = []

    def flaky(session: Session) -> str:
        session.execute(text("SELECT 1"))
        calls.append(core_db.holds_write_lock(session))
        if len(calls) < 3:
            raise _locked()
        return "done"

    assert database.run(flaky, write=False) == "done"
    # A retried attempt is always a write transaction (on SQLite it holds the write lock from its first statement).
    assert calls == ([False, True, True] if database.dialect == "sqlite" else [True, True, True])

    def always(session: Session) -> None:
        raise _locked()

    with pytest.raises(Busy) as caught:
        database.run(always, retries=2)
    assert caught.value.status_code == 503 and caught.value.code == "database_busy"
    assert "稍后重试" in caught.value.message and caught.value.headers["Retry-After"].isdigit()

    def broken(session: Session) -> None:
        raise ValueError("not a conflict")

    with pytest.raises(ValueError):
        database.run(broken)


def test_the_bound_is_attempts_and_the_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XINYONG_DB_BUSY_TIMEOUT", "0.2")
    monkeypatch.setenv("XINYONG_DB_RETRY_BACKOFF", "0.05")
    reset_settings()
    try:
        attempts = []

        def slow(n: int) -> None:
            attempts.append(n)
            time.sleep(0.15)
            raise _locked()

        with pytest.raises(Busy):
            run_with_retries(slow, retries=10)
        assert len(attempts) == 2  # not ten: the busy timeout had passed since the first attempt
        policy = RetryPolicy(3)
        assert policy.pause(3) is None and 0 < policy.pause(0) < 0.1  # type: ignore[operator]
    finally:
        reset_settings()


def test_a_real_deadlock_is_transient_and_both_units_finish(database: Database, session: Session) -> None:
    """PostgreSQL: two transactions that lock two rows in opposite orders deadlock; the victim's error is
    transient, and through ``Database.run`` both finish. (On SQLite write transactions cannot deadlock: each
    takes the one write lock at its first statement — the same code runs and simply queues.)"""
    a = make_department(session, code="dept_a")
    b = make_department(session, code="dept_b")
    session.close()
    first_locked = threading.Barrier(2, timeout=5)
    attempts: dict[str, int] = {"one": 0, "two": 0}
    errors: list[BaseException] = []

    def worker(name: str, first: int, second: int) -> None:
        def unit(s: Session) -> None:
            attempts[name] += 1
            s.execute(update(Department).where(Department.id == first).values(short_name=name))
            if attempts[name] == 1 and database.dialect == "postgresql":
                first_locked.wait()  # both hold their first row: the second UPDATEs deadlock
            s.execute(update(Department).where(Department.id == second).values(short_name=name))

        try:
            database.run(unit)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [
        threading.Thread(target=worker, args=("one", a.id, b.id)),
        threading.Thread(target=worker, args=("two", b.id, a.id)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    if database.dialect == "postgresql":
        assert sorted(attempts.values()) == [1, 2]  # the deadlock's victim ran again
    with database.session(write=False) as s:
        names = set(s.scalars(select(Department.short_name).where(Department.id.in_([a.id, b.id]))))
    assert len(names) == 1  # one of them ran last, whole


# Over HTTP ------------------------------------------------------------------------------------------------------


def _app_with(database: Database, route: Any, path: str = "/api/v1/test-unit", methods: tuple[str, ...] = ("POST",)):
    from xinyong.auth.deps import public
    from xinyong.web.app import create_app

    app = create_app(database)
    from fastapi import Depends

    app.router.add_api_route(path, route, methods=list(methods), dependencies=[Depends(public)])
    return app


def test_a_request_that_meets_a_conflict_is_run_again_with_its_body(database: Database, quick_retries: None) -> None:
    seen: list[tuple[bytes, bool]] = []

    async def route(request: Request) -> dict[str, Any]:
        from xinyong.web.transactions import WRITE_STATE

        body = await request.body()
        seen.append((body, bool(request.state._state.get(WRITE_STATE))))
        if len(seen) < 3:
            raise _locked()
        return {"attempts": len(seen), "size": len(body)}

    payload = b"x" * (3 * 1024 * 1024 + 17)  # over the in-memory spool: replayed from a temporary file
    with TestClient(_app_with(database, route), raise_server_exceptions=False) as client:
        answer = client.post("/api/v1/test-unit", content=payload)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"attempts": 3, "size": len(payload)}
    assert [b == payload for b, _ in seen] == [True, True, True]
    assert [w for _, w in seen] == [False, True, True]


def test_past_the_bound_the_client_gets_503_with_retry_after(database: Database, quick_retries: None) -> None:
    calls = []

    def route() -> dict[str, str]:
        calls.append(1)
        raise _locked()

    with TestClient(_app_with(database, route), raise_server_exceptions=True) as client:
        answer = client.post("/api/v1/test-unit", json={})
        again = client.get("/healthz")  # the connection (and the app) still answer
    assert answer.status_code == 503
    assert answer.headers["retry-after"].isdigit()
    assert answer.json()["error"]["code"] == "database_busy" and "稍后重试" in answer.json()["error"]["message"]
    assert len(calls) == 5 and again.status_code == 200


def test_a_get_that_writes_after_a_stale_read_never_answers_500(
    database: Database, session: Session, quick_retries: None
) -> None:
    """A GET's session is a deferred reader; one that writes (an audit of a read) after another writer committed
    meets "database is locked" on SQLite. It is run again as a write transaction and answers 200."""
    dept = make_department(session, code="scjgj")
    session.close()
    attempts = []

    def route(s: Session = SessionDep) -> dict[str, int]:
        attempts.append(1)
        s.scalar(select(Department.name).where(Department.id == dept.id))
        if len(attempts) == 1:  # another writer commits between this read and this write
            other = threading.Thread(
                target=lambda: database.run(
                    lambda o: o.execute(update(Department).where(Department.id == dept.id).values(short_name="并发"))
                )
            )
            other.start()
            other.join(10)
        s.execute(update(Department).where(Department.id == dept.id).values(name="已读取"))
        return {"attempts": len(attempts)}

    with TestClient(
        _app_with(database, route, path="/api/v1/test-read", methods=("GET",)), raise_server_exceptions=False
    ) as client:
        answer = client.get("/api/v1/test-read")
    assert answer.status_code == 200, answer.text
    assert answer.json()["attempts"] == (2 if database.dialect == "sqlite" else 1)
    with database.session(write=False) as s:
        assert tuple(
            s.execute(select(Department.name, Department.short_name).where(Department.id == dept.id)).one()
        ) == ("已读取", "并发")


def test_a_transaction_of_its_own_writes_while_the_callers_has_only_read(database: Database, session: Session) -> None:
    """One-time codes are used up in a transaction of their own even when the request then fails. On SQLite the
    request's write transaction holds the write lock from its first read: it is set aside while the other writes
    (``write_lock_released``) and holds the lock again afterwards; on PostgreSQL nothing needs doing."""
    dept = make_department(session, code="scjgj")
    session.close()
    with database.session() as s:
        s.scalar(select(Department.name).where(Department.id == dept.id))
        with core_db.write_lock_released(s):
            started = time.monotonic()
            with database.session() as own:
                own.execute(update(Department).where(Department.id == dept.id).values(short_name="自有事务"))
            assert time.monotonic() - started < 2.0  # did not wait for the caller's transaction
        assert core_db.holds_write_lock(s)
        s.execute(update(Department).where(Department.id == dept.id).values(name="调用方"))
    with database.session(write=False) as s:
        assert tuple(
            s.execute(select(Department.name, Department.short_name).where(Department.id == dept.id)).one()
        ) == ("调用方", "自有事务")


@pytest.mark.parametrize("patience, first", [(5.0, "short"), (0.05, "bulk")])
def test_write_turn_lets_short_writers_go_before_a_waiting_batch(
    monkeypatch: pytest.MonkeyPatch, patience: float, first: str
) -> None:
    """SQLite's writers of a process take turns: a check waiting behind a writing batch goes before the next batch
    waiting (it waits for one batch, not all); a batch that has waited ``BULK_PATIENCE`` goes next, so checks
    cannot starve it."""
    monkeypatch.setattr(core_db, "BULK_PATIENCE", patience)
    turn = core_db._Turn(":memory:")
    order: list[str] = []
    assert turn.acquire(bulk=True, timeout=1)  # a batch is writing

    def waiter(name: str, bulk: bool) -> None:
        assert turn.acquire(bulk=bulk, timeout=5)
        order.append(name)
        turn.release()

    batch = threading.Thread(target=waiter, args=("bulk", True))
    batch.start()
    time.sleep(0.2)  # the next batch has waited longer than a short patience
    check = threading.Thread(target=waiter, args=("short", False))
    check.start()
    time.sleep(0.1)
    turn.release()
    batch.join(5)
    check.join(5)
    assert order[0] == first and sorted(order) == ["bulk", "short"]
    assert turn.acquire(bulk=False, timeout=0)  # free again
    turn.release()


def test_a_long_read_before_writing_does_not_hold_the_write_lock(database: Database, session: Session) -> None:
    """An analysis reads everything, computes, then stores one result: it reads on the side
    (``reading_apart``), so on SQLite other writers are not kept waiting meanwhile."""
    dept = make_department(session, code="scjgj")
    session.close()
    with database.session() as s:
        s.scalar(select(Department.id))  # e.g. the route's permission check: the write lock is taken
        with core_db.reading_apart(s) as reader:
            assert reader.scalar(select(Department.short_name).where(Department.id == dept.id)) is None
            started = time.monotonic()
            database.run(
                lambda other: other.execute(
                    update(Department).where(Department.id == dept.id).values(short_name="分析期间写入")
                )
            )
            assert time.monotonic() - started < 2.0  # not kept waiting by the analysis
        s.execute(update(Department).where(Department.id == dept.id).values(name="分析结果"))
    with database.session(write=False) as s:
        assert tuple(
            s.execute(select(Department.name, Department.short_name).where(Department.id == dept.id)).one()
        ) == ("分析结果", "分析期间写入")


def test_a_bulk_transaction_on_postgresql_plans_each_statement_for_its_values(database: Database) -> None:
    """psycopg prepares a statement on the server after five runs and PostgreSQL then keeps a generic plan, made for
    the tables as they were: a load that starts on empty tables kept a sequential scan for its subjects' look-ups
    and became quadratic. A bulk transaction (``mark_bulk``) plans each run for its own values, and only for
    itself: the next transaction has the server's default again."""
    if database.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's plan cache")

    def plan_after_six_runs(session: Session) -> str:
        conn = session.connection()
        conn.exec_driver_sql("PREPARE by_code(text) AS SELECT id FROM subjects WHERE uscc = $1")
        for _ in range(6):
            conn.exec_driver_sql("EXECUTE by_code('91410882MA00000001')").all()
        plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN EXECUTE by_code('91410882MA00000002')"))
        conn.exec_driver_sql("DEALLOCATE by_code")
        return plan

    with database.session() as session:
        assert "$1" in plan_after_six_runs(session)  # the default: a generic plan once it is no dearer
    with database.session() as session:
        core_db.mark_bulk(session)
        plan = plan_after_six_runs(session)
        assert "91410882MA00000002" in plan and "$1" not in plan
        assert session.connection().exec_driver_sql("SHOW plan_cache_mode").scalar() == "force_custom_plan"
    with database.session() as session:
        assert session.connection().exec_driver_sql("SHOW plan_cache_mode").scalar() == "auto"
