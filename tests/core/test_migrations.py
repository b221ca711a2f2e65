"""The Alembic migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from tests.conftest import BACKENDS, PG_ADMIN_URL, REQUIRE_PG
from xinyong.core.db import Database, forget_databases
from xinyong.core.migrate import (
    current_revision,
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
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True,
                                                                      "include_object": include_object}), Base.metadata)
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
    with pytest.raises(Exception, match="append-only"):
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE audit_events SET actor = 'mallory'"))
    with pytest.raises(Exception, match="append-only"):
        with db.engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_events"))
    db.dispose()
