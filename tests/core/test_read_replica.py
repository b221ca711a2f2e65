"""Read replicas (issue #19 part 3): with ``XINYONG_DATABASE_READ_URL`` the check's look-ups, the portal's pages and
the government file read from a streaming replica; every write goes to the primary.

A real hot standby of the test cluster is made on this machine (``tests/pgreplica.py``: ``pg_basebackup -R`` and
``pg_ctl`` on a temporary data directory and a free port), so ``pg_is_in_recovery()`` tells the two apart."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from tests.conftest import PG_ADMIN_URL, REQUIRE_PG, _pg_truncate
from tests.factories import make_department
from tests.measures.helpers import entry, org, seed_all
from tests.pgreplica import streaming_replica, unavailable, wait_replayed
from xinyong.auth.roles import Principal, Role
from xinyong.core import clock
from xinyong.core.db import Database
from xinyong.measures import check as checks
from xinyong.measures.check import SubjectQuery
from xinyong.measures.models import Check
from xinyong.reports import government_file
from xinyong.subjects.search import ensure_search_index

pytestmark = pytest.mark.replica


@pytest.fixture(scope="module")
def replicated(_pg_url: str | None) -> Iterator[Database]:
    """The test database with a read replica: ``Database(primary, read_url=replica)``."""
    if _pg_url is None:
        pytest.skip("PostgreSQL not reachable")
    reason = unavailable(PG_ADMIN_URL)
    if reason is not None:
        if REQUIRE_PG and "not installed" not in reason:
            pytest.fail(f"a streaming replica cannot be made: {reason}")
        pytest.skip(reason)
    with streaming_replica(PG_ADMIN_URL) as port:
        replica_url = make_url(_pg_url).set(port=port).render_as_string(hide_password=False)
        db = Database(_pg_url, read_url=replica_url)
        _pg_truncate(db)
        try:
            yield db
        finally:
            _pg_truncate(db)
            db.dispose()


def _checkouts(engine) -> list[int]:  # type: ignore[no-untyped-def]
    seen: list[int] = []
    event.listen(engine, "checkout", lambda *a: seen.append(1))
    return seen


def _statements(engine) -> list[str]:  # type: ignore[no-untyped-def]
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def test_reads_are_routed_to_the_replica_and_writes_to_the_primary(replicated: Database) -> None:
    db = replicated
    with db.read_session() as reader:
        assert reader.scalar(text("SELECT pg_is_in_recovery()")) is True
        with pytest.raises(DBAPIError, match="read-only"):
            reader.execute(text("CREATE TEMPORARY TABLE nope (x int)"))
    with db.session() as writer:
        assert writer.scalar(text("SELECT pg_is_in_recovery()")) is False
    with db.replica.statement_engine.connect() as conn:
        assert conn.scalar(text("SELECT pg_is_in_recovery()")) is True
    # Without a read URL the replica is the primary itself.
    plain = Database(db.url)
    assert plain.replica is plain and not plain.has_replica
    plain.dispose()


def test_the_check_reads_on_the_replica_and_records_on_the_primary(replicated: Database) -> None:
    db = replicated
    with db.sessionmaker() as session:
        seed_all(session)
        dept = make_department(session, code="czj", name="沁阳市财政局")
        listed = org(session, "沁阳市只读副本测试有限公司")
        today = clock.today()
        entry(
            session,
            listed,
            "court_dishonest_debtor",
            listed_on=today - dt.timedelta(days=3),
            term_end=today + dt.timedelta(days=300),
        )
        session.commit()
        dept_id = dept.id
    ensure_search_index(db.replica.engine)  # made on the primary (migrations make them in production)
    wait_replayed(db.url, db.read_url or "")
    actor = Principal(kind="token", name="政府采购系统", role=Role.BUSINESS_SYSTEM, department_id=dept_id, token_id=7)
    # The check's reads run on the driver's prepared statements (no SQLAlchemy statement events): count the
    # connections each side hands out instead. A write on the replica would fail ("read-only transaction").
    on_replica = _checkouts(db.replica.statement_engine)
    on_primary = _checkouts(db.engine)
    answer = checks.check_and_record(db, actor=actor, subjects=[SubjectQuery(code=listed)], scenario="procurement")
    assert answer["summary"]["matched"] == 1 and answer["results"][0]["measures"]
    assert on_replica, "the check's look-ups did not go to the replica"
    assert on_primary, "the check was not recorded on the primary"
    with db.session() as s:
        assert s.get(Check, answer["check_id"]) is not None

    # The government file: read on the replica, the access log on the primary.
    on_replica.clear()
    on_primary.clear()
    admin = Principal(kind="token", name="发改委", role=Role.ADMIN, department_id=dept_id, token_id=8)
    with db.session() as session, db.read_session() as reader:
        file = government_file.read_file(session, actor=admin, code=listed, purpose="approval", reader=reader)
        assert reader.scalar(text("SELECT pg_is_in_recovery()")) is True
    assert file["lists"], file
    with db.session() as s:
        logged = s.scalar(text("SELECT count(*) FROM subject_access_log"))
    assert logged == 1

    # The portal's pages go to the replica: the search and the subject page answer from it.
    from xinyong.web.app import create_app

    on_replica_pool = _statements(db.replica.engine)
    with TestClient(create_app(db)) as client:
        page = client.get("/search", params={"q": "只读副本测试"})
        assert page.status_code == 200 and "沁阳市只读副本测试有限公司" in page.text
        # /readyz names the replica (503 here only because the test schema is not Alembic's)
        assert client.get("/readyz").json()["replica"] == {"status": "ok", "standby": True}
    assert any("subjects" in s for s in on_replica_pool)
    wait_replayed(db.url, db.read_url or "")
    with db.read_session() as reader:  # and the check recorded on the primary has reached the replica
        assert reader.scalar(select(func.count()).select_from(Check).where(Check.id == answer["check_id"])) == 1


def _hosts(url: str, *ports: int) -> str:
    """``url`` with several hosts tried in order by libpq, a standby preferred (``target_session_attrs``)."""
    base = make_url(url)
    hosts = "&".join(f"host=127.0.0.1:{port}" for port in ports)
    return f"postgresql+psycopg://{base.username}@/{base.database}?{hosts}&target_session_attrs=prefer-standby&connect_timeout=2"


def test_a_read_url_listing_the_primary_too_survives_a_replica_that_is_down(replicated: Database) -> None:
    """docs/deployment.md: ``XINYONG_DATABASE_READ_URL`` may name the replica and then the primary; libpq prefers
    the standby and falls back to the primary when it cannot be reached, so the portal never fails for it."""
    replica_port = make_url(replicated.read_url or "").port or 0
    primary_port = make_url(replicated.url).port or 5432
    both = Database(replicated.url, read_url=_hosts(replicated.url, primary_port, replica_port))
    down = Database(replicated.url, read_url=_hosts(replicated.url, 1, primary_port))  # nothing listens on port 1
    try:
        with both.read_session() as reader:
            assert reader.scalar(text("SELECT pg_is_in_recovery()")) is True  # the standby, though listed second
        with down.read_session() as reader:
            assert reader.scalar(text("SELECT pg_is_in_recovery()")) is False  # the primary: no error
        dead = Database(replicated.url, read_url=_hosts(replicated.url, 1))
        from xinyong.web.app import create_app

        with TestClient(create_app(dead)) as client:
            assert client.get("/readyz").json()["replica"]["status"] == "unavailable"
        dead.dispose()
    finally:
        both.dispose()
        down.dispose()
