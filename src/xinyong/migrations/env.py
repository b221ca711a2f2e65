"""Alembic environment: the target is every model of the platform (``xinyong.models``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from xinyong.core.db import make_engine
from xinyong.core.migrate import include_object, migrating
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
    with engine.connect() as conn, migrating(conn):  # SQLite: foreign keys off meanwhile (core.migrate)
        _run(conn)
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
