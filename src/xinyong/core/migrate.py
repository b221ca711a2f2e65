"""Schema migrations (Alembic), run by ``xinyong db upgrade`` and at the start of ``xinyong demo``/``serve``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from xinyong.core.db import get_database
from xinyong.core.partitions import TRIGGER_ENFORCED, is_partition

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@contextmanager
def migrating(conn: Connection) -> Iterator[None]:
    """One transaction on ``conn`` for migrations. On SQLite with foreign keys off — batch ALTERs copy and replace a
    table, and dropping one that others reference fails with them on — set on the driver's connection before the
    transaction (inside one SQLite ignores the pragma, and through SQLAlchemy the statement would begin one), and
    checked with ``PRAGMA foreign_key_check`` before the commit."""
    sqlite = conn.dialect.name == "sqlite"
    raw = conn.connection.dbapi_connection
    assert raw is not None  # checked out
    if conn.in_transaction():
        conn.commit()
    if sqlite:
        raw.execute("PRAGMA foreign_keys=OFF")
    try:
        with conn.begin():
            yield
            if sqlite and (broken := conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()):
                raise RuntimeError(f"foreign key violations after migration: {broken[:5]}")
    finally:
        if sqlite:
            raw.execute("PRAGMA foreign_keys=ON")


def _migrate(url: str, step: Any, revision: str) -> str | None:
    """Run alembic's ``step`` (``command.upgrade`` / ``command.downgrade``) to ``revision`` on the database at ``url``,
    in one transaction; returns the revision it is at."""
    db = get_database(url)
    with db.engine.connect() as conn, migrating(conn):
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        step(cfg, revision)
    with db.engine.connect() as conn:
        return current_revision(conn)


def upgrade(url: str, revision: str = "head") -> str | None:
    """Migrate the database at ``url`` up to ``revision`` (the head by default); returns the revision it is at."""
    return _migrate(url, command.upgrade, revision)


def downgrade(url: str, revision: str) -> str | None:
    """Migrate the database at ``url`` down to ``revision``; returns the revision it is at."""
    return _migrate(url, command.downgrade, revision)


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


#: Database objects made by raw DDL in migrations, outside the models (search indexes): autogenerate ignores them.
UNMODELLED_TABLE_PREFIXES = ("subjects_fts", "subjects_bigram")
UNMODELLED_INDEXES = frozenset({"ix_subjects_name_norm_trgm", "ix_subjects_name_norm_bigram"})


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic ``include_object`` hook: leave the search index objects to their own migration, and the partitions
    and trigger-enforced constraints of PostgreSQL's partitioned tables (``core.partitions``) to migration 0023."""
    if type_ == "table" and name and (name.startswith(UNMODELLED_TABLE_PREFIXES) or is_partition(name)):
        return False
    if type_ in ("unique_constraint", "foreign_key_constraint") and name in TRIGGER_ENFORCED:
        return False
    return not (type_ == "index" and name in UNMODELLED_INDEXES)
