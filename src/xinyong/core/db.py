"""Database engine, sessions and the declarative base.

``XINYONG_DATABASE_URL`` chooses the database: an SQLite file by default (WAL journal, foreign keys on,
a busy timeout so that concurrent writers wait instead of failing) or PostgreSQL
(``postgresql+psycopg://user@host/db``) in production. Models use only portable types from this module so the
same code and the same tests run on both.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Integer,
    MetaData,
    Text,
    TypeDecorator,
    create_engine,
    event,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from xinyong.core.settings import get_settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Portable column types ---------------------------------------------------------------------------------------

#: 64-bit primary keys on PostgreSQL; SQLite needs INTEGER for its rowid alias (autoincrement).
BigId = BigInteger().with_variant(Integer(), "sqlite")

#: JSON document, JSONB on PostgreSQL.
Json = JSON().with_variant(JSONB(), "postgresql")


class Sealed(TypeDecorator):
    """Personal data sealed at rest (AES-GCM with the vault's key): a database dump shows ciphertext only.

    Transparent to the ORM (strings in, strings out). The ciphertext is random, so a sealed column cannot be
    searched or compared in SQL: use it for contacts, names of reporters and the like, never for look-up keys.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        if value is None:
            return None
        from xinyong.identifiers.vault import get_vault

        return get_vault().encrypt(value, associated_data="sealed")

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        if value is None:
            return None
        from xinyong.identifiers.vault import get_vault

        return get_vault().decrypt(value, associated_data="sealed")


class UTCDateTime(TypeDecorator):
    """A timestamp that is always timezone-aware UTC in Python, whatever the database stores."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# Engines and sessions ----------------------------------------------------------------------------------------


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str, *, explicit_begin: bool = True, **kwargs: Any) -> Engine:
    """An engine for ``url``. On SQLite, ``explicit_begin=False`` leaves out the ``BEGIN`` this module issues at
    the start of each SQLAlchemy transaction: every statement is then its own transaction (autocommit), for
    readers that need no snapshot across statements (``Database.statement_engine``)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"check_same_thread": False})
        if path and path != ":memory:":
            # The web server's thread pool runs up to 40 requests at once: keep their connections open rather than
            # opening (and setting pragmas on) a new one per request beyond the default five.
            kwargs.setdefault("pool_size", 20)
            kwargs.setdefault("max_overflow", 20)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; take it over so that a transaction that will write
        # takes the write lock at its first statement of that kind and savepoints work.
        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

        if not explicit_begin:
            return engine

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN")
            # Lets callers ask whether this transaction has written yet (see has_written).
            conn.info["changes_at_begin"] = conn.connection.dbapi_connection.total_changes

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def has_written(session: Session) -> bool:
    """Whether the session's current SQLite transaction has already written (and so holds the write lock).

    A SQLite transaction that has only read cannot take the write lock once another writer has committed since
    its first read ("database is locked" at once, no busy wait); code that must write after reading under
    concurrency writes in a transaction of its own — unless this one already holds the lock, where a second
    transaction would wait for it forever. Always ``True`` on other databases (no such limitation there).
    """
    if session.get_bind().dialect.name != "sqlite":
        return True
    if not session.in_transaction():
        return False
    conn = session.connection()
    start = conn.info.get("changes_at_begin")
    return start is None or conn.connection.dbapi_connection.total_changes > start


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        self._statement_engine: Engine | None = None
        self._statement_lock = threading.Lock()

    @property
    def statement_engine(self) -> Engine:
        """A second, small pool for the hottest path (the credit check) whose connections are in autocommit:
        each statement is its own transaction, with no ``BEGIN``/``COMMIT`` (round trips on PostgreSQL,
        SQLAlchemy's transaction bookkeeping on both). A caller writes in one statement or opens a transaction
        on the driver. On PostgreSQL its connections are not pinged at checkout (one more round trip): a caller
        must handle a pooled connection found dead — ``measures.check.check_and_record`` retries once when
        nothing was written yet."""
        if self._statement_engine is None:
            with self._statement_lock:
                if self._statement_engine is None:
                    if self.engine.dialect.name == "sqlite":
                        self._statement_engine = make_engine(self.url, explicit_begin=False, pool_size=4,
                                                             max_overflow=4)
                    else:
                        self._statement_engine = make_engine(self.url, pool_pre_ping=False, pool_size=4,
                                                             max_overflow=4, isolation_level="AUTOCOMMIT")
        return self._statement_engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed when the block ends, rolled back on error."""
        with self.sessionmaker() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
        if self._statement_engine is not None:
            self._statement_engine.dispose()


_databases: dict[str, Database] = {}


def get_database(url: str | None = None) -> Database:
    url = url or get_settings().resolved_database_url
    db = _databases.get(url)
    if db is None:
        db = _databases[url] = Database(url)
    return db


def forget_databases() -> None:
    for db in _databases.values():
        db.dispose()
    _databases.clear()
