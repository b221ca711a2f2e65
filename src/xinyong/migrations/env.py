"""Alembic environment: the target is every model of the platform (``xinyong.models``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from xinyong.core.db import make_engine
from xinyong.core.migrate import include_object
from xinyong.models import Base
from xinyong.wiring import wire

wire()  # Alembic's own entry point (``alembic upgrade``): data migrations may write sealed columns

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from xinyong.core.settings import get_settings

        url = get_settings().resolved_database_url
    engine = make_engine(url)
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None  # checked out
        if conn.dialect.name == "sqlite":
            # Batch ALTERs on SQLite copy and replace the table; with foreign keys enforced, dropping a referenced
            # table fails. The pragma only takes effect outside a transaction; the batch operations then check
            # the constraints themselves (PRAGMA foreign_key_check below).
            # On the driver's connection: through SQLAlchemy the statement would first begin a transaction
            # (core.db's BEGIN), inside which SQLite ignores the pragma.
            if conn.in_transaction():
                conn.commit()
            raw.execute("PRAGMA foreign_keys=OFF")
        _run(conn)
        conn.commit()
        if conn.dialect.name == "sqlite":
            broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            conn.commit()
            raw.execute("PRAGMA foreign_keys=ON")
            if broken:
                raise RuntimeError(f"foreign key violations after migration: {broken[:5]}")
    engine.dispose()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `xinyong db upgrade`")
run_migrations()
