"""Migration 0023: the audit log and the check records partitioned by month, record versions by hash (PostgreSQL),
the guarantees of the constraints PostgreSQL cannot keep on a partitioned table kept by trigger, the maintenance
command. SQLite: nothing changes."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from typer.testing import CliRunner

from tests.conftest import BACKENDS, PG_ADMIN_URL, REQUIRE_PG
from tests.factories import make_department
from tests.records.helpers import ADMIN, BLOB, digests_as_bytes, make_batch, penalty, seed_catalog, writers_before_0025
from xinyong import cli
from xinyong.core import audit
from xinyong.core.db import Database, forget_databases
from xinyong.core.migrate import current_revision, downgrade, head_revision, upgrade
from xinyong.core.partitions import ensure_partitions, is_partition
from xinyong.records import upsert as records_upsert

BEFORE = "0022_compact_versions"  # the revision before 0023


def _admin():
    """An AUTOCOMMIT engine on the test cluster's ``postgres`` database; skips (fails in CI) without PostgreSQL."""
    if "postgresql" not in BACKENDS:
        pytest.skip("PostgreSQL not among the test backends")
    try:
        engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        engine.connect().close()
    except Exception:
        if REQUIRE_PG:
            raise
        pytest.skip("PostgreSQL not reachable")
    return engine


def _new_database(admin, *, template: str | None = None) -> str:
    name = f"xinyong_part_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    return name


def _url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _drop(admin, name: str) -> None:
    forget_databases()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_url():
    """An empty database of its own (also used by tests/evaluation/test_contributions_migration.py)."""
    admin = _admin()
    name = _new_database(admin)
    yield _url(name)
    _drop(admin, name)


@pytest.fixture(scope="module")
def migrated_template():
    """A database built by the migrations once per module (about 3 s); each test gets a copy (CREATE DATABASE …
    TEMPLATE, ~0.1 s) instead of migrating a database of its own."""
    admin = _admin()
    name = _new_database(admin)
    upgrade(_url(name))
    forget_databases()  # a template may have no connection open when it is copied
    yield name
    _drop(admin, name)


@pytest.fixture
def migrated_url(migrated_template):
    """A database of its own at the migration head: a copy of the module's migrated template."""
    admin = _admin()
    name = _new_database(admin, template=migrated_template)
    yield _url(name)
    _drop(admin, name)


def relkind(conn, table: str) -> str:
    return conn.execute(text("SELECT relkind FROM pg_class WHERE oid = CAST(:t AS regclass)"), {"t": table}).scalar()


def snapshot(conn) -> dict[str, list[tuple]]:
    """Every row of the partitioned tables (and the children of the emulated foreign keys), in id order."""
    tables = ("audit_events", "checks", "check_items", "check_feedback", "record_versions", "audit_chain_head")
    out = {}
    for t in tables:  # the columns of the revision before 0023 (record_versions.packed came with 0025, all NULL)
        names = ", ".join(c["name"] for c in inspect(conn).get_columns(t) if c["name"] != "packed")
        rows = conn.execute(text(f"SELECT {names} FROM {t} ORDER BY id"))
        # content hashes as hex, whether stored as text (before 0026) or as their bytes
        out[t] = [tuple(bytes(v).hex() if isinstance(v, bytes | memoryview) else v for v in r) for r in rows]
    return out


def add_check(conn, at: dt.datetime, *, items: int = 2, feedback: bool = True) -> int:
    check_id = conn.execute(
        text(
            "INSERT INTO checks (at, checked_on, actor, system, scenario, subject_count, with_measures, summary) "
            "VALUES (:at, :on, 'alice', 'sys', 'approval', :n, true, '{}') RETURNING id"
        ),
        {"at": at, "on": at.date(), "n": items},
    ).scalar_one()
    for pos in range(items):
        item_id = conn.execute(
            text(
                "INSERT INTO check_items (check_id, position, query, outcome, entry_ids, measure_codes) "
                "VALUES (:c, :p, '{}', 'not_found', '[]', '[]') RETURNING id"
            ),
            {"c": check_id, "p": pos},
        ).scalar_one()
        if feedback and pos == 0:
            conn.execute(
                text(
                    "INSERT INTO check_feedback (check_id, item_id, measure_code, applied, actor, at) "
                    "VALUES (:c, :i, 'M1', true, 'alice', :at)"
                ),
                {"c": check_id, "i": item_id, "at": at},
            )
    return check_id


