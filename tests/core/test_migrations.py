"""The Alembic migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, literal, select, text

from tests.conftest import BACKENDS, PG_ADMIN_URL, REQUIRE_PG
from tests.records.helpers import BLOB
from xinyong.core.db import Database, forget_databases
from xinyong.core.migrate import (
    current_revision,
    downgrade,
    head_revision,
    include_object,
    upgrade,
)
from xinyong.models import Base


@pytest.fixture(params=BACKENDS)
def empty_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrate.db'}"
        return
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        admin.connect().close()
    except Exception:
        if REQUIRE_PG:
            raise
        pytest.skip("PostgreSQL not reachable")
    name = f"xinyong_mig_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    forget_databases()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_migrations_match_models(empty_url):
    assert upgrade(empty_url) == head_revision()
    db = Database(empty_url)
    with db.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True, "include_object": include_object}),
            Base.metadata,
        )
        assert diff == [], f"models and migrations differ: {diff}"
        assert current_revision(conn) == head_revision()
        assert set(inspect(conn).get_table_names()) >= {t.name for t in Base.metadata.sorted_tables}
    # Running it again is a no-op.
    assert upgrade(empty_url) == head_revision()
    db.dispose()


def test_migrated_audit_table_is_append_only(empty_url):
    from xinyong.core import audit

    upgrade(empty_url)
    db = Database(empty_url)
    with db.session() as s:
        audit.record(s, actor="test", action="x", entity_type="y")
    with pytest.raises(Exception, match="append-only"), db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'mallory'"))
    with pytest.raises(Exception, match="append-only"), db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events"))
    db.dispose()


def test_0010_registers_the_units_departments_already_submit_for(empty_url, monkeypatch):
    """Deploying the authority rule keeps existing departments working: migration 0010 registers, for each
    department, the authorities its records and commitments already name — never another department's own USCC
    (the case the rule closes) and never one named by two departments (the admin decides)."""
    import dataclasses
    import datetime as dt

    from tests.commitments.helpers import row as commitment_row
    from tests.factories import make_uscc
    from tests.records.helpers import ADMIN, digests_as_bytes, penalty, seed_catalog, writers_before_0025
    from xinyong.auth.models import Department, DepartmentAuthority
    from xinyong.commitments import service as commitments
    from xinyong.commitments.validate import map_headers
    from xinyong.commitments.validate import validate_row as validate_commitment
    from xinyong.core.db import utcnow
    from xinyong.records import upsert as records_upsert

    assert upgrade(empty_url, "0009") == "0009"
    from xinyong.core import hooks

    # Today's services on the 0009 schema: no exchange feed tables (0016) yet, so no feed producers either.
    monkeypatch.setattr(hooks, "audit_listeners", [])
    monkeypatch.setattr(hooks, "batch_listeners", [])
    writers_before_0025(monkeypatch)
    a_uscc, b_uscc, unit, shared, accepting = (make_uscc(7700 + i) for i in range(5))
    db = Database(empty_url)
    with db.engine.begin() as conn:  # the 0009 schema: the departments table as it was, filled directly
        for code, name, uscc in (("scjgj", "沁阳市市场监督管理局", a_uscc), ("swj", "沁阳市税务局", b_uscc)):
            conn.execute(
                Department.__table__.insert().values(code=code, name=name, uscc=uscc, active=True, created_at=utcnow())
            )
        # The catalog is seeded through today's models: give catalog_classes the columns later migrations add
        # (0014 share_lookback_years) for the seeding, and take them away again before the migrations run.
        conn.execute(text("ALTER TABLE catalog_classes ADD COLUMN share_lookback_years INTEGER"))
        # Likewise departments.external (0018), read by today's authority look-up.
        conn.execute(text("ALTER TABLE departments ADD COLUMN external BOOLEAN NOT NULL DEFAULT false"))
        # And credit_records.domain (0019), written by today's record upload; record_versions.packed (0025), read.
        conn.execute(text("ALTER TABLE credit_records ADD COLUMN domain VARCHAR(40)"))
        conn.execute(text(f"ALTER TABLE record_versions ADD COLUMN packed {BLOB[conn.dialect.name]}"))

    def decided(authority: str, code: str):  # noqa: ANN202
        return dataclasses.replace(penalty(), authority=authority, authority_uscc=code)

    with digests_as_bytes(db.engine), db.sessionmaker() as s:
        seed_catalog(s)
        a = s.scalar(select(Department).where(Department.code == "scjgj"))
        b = s.scalar(select(Department).where(Department.code == "swj"))
        records_upsert.upsert_records(
            s,
            actor=ADMIN,
            department_id=a.id,
            batch_id=None,
            received_at=utcnow(),
            rows=[
                decided("沁阳市市场监督管理局", a_uscc),  # its own: counts without a registration
                decided("沁阳市市场监督管理局城区分局", unit),
                decided("沁阳市市场监督管理局城区分局", unit),
                decided("城区分局", unit),  # a second spelling, used less
                decided("沁阳市市场监督管理局综合执法大队", shared),
            ],
        )
        records_upsert.upsert_records(
            s,
            actor=ADMIN,
            department_id=b.id,
            batch_id=None,
            received_at=utcnow(),
            rows=[
                decided("沁阳市市场监督管理局", a_uscc),  # B in A's name: the finding, never registered for B
                decided("综合执法大队", shared),
            ],
        )  # named by both departments: left to the admin
        data = commitment_row(1, **{"承诺受理单位": "沁阳市税务局第一税务分局", "承诺受理单位代码": accepting})
        hm, _ = map_headers(list(data))
        made, issues = validate_commitment(hm, 2, list(data.values()), today=dt.date(2024, 6, 1))
        assert made is not None, issues
        commitments.upsert_commitments(
            s, actor=ADMIN, department_id=b.id, batch_id=None, received_at=utcnow(), rows=[made]
        )
        s.commit()
        a_id, b_id = a.id, b.id
    with db.engine.begin() as conn:
        conn.execute(text("ALTER TABLE catalog_classes DROP COLUMN share_lookback_years"))
        conn.execute(text("ALTER TABLE departments DROP COLUMN external"))
        conn.execute(text("ALTER TABLE credit_records DROP COLUMN domain"))
        conn.execute(text("ALTER TABLE record_versions DROP COLUMN packed"))
    assert upgrade(empty_url) == head_revision()
    with db.sessionmaker() as s:
        got = {
            (r.department_id, r.uscc, r.name, r.added_by, bool(r.reason))
            for r in s.scalars(select(DepartmentAuthority))
        }
    assert got == {
        (a_id, unit, "沁阳市市场监督管理局城区分局", "migration:0010", True),
        (b_id, accepting, "沁阳市税务局第一税务分局", "migration:0010", True),
    }
    db.dispose()


def test_0026_stores_content_hashes_as_their_bytes(empty_url, monkeypatch):
    """Hashes written as hex text before 0026 become their 32 bytes, read back as the same hex; the same rows
    again are unchanged; the downgrade gives the text back."""
    import datetime as dt

    from tests.factories import make_department
    from tests.records.helpers import ADMIN, digests_as_bytes, licence, penalty, seed_catalog, writers_before_0025
    from xinyong.records import upsert as records_upsert
    from xinyong.records.models import CreditRecord, RecordVersion

    assert upgrade(empty_url, "0025_packed_versions") == "0025_packed_versions"
    received = dt.datetime(2024, 3, 20, 2, 0, tzinfo=dt.UTC)

    def rows() -> list:
        return [penalty(doc="罚1"), penalty(doc="罚2", row=3), licence(doc="许1", row=4)]

    def store(s, dept_id: int):  # noqa: ANN202
        return records_upsert.upsert_records(
            s, actor=ADMIN, department_id=dept_id, batch_id=None, received_at=received, rows=rows()
        )

    def raw(conn) -> dict[str, list]:  # noqa: ANN001
        return {
            t: [tuple(r) for r in conn.exec_driver_sql(f"SELECT id, content_hash FROM {t} ORDER BY id")]
            for t in ("credit_records", "record_versions")
        }

    db = Database(empty_url)
    with monkeypatch.context() as old:
        writers_before_0025(old)
        with digests_as_bytes(db.engine), db.sessionmaker() as s:
            seed_catalog(s)
            dept_id = make_department(s, code="scjgj").id
            assert store(s, dept_id).created == 3
            s.commit()
    with db.engine.connect() as conn:
        before = raw(conn)
    assert all(isinstance(h, str) and len(h) == 64 for t in before.values() for _, h in t)

    assert upgrade(empty_url) == head_revision()
    with db.engine.connect() as conn:
        after = raw(conn)
    assert {t: [(i, bytes(h).hex()) for i, h in v] for t, v in after.items()} == before
    assert all(len(bytes(h)) == 32 for t in after.values() for _, h in t)
    with db.sessionmaker() as s:
        read = {
            t.__tablename__: [tuple(r) for r in s.execute(select(t.id, t.content_hash).order_by(t.id))]
            for t in (CreditRecord, RecordVersion)
        }
        assert read == before
        for engine in ("row", "bulk"):  # both writers compare a stored hash with a new one
            again = records_upsert.upsert_records(
                s, actor=ADMIN, department_id=dept_id, batch_id=None, received_at=received, rows=rows(), engine=engine
            )
            assert again.unchanged == 3, again.outcomes
        s.commit()

    downgrade(empty_url, "0025_packed_versions")
    with db.engine.connect() as conn:
        assert raw(conn) == before
    db.dispose()


def _migration_0022():  # noqa: ANN202
    import importlib.util

    from xinyong.core.migrate import MIGRATIONS_DIR

    spec = importlib.util.spec_from_file_location("m0022", MIGRATIONS_DIR / "versions" / "0022_compact_versions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_0022_stores_versions_compactly_and_every_reader_sees_them_as_before(empty_url, monkeypatch):
    """Versions written in the full form under 0021 (today's upsert with the compaction switched off: what the
    writer stored before issue #19) are rewritten compactly by 0022; read through records.versions (the ORM, the
    views, the columns) they are what they were, resubmitting the same rows is still ``unchanged``, and the
    downgrade stores the full form again. Both ways are idempotent."""
    import datetime as dt

    from tests.factories import make_department
    from tests.records.helpers import (
        ADMIN,
        PERSON_ID,
        contract,
        digests_as_bytes,
        licence,
        penalty,
        seed_catalog,
        writers_before_0025,
    )
    from xinyong.catalog.rules import PartyKind
    from xinyong.records import queries, versions, views
    from xinyong.records import service as records_service
    from xinyong.records import upsert as records_upsert
    from xinyong.records.inputs import RecordInput
    from xinyong.records.models import RecordVersion

    assert upgrade(empty_url, "0021_exchange_rejections") == "0021_exchange_rejections"
    received = dt.datetime(2024, 3, 20, 2, 0, tzinfo=dt.UTC)

    def rows() -> list[RecordInput]:
        return [
            penalty(doc="罚1", data={"party_name": "沁阳市宏达机械有限公司", "fine_wan": "1.5"}),
            penalty(doc="罚2", fine_wan=None, types=[], row=3),
            licence(doc="许1", row=4),
            penalty(doc="罚人", party="张三", kind=PartyKind.NATURAL_PERSON, id_number=PERSON_ID, row=5),
            contract(row=6),
        ]

    def store(s, dept_id: int, batch: list[RecordInput]):  # noqa: ANN202
        return records_upsert.upsert_records(
            s, actor=ADMIN, department_id=dept_id, batch_id=None, received_at=received, rows=batch
        )

    def stored(s, packed: bool = True) -> dict[int, tuple]:  # noqa: ANN202  (packed documents unpacked)
        v = RecordVersion
        p = v.packed if packed else literal(None)  # no such column before 0025
        q = select(v.id, v.version_no, v.content, v.data, p, v.changed_fields).order_by(v.id)
        return {vid: (n, *versions.documents(c, d, p), ch) for vid, n, c, d, p, ch in s.execute(q)}

    def history_views(s, record_ids: list[int]) -> list[dict]:  # noqa: ANN202
        s.expire_all()
        return [views.version_view(v) for rid in record_ids for v in queries.record_history(s, rid)]

    db = Database(empty_url)
    with db.engine.begin() as conn:  # read by today's model (0025): there until the upgrade
        conn.execute(text(f"ALTER TABLE record_versions ADD COLUMN packed {BLOB[conn.dialect.name]}"))
    # The writer as it was: full content, full data, a first version's changed fields listing every field.
    with monkeypatch.context() as old:
        writers_before_0025(old)
        old.setattr(versions, "compact_content", lambda content: content)
        old.setattr(versions, "compact_data", lambda content, data: data)
        old.setattr(versions, "compact_changed_fields", lambda number, changed, content: changed)
        old.setattr(versions, "compact", lambda number, content, data, changed: (content, data, changed))
        with digests_as_bytes(db.engine), db.sessionmaker() as s:
            seed_catalog(s)
            dept_id = make_department(s, code="scjgj").id
            first = store(s, dept_id, rows())
            assert first.created == 5, first.outcomes
            changed_rows = rows()
            changed_rows[0].fine_wan = changed_rows[0].fine_wan * 2
            assert store(s, dept_id, changed_rows[:1]).updated == 1
            record_ids = [o.record_id for o in first.outcomes]
            records_service.correct_record(
                s, actor=ADMIN, record_id=record_ids[1], changes={"party_name": "沁阳市宏达公司"}, reason="核实更正"
            )
            s.commit()
            before = stored(s)
            viewed = history_views(s, record_ids)
    assert len(before) == 7
    assert all((len(c) >= len(versions.CONTENT_FIELDS) and n > 1) or ch == sorted(c) for n, c, _, ch in before.values())
    with db.engine.begin() as conn:
        conn.execute(text("ALTER TABLE record_versions DROP COLUMN packed"))

    assert upgrade(empty_url) == head_revision()
    with db.sessionmaker() as s:
        after = stored(s)
        assert after.keys() == before.keys()
        for vid, (n, c, d, ch) in after.items():
            assert versions.full(n, c, d, ch) == before[vid][1:], vid  # read back: what it was
            assert versions.compact(*before[vid]) == (c, d, ch), vid  # stored: the form today's writer makes
            assert None not in c.values() and (n > 1 or ch == [])
        assert sum(len(str(r)) for r in after.values()) < 0.6 * sum(len(str(r)) for r in before.values())
        assert history_views(s, record_ids) == viewed
        # The same rows again: unchanged (the hash is the full content's); a change: a new version, its diff.
        again = store(s, dept_id, rows())
        # 罚1 back to the fine of its version 1, 罚2 to the name its correction changed; the others unchanged.
        assert (again.unchanged, again.updated) == (3, 2)
        s.commit()
        s.expire_all()
        fine, name = (queries.record_history(s, rid)[-1] for rid in record_ids[:2])
        assert (fine.version_no, fine.changed_fields, fine.content["fine_wan"]) == (3, ["fine_wan"], "1.5")
        assert (name.version_no, name.changed_fields) == (3, ["party_name"])
        assert history_views(s, record_ids[2:]) == viewed[4:]  # records 1 and 2 had two versions each
        migration = _migration_0022()
        with db.engine.begin() as conn:
            assert migration.rewrite(conn, compact=True) == 0  # idempotent
        compacted = stored(s)

    downgrade(empty_url, "0021_exchange_rejections")
    with db.sessionmaker() as s:
        full_again = stored(s, packed=False)
        assert {vid: full_again[vid] for vid in before} == before
        for vid, row in compacted.items():
            assert full_again[vid] == (row[0], *versions.full(*row))
        with db.engine.begin() as conn:
            assert migration.rewrite(conn, compact=False) == 0
    db.dispose()