def seed(url: str, mp: pytest.MonkeyPatch) -> None:
    """Rows in every table the migration rebuilds: records with two versions, audit events, checks of two months.
    Written by today's writers as they wrote before 0025 (plain versions; the packed column there meanwhile)."""
    writers_before_0025(mp)
    db = Database(url)
    with db.engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE record_versions ADD COLUMN packed {BLOB['postgresql']}"))
    with digests_as_bytes(db.engine), db.sessionmaker() as s:
        seed_catalog(s)
        dept = make_department(s, code="scjgj")
        batch = make_batch(s, dept.id, batch_id=7)
        received = dt.datetime(2025, 6, 20, 2, 0, tzinfo=dt.UTC)
        rows = [penalty(doc=f"罚{i}", row=i + 2) for i in range(5)]
        records_upsert.upsert_records(
            s, actor=ADMIN, department_id=dept.id, rows=rows, batch_id=batch, received_at=received
        )
        changed = [penalty(doc="罚0", row=2, fine_wan="3")]
        records_upsert.upsert_records(
            s, actor=ADMIN, department_id=dept.id, rows=changed, batch_id=batch, received_at=received
        )
        s.commit()
    with db.engine.begin() as conn:
        conn.execute(text("ALTER TABLE record_versions DROP COLUMN packed"))
        add_check(conn, dt.datetime(2025, 6, 3, 8, 0, tzinfo=dt.UTC))
        add_check(conn, dt.datetime(2025, 7, 31, 23, 59, 59, tzinfo=dt.UTC))
        add_check(conn, dt.datetime.now(dt.UTC))
    db.dispose()


def test_upgrade_and_downgrade_keep_every_row(pg_url, monkeypatch):
    upgrade(pg_url, BEFORE)
    seed(pg_url, monkeypatch)
    db = Database(pg_url)
    with db.engine.connect() as conn:
        before = snapshot(conn)
    assert len(before["record_versions"]) == 6 and len(before["checks"]) == 3 and len(before["audit_events"]) > 3
    db.dispose()

    assert upgrade(pg_url) == head_revision()
    db = Database(pg_url)
    with db.engine.connect() as conn:
        for table in ("audit_events", "checks", "record_versions"):
            assert relkind(conn, table) == "p"
        assert relkind(conn, "credit_records") == "r"
        assert snapshot(conn) == before
        where = dict(conn.execute(text("SELECT id, tableoid::regclass::text FROM checks")).all())
        assert sorted(where.values())[:2] == ["checks_p202506", "checks_p202507"]
        assert conn.execute(text("SELECT count(*) FROM checks_default")).scalar() == 0
        versions = conn.execute(text("SELECT DISTINCT tableoid::regclass::text FROM record_versions")).scalars()
        assert all(name.startswith("record_versions_h") for name in versions)
        # Every month from the oldest check (2025-06) to three months ahead has its partition.
        months = conn.execute(
            text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'checks'::regclass")
        ).scalar_one()
        today = dt.datetime.now(dt.UTC).date()
        assert months == (today.year - 2025) * 12 + today.month - 6 + 4 + 1  # + DEFAULT
        # The sequences go on where they were.
        next_id = conn.execute(text("SELECT nextval('checks_id_seq')")).scalar_one()
        assert next_id > max(r[0] for r in before["checks"])
    with db.session() as s:
        assert audit.verify_chain(s).ok
    db.dispose()

    downgrade(pg_url, BEFORE)
    db = Database(pg_url)
    with db.engine.connect() as conn:
        for table in ("audit_events", "checks", "record_versions"):
            assert relkind(conn, table) == "r"
        assert not [t for t in inspect(conn).get_table_names() if is_partition(t)]
        assert snapshot(conn) == before
        fks = {fk["name"] for fk in inspect(conn).get_foreign_keys("check_items")}
        assert "fk_check_items_check_id_checks" in fks
        pk = inspect(conn).get_pk_constraint("audit_events")
        assert pk["constrained_columns"] == ["id"]
        assert current_revision(conn) == BEFORE
    db.dispose()
    assert upgrade(pg_url) == head_revision()


@pytest.fixture
def migrated(migrated_url):
    db = Database(migrated_url)
    yield db
    db.dispose()


def test_rows_land_in_their_month_and_the_default_partition_takes_the_rest(migrated):
    now = dt.datetime.now(dt.UTC)
    far = dt.datetime(2040, 1, 15, 12, 0, tzinfo=dt.UTC)
    with migrated.engine.begin() as conn:
        current = add_check(conn, now)
        future = add_check(conn, far)
    with migrated.session() as s:
        audit.record(s, actor="alice", action="test.partition", entity_type="x")
    with migrated.engine.begin() as conn:
        where = dict(conn.execute(text("SELECT id, tableoid::regclass::text FROM checks")).all())
        assert where[current] == f"checks_p{now:%Y%m}"
        assert where[future] == "checks_default"
        assert (
            conn.execute(
                text("SELECT tableoid::regclass::text FROM audit_events WHERE action = 'test.partition'")
            ).scalar_one()
            == f"audit_events_p{now:%Y%m}"
        )
        # An audit event of a month without a partition (a clock far ahead) lands in DEFAULT too.
        head = conn.execute(text("SELECT count, last_hash FROM audit_chain_head")).one()
        conn.execute(
            text(
                "INSERT INTO audit_events (seq, at, actor, action, entity_type, prev_hash, hash) "
                "VALUES (:seq, :at, 'bob', 'test.future', 'x', :prev, :hash)"
            ),
            {"seq": head[0] + 1, "at": far, "prev": head[1], "hash": "f" * 64},
        )
        assert conn.execute(text("SELECT count(*) FROM audit_events_default")).scalar_one() == 1

        # The maintenance moves them into the month's own partition once it is created (append-only or not).
        report = ensure_partitions(conn, months_ahead=0, since=far.date(), today=far.date())
    by_table = {t["table"]: t for t in report["tables"]}
    assert by_table["checks"]["created"] == ["checks_p204001"]
    assert by_table["audit_events"]["created"] == ["audit_events_p204001"]
    assert by_table["checks"]["default_rows"] == by_table["audit_events"]["default_rows"] == 0
    with migrated.engine.connect() as conn:
        assert (
            conn.execute(text("SELECT tableoid::regclass::text FROM checks WHERE id = :i"), {"i": future}).scalar_one()
            == "checks_p204001"
        )
        assert conn.execute(text("SELECT count(*) FROM check_items WHERE check_id = :i"), {"i": future}).scalar() == 2
        assert (
            conn.execute(
                text("SELECT tableoid::regclass::text FROM audit_events WHERE action = 'test.future'")
            ).scalar_one()
            == "audit_events_p204001"
        )
        # The moved partition keeps the protections: the default partition's triggers are enabled again.
        disabled = conn.execute(
            text(
                "SELECT count(*) FROM pg_trigger WHERE tgrelid IN ('audit_events_default'::regclass, "
                "'checks_default'::regclass) AND tgenabled = 'D'"
            )
        ).scalar_one()
        assert disabled == 0
    # A second run creates nothing.
    with migrated.engine.begin() as conn:
        again = ensure_partitions(conn, months_ahead=0, since=far.date(), today=far.date())
    assert all(not t.get("created") for t in again["tables"])


def test_the_partitioned_audit_log_stays_append_only_and_unique(migrated):
    with migrated.session() as s:
        first = audit.record(s, actor="alice", action="a", entity_type="x")
        audit.record(s, actor="alice", action="b", entity_type="x")
        seq, hash_ = first.seq, first.hash
    for statement in ("UPDATE audit_events SET actor = 'mallory'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"), migrated.engine.begin() as conn:
            conn.execute(text(statement))
    # Directly on a partition, too.
    partition = f"audit_events_p{dt.datetime.now(dt.UTC):%Y%m}"
    with pytest.raises(DBAPIError, match="append-only"), migrated.engine.begin() as conn:
        conn.execute(text(f"DELETE FROM {partition}"))
    # seq and hash stay unique across months (a plain unique index of a partitioned table would only see one).
    other_month = dt.datetime(2019, 5, 1, tzinfo=dt.UTC)
    insert = text(
        "INSERT INTO audit_events (seq, at, actor, action, entity_type, prev_hash, hash) "
        "VALUES (:seq, :at, 'mallory', 'forged', 'x', :prev, :hash)"
    )
    with pytest.raises(IntegrityError, match="uq_audit_events_seq"), migrated.engine.begin() as conn:
        conn.execute(insert, {"seq": seq, "at": other_month, "prev": "0" * 64, "hash": "e" * 64})
    with pytest.raises(IntegrityError, match="uq_audit_events_hash"), migrated.engine.begin() as conn:
        conn.execute(insert, {"seq": 999, "at": other_month, "prev": "0" * 64, "hash": hash_})
    with pytest.raises(IntegrityError, match="pk_audit_events"), migrated.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_events (id, seq, at, actor, action, entity_type, prev_hash, hash) "
                "VALUES (:id, 998, :at, 'mallory', 'forged', 'x', :prev, :hash)"
            ),
            {"id": first.id, "at": other_month, "prev": "0" * 64, "hash": "d" * 64},
        )
    # The head must point at an event that exists.
    head_fk = "fk_audit_chain_head_last_event_id_audit_events"
    with pytest.raises(IntegrityError, match=head_fk), migrated.engine.begin() as conn:
        conn.execute(text("UPDATE audit_chain_head SET last_event_id = 987654"))
    with migrated.session() as s:
        report = audit.verify_chain(s)
        assert report.ok and report.events == 2


def test_references_to_checks_are_enforced(migrated):
    with migrated.engine.begin() as conn:
        referenced = add_check(conn, dt.datetime.now(dt.UTC))
        lonely = add_check(conn, dt.datetime(2024, 2, 29, tzinfo=dt.UTC), items=0)
    with pytest.raises(IntegrityError, match="fk_check_items_check_id_checks"), migrated.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO check_items (check_id, position, query, outcome, entry_ids, measure_codes) "
                "VALUES (424242, 0, '{}', 'not_found', '[]', '[]')"
            )
        )
    with pytest.raises(IntegrityError, match="fk_check_items_check_id_checks"), migrated.engine.begin() as conn:
        conn.execute(text("UPDATE check_items SET check_id = 424242"))
    with pytest.raises(IntegrityError, match="fk_check_feedback_check_id_checks"), migrated.engine.begin() as conn:
        conn.execute(text("UPDATE check_feedback SET check_id = 424242"))
    referenced_by = "fk_check_(items|feedback)_check_id_checks"
    with pytest.raises(IntegrityError, match=referenced_by), migrated.engine.begin() as conn:
        conn.execute(text("DELETE FROM checks WHERE id = :i"), {"i": referenced})
    with pytest.raises(IntegrityError, match=referenced_by), migrated.engine.begin() as conn:
        conn.execute(text("UPDATE checks SET id = 777 WHERE id = :i"), {"i": referenced})
    with migrated.engine.begin() as conn:  # without its feedback, the items still hold it
        conn.execute(text("DELETE FROM check_feedback"))
    with pytest.raises(IntegrityError, match="fk_check_items_check_id_checks"), migrated.engine.begin() as conn:
        conn.execute(text("DELETE FROM checks WHERE id = :i"), {"i": referenced})
    with migrated.engine.begin() as conn:
        assert conn.execute(text("DELETE FROM checks WHERE id = :i"), {"i": lonely}).rowcount == 1
        assert conn.execute(text("SELECT count(*) FROM checks")).scalar_one() == 1
        # Record versions: (record, version number) unique across the hash partitions.
        assert relkind(conn, "record_versions") == "p"


def test_partitions_command(migrated, migrated_url):
    runner = CliRunner()
    result = runner.invoke(cli.app, ["--db", migrated_url, "db", "partitions", "--months-ahead", "6", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    by_table = {t["table"]: t for t in report["tables"]}
    assert len(by_table["checks"]["created"]) == 3  # months 4 to 6 (the migration made 0 to 3)
    with migrated.engine.connect() as conn:
        names = {r[0] for r in conn.execute(text("SELECT inhrelid::regclass::text FROM pg_inherits"))}
    assert set(by_table["checks"]["created"]) <= names
    # A row the partitions do not cover: reported, non-zero exit until a partition takes it.
    earlier = (dt.datetime.now(dt.UTC).replace(day=1) - dt.timedelta(days=40)).replace(day=1)  # two months back
    with migrated.engine.begin() as conn:
        add_check(conn, earlier, items=0)
    result = runner.invoke(cli.app, ["--db", migrated_url, "db", "partitions", "--json"])
    assert result.exit_code == 1
    assert {t["table"]: t for t in json.loads(result.output)["tables"]}["checks"]["default_rows"] == 1
    result = runner.invoke(
        cli.app, ["--db", migrated_url, "db", "partitions", "--since", earlier.date().isoformat(), "--json"]
    )
    assert result.exit_code == 0, result.output
    # A database that cannot be reached: an error, not a report.
    bad = migrated_url.rsplit("/", 1)[0] + "/xinyong_no_such_database"
    assert runner.invoke(cli.app, ["--db", bad, "db", "partitions", "--json"]).exit_code != 0


def test_sqlite_is_left_alone(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert upgrade(url) == head_revision()
    result = CliRunner().invoke(cli.app, ["--db", url, "db", "partitions", "--json"])
    assert result.exit_code == 0, result.output
    assert all(not t["partitioned"] for t in json.loads(result.output)["tables"])
