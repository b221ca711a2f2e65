"""Database engine, sessions, units of work and the declarative base.

``XINYONG_DATABASE_URL`` chooses the database: an SQLite file by default (WAL journal, foreign keys on) or
PostgreSQL (``postgresql+psycopg://user@host/db``) in production. Models use only portable types from this module
so the same code and the same tests run on both.

Write transactions (docs/architecture.md §7, "Transactions and concurrency"):
- **SQLite** has one writer at a time. A transaction that began with a plain (deferred) ``BEGIN``, read, and then
  writes after another connection committed fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT: its
  snapshot is stale, so waiting cannot help and the busy timeout is not used). A *write* transaction therefore
  begins ``BEGIN IMMEDIATE``: it takes the write lock at its first statement, waiting for it up to the busy
  timeout (``XINYONG_DB_BUSY_TIMEOUT``), so writers queue instead of failing. ``Database.session()`` (write by
  default), :meth:`Database.run` and the request session of every non-GET request (``auth.deps``) are write
  transactions; GET/HEAD requests and ``Database.session(write=False)`` are deferred readers (in WAL mode readers
  never wait for the writer and never block it).
- **PostgreSQL**: read committed, as before. Code that creates rows other transactions may create at the same time
  inserts with ``ON CONFLICT DO NOTHING`` and takes its locks in key order (``subjects.service.upsert_subjects``,
  ``records.service``).
- What is left — a deadlock (40P01) or serialisation failure (40001) on PostgreSQL, "database is locked" on SQLite
  — is **transient**: :func:`is_transient` recognises it and the unit of work is run again with back-off
  (:func:`run_with_retries`: :meth:`Database.run` for jobs and the CLI, ``web.transactions`` for HTTP requests),
  at most ``XINYONG_DB_RETRIES`` times and never once the busy timeout has passed since the first attempt. Past
  that bound the caller gets :class:`~xinyong.core.errors.Busy` (HTTP 503 with ``Retry-After``, exit status 2 in
  the CLI), never an internal error.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import random
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

try:
    import fcntl
except ImportError:  # not on Windows: writers of several processes then meet in SQLite's busy handler only
    fcntl = None  # type: ignore[assignment]

from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    TypeDecorator,
    create_engine,
    event,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from xinyong.core import hooks
from xinyong.core.errors import Busy
from xinyong.core.settings import get_settings

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Keys per ``IN (...)`` look-up: below SQLite's bound-parameter limit (999 on old builds), one constant for all.
IN_CHUNK = 900

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    if TYPE_CHECKING:
        # Every model is mapped to one Table (none to a join or a select): typed so, for the bulk helpers and update().
        __table__: ClassVar[Table]


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
        return hooks.sealer().encrypt(value, associated_data="sealed")

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        if value is None:
            return None
        return hooks.sealer().decrypt(value, associated_data="sealed")


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


def digest_bytes(value: str | None) -> bytes | None:
    """A :class:`Digest`'s stored form (also what ``core.bulk`` hands the driver)."""
    return None if value is None else bytes.fromhex(value)


class Digest(TypeDecorator):
    """A SHA-256 digest: its 64 hex characters in Python, its 32 bytes in the database (issue #19: a record's and
    its version's content hashes were ≈ 130 of its bytes as text)."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> bytes | None:
        return digest_bytes(value)

    def process_result_value(self, value: bytes | None, dialect: Any) -> str | None:
        return None if value is None else bytes(value).hex()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# Engines and sessions ----------------------------------------------------------------------------------------


class DatabaseSettings(BaseSettings):
    """How transactions wait and retry (environment ``XINYONG_DB_…``)."""

    model_config = SettingsConfigDict(env_prefix="XINYONG_DB_", env_file=".env", extra="ignore")

    #: Seconds an SQLite write transaction waits for the write lock (``PRAGMA busy_timeout``); also the time after
    #: the first attempt beyond which a unit of work is not tried again.
    busy_timeout: float = 30.0
    #: Further attempts of a unit of work that met a transient conflict (deadlock, serialisation failure, locked).
    retries: int = 4
    #: The first pause before trying again (seconds); doubled on each attempt, with jitter.
    retry_backoff: float = 0.05


@lru_cache
def get_db_settings() -> DatabaseSettings:
    return DatabaseSettings()


#: Execution option of a connection whose transactions begin ``BEGIN IMMEDIATE`` on SQLite (see the module's doc).
WRITE_OPTION = "xinyong_write"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={int(get_db_settings().busy_timeout * 1000)}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str, *, explicit_begin: bool = True, **kwargs: Any) -> Engine:
    """An engine for ``url``. On SQLite, ``explicit_begin=False`` leaves out the ``BEGIN`` this module issues at
    the start of each SQLAlchemy transaction: every statement is then its own transaction (autocommit), for
    readers that need no snapshot across statements (``Database.statement_engine``). Otherwise a transaction
    begins ``BEGIN IMMEDIATE`` on a connection with the execution option ``xinyong_write`` (``Database.writer``)
    and a deferred ``BEGIN`` on any other."""
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

        # pysqlite's own transaction handling defers BEGIN; take it over so that a write transaction takes the
        # write lock at its first statement and savepoints work.
        @event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

        if not explicit_begin:
            return engine

        turn = write_turn(path)

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            options = conn.get_execution_options()
            immediate = bool(options.get(WRITE_OPTION))
            if immediate:
                _take_turn(conn.info, turn, bulk=bool(options.get(BULK_OPTION)))
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
            except BaseException:
                _end_turn(conn.info)
                raise
            # Lets callers ask whether this transaction holds the write lock (see holds_write_lock).
            conn.info["immediate"] = immediate
            conn.info["changes_at_begin"] = conn.connection.dbapi_connection.total_changes

        # The turn is handed on once the transaction has ended, not just before (these events come before the
        # driver's commit or rollback, which is then a no-op: the connection is in autocommit again).
        @event.listens_for(engine, "commit")
        def _commit(conn: Any) -> None:
            if "turn" in conn.info:
                conn.connection.driver_connection.execute("COMMIT")
                _end_turn(conn.info)

        @event.listens_for(engine, "rollback")
        def _rollback(conn: Any) -> None:
            if "turn" in conn.info:
                driver = conn.connection.driver_connection
                try:
                    if driver.in_transaction:
                        driver.execute("ROLLBACK")
                finally:
                    _end_turn(conn.info)

        @event.listens_for(engine, "checkin")
        @event.listens_for(engine, "invalidate")
        def _returned(_dbapi_conn: Any, record: Any, *_args: Any) -> None:
            _end_turn(record.info)  # a transaction that ended without either (a connection lost)

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


class _Turn:
    """The write transactions on one SQLite file, one at a time: short ones first within a process, and across
    the server's processes through a file lock.

    A *bulk* writer (a collection batch: ``BULK_OPTION``) holds the write lock for as long as it writes; every other
    writer (a check's record, a withdrawal, a login) holds it for milliseconds. When the lock is released, a waiting
    short writer goes before a waiting bulk writer, so a check waits for at most the one batch that is writing, not
    for every batch queued before it — unless a bulk writer has waited ``BULK_PATIENCE`` seconds already: then it
    goes next, so that a steady stream of checks cannot starve an upload. Between processes the holder of the turn
    also holds an exclusive ``flock`` on ``<database>-writers.lock``; a process waiting for it tries again every
    millisecond (short writers) or ten (bulk), up to the busy timeout — not every 100 ms as SQLite's busy handler
    does, and short writers before bulk ones.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.cond = threading.Condition(threading.Lock())
        self.held = False
        self.short_waiting = 0
        self.overdue = 0  # bulk writers that have waited BULK_PATIENCE or more
        self._fd: tuple[int, int] | None = None  # (pid, descriptor) of the lock file

    def acquire(self, *, bulk: bool, timeout: float) -> bool:
        start = time.monotonic()
        deadline = start + timeout
        if not self._acquire_here(bulk, start, deadline):
            return False
        if self._lock_file(bulk, deadline):
            return True
        self.release_here()
        return False

    def release(self) -> None:
        fd = self._descriptor()
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
        self.release_here()

    def release_here(self) -> None:
        with self.cond:
            self.held = False
            self.cond.notify_all()

    def _acquire_here(self, bulk: bool, start: float, deadline: float) -> bool:
        late = False
        with self.cond:
            if not bulk:
                self.short_waiting += 1
            try:
                while True:
                    now = time.monotonic()
                    if bulk and not late and now - start >= BULK_PATIENCE:
                        late = True
                        self.overdue += 1
                    if not self.held and (late or self.short_waiting == 0 if bulk else self.overdue == 0):
                        self.held = True
                        return True
                    if now >= deadline:
                        return False
                    wait = deadline - now
                    if bulk and not late:
                        wait = min(wait, start + BULK_PATIENCE - now)
                    self.cond.wait(max(wait, 0.001))
            finally:
                if bulk and late:
                    self.overdue -= 1
                if not bulk:
                    self.short_waiting -= 1
                self.cond.notify_all()  # the others look again: a waiter that left may have been in their way

    def _descriptor(self) -> int | None:
        """This process's descriptor of the lock file (a forked child opens its own: a shared open file would
        share the lock); None for an in-memory database or without ``fcntl``."""
        if fcntl is None or not self.path or self.path == ":memory:" or self.path.startswith("file:"):
            return None
        pid = os.getpid()
        if self._fd is None or self._fd[0] != pid:
            self._fd = (pid, os.open(f"{self.path}-writers.lock", os.O_RDWR | os.O_CREAT, 0o600))
        return self._fd[1]

    def _close(self) -> None:
        if self._fd is not None and self._fd[0] == os.getpid():
            os.close(self._fd[1])
        self._fd = None

    def _lock_file(self, bulk: bool, deadline: float) -> bool:
        fd = self._descriptor()
        if fd is None:
            return True
        step = 0.01 if bulk else 0.001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(step)


#: Execution option of a write transaction that holds the lock for a long time (a collection batch writing).
BULK_OPTION = "xinyong_bulk"
#: Seconds a bulk writer lets short writers go first before it takes the next turn itself.
BULK_PATIENCE = 1.0

_turns: dict[str, _Turn] = {}
_turns_lock = threading.Lock()


def write_turn(path: str) -> _Turn:
    """The turn of the write transactions on the SQLite file ``path`` (see :class:`_Turn`).

    A write transaction waits for its turn here, then for the write lock (``BEGIN IMMEDIATE``), which is then
    free unless a process that does not take turns (an older version, the ``sqlite3`` shell) holds it. Left to
    SQLite's busy handler alone, waiting writers poll the lock with sleeps growing to 100 ms, a writer that has
    just started waiting (polling every few milliseconds) overtakes one that has waited for seconds, and nothing
    tells a check from a batch: checks starved behind uploads (docs/performance.md, ``bench/concurrency.py``)."""
    with _turns_lock:
        turn = _turns.get(path)
        if turn is None:
            if len(_turns) >= 64:  # many databases in one process (the tests): forget the idle ones
                for key in [k for k, t in _turns.items() if not t.held]:
                    _turns.pop(key)._close()
            turn = _turns[path] = _Turn(path)
        return turn


def _take_turn(info: dict[str, Any], turn: _Turn, *, bulk: bool = False) -> None:
    if not turn.acquire(bulk=bulk, timeout=get_db_settings().busy_timeout):
        raise sqlite3.OperationalError("database is locked (no write turn within the busy timeout)")
    info["turn"] = turn


def _end_turn(info: dict[str, Any]) -> None:
    turn = info.pop("turn", None)
    if turn is not None:
        turn.release()


@contextlib.contextmanager
def turn_of(engine: Engine) -> Iterator[None]:
    """Hold this process's write turn of an SQLite engine's file (for a write transaction begun on the driver)."""
    if engine.dialect.name != "sqlite":
        yield
        return
    info: dict[str, Any] = {}
    _take_turn(info, write_turn(engine.url.database or ""))
    try:
        yield
    finally:
        _end_turn(info)


def mark_bulk(session: Session) -> None:
    """Declare the session's coming write transaction a bulk one (call before its first statement): on SQLite it
    lets short writers go first while it waits for its turn (:class:`_Turn`).

    On PostgreSQL the transaction plans every statement for its own values (``plan_cache_mode =
    force_custom_plan``, for this transaction only). psycopg prepares a statement on the server after its fifth
    run, and PostgreSQL then keeps a generic plan made when the tables were as small as a load's first chunks
    found them: in a 1M-row collection the subjects' look-up by ``uscc IN (…900 values)`` stayed a sequential
    scan comparing each row with all 900 parameters — 2 s per chunk by the end, the load quadratic
    (docs/performance.md, "Collection"). A custom plan costs a fraction of a millisecond per statement.

    Also on PostgreSQL, bulk transactions take turns: each first takes one transaction-level advisory lock
    (:data:`BULK_LOCK`), held to its commit. A bulk writer takes its keys — subjects, related persons, records —
    chunk by chunk, each chunk in key order, but not in one order over the whole batch: two batches naming the same
    companies in different chunks deadlocked, and one of them was rolled back whole (``bench/parallel_ingest.py``,
    two departments' 100,000-row files at once, before and after ``core.batches.Deferred``). Short writers — the
    check, the console, logged reads — do not take it, and a collection batch holds the audit chain's and the feed's
    heads only at its end, so they are not behind a batch."""
    conn = _held_connection(session)
    if conn is None:
        conn = session.connection(execution_options={BULK_OPTION: True})
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({BULK_LOCK}, 0)")


def holds_write_lock(session: Session) -> bool:
    """Whether the session's current SQLite transaction holds the write lock: it began ``BEGIN IMMEDIATE`` or has
    already written — or has not begun yet and will begin ``BEGIN IMMEDIATE`` (a write session).

    A deferred SQLite transaction that has only read cannot take the write lock once another writer has committed
    since its first read ("database is locked" at once, no busy wait); code that must write after reading in such
    a transaction writes in a transaction of its own — unless this one holds the lock, where a second transaction
    would wait for it until the busy timeout. Always ``True`` on other databases (no such limitation there).
    """
    if session.get_bind().dialect.name != "sqlite":
        return True
    conn = _held_connection(session)
    if conn is None:  # no statement yet: a write transaction will take the lock at its first one
        return bool(session.get_bind().get_execution_options().get(WRITE_OPTION))
    return bool(conn.info.get("immediate")) or has_written(session)


def _held_connection(session: Session) -> Any:
    """The connection the session's transaction holds, or None when it has run no statement yet (asking
    ``session.connection()`` would begin the transaction — and on SQLite take the write lock)."""
    trans = session.get_transaction()
    for held in (getattr(trans, "_connections", None) or {}).values():
        return held[0]
    return None


def has_written(session: Session) -> bool:
    """Whether the session's current SQLite transaction has written anything yet (``True`` on other databases,
    where nothing depends on it). Begins nothing."""
    if session.get_bind().dialect.name != "sqlite":
        return True
    conn = _held_connection(session)
    if conn is None:
        return False
    start = conn.info.get("changes_at_begin")
    return start is None or conn.connection.dbapi_connection.total_changes > start


@contextlib.contextmanager
def write_lock_released(session: Session) -> Iterator[None]:
    """Let a transaction of its own write while ``session``'s write transaction is open but has written nothing
    (SQLite): the session's transaction, which holds the write lock since its ``BEGIN IMMEDIATE``, is committed on
    the driver for the duration (it has nothing to lose) and begins ``BEGIN IMMEDIATE`` again afterwards, so the
    session goes on as a write transaction. Otherwise nothing happens: on PostgreSQL, for a reader, for a session
    that has not begun — and for one that has written, whose lock the other transaction will wait for (write
    before, not after, calling code that needs this)."""
    conn = _held_connection(session)
    if conn is None or conn.dialect.name != "sqlite" or not conn.info.get("immediate") or has_written(session):
        yield
        return
    driver = conn.connection.driver_connection
    driver.execute("COMMIT")
    turn = conn.info.get("turn")
    _end_turn(conn.info)
    try:
        yield
    finally:
        if turn is not None:
            _take_turn(conn.info, turn)
        driver.execute("BEGIN IMMEDIATE")
        conn.info["changes_at_begin"] = driver.total_changes


@contextlib.contextmanager
def reading_apart(session: Session) -> Iterator[Session]:
    """A session to read with before ``session`` writes, so that reading (a batch's authorities and file, an
    analysis over every bid) does not hold the write lock — one rule for every long read that precedes a write:

    - ``session``'s transaction has not begun: a short reader of its own on the same database, on every database.
      Asking ``session`` would begin its transaction early — on SQLite ``BEGIN IMMEDIATE`` and the wait for the
      write turn; on PostgreSQL a transaction whose snapshot and locks then span the whole read (a batch's file
      must be read and validated *before* its transaction begins: the ordering test of
      ``tests/ingest/test_concurrent_batches.py``, which a version that answered ``session`` itself on PostgreSQL
      broke).
    - SQLite, ``session`` holds the write lock but has written nothing: its lock is set aside meanwhile
      (:func:`write_lock_released`) and the read goes to a deferred reader; ``session`` takes the lock again after.
    - otherwise (it has written — it must see its own rows; PostgreSQL, where readers never block writers):
      ``session`` itself.

    What a reader of its own sees is the committed state when it starts."""
    bind = session.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    reader_bind = (
        bind.execution_options(**{WRITE_OPTION: False})
        if sqlite and bind.get_execution_options().get(WRITE_OPTION)
        else bind
    )
    if _held_connection(session) is None:
        with Session(reader_bind) as reader, reader.begin():
            yield reader
        return
    if not sqlite or has_written(session):
        yield session
        return
    with write_lock_released(session), Session(bind=reader_bind) as reader:
        yield reader


#: The former name of :func:`reading_apart` (a batch reading what it needs before its write transaction).
reading_before_write = reading_apart


def writer_of(bind: Engine) -> Engine:
    """The engine whose transactions are write transactions (``BEGIN IMMEDIATE`` on SQLite), for code handed a
    session's bind that writes in transactions of its own (outboxes, one-time codes)."""
    if bind.dialect.name != "sqlite" or bind.get_execution_options().get(WRITE_OPTION):
        return bind
    return bind.execution_options(**{WRITE_OPTION: True})


def lock_keys(session: Session, family: str, keys: Iterable[str]) -> None:
    """Lock ``keys`` of one ``family`` (``"record"``: an issuing authority's decisions; ``"ingest_batch"``: a
    department's file) until the session's transaction ends, in one fixed order, so that two transactions that need
    overlapping keys queue on the first they share instead of deadlocking or violating a unique constraint.

    PostgreSQL: transaction-level advisory locks ``(family, stripe)``: each key falls in one of ``KEY_STRIPES``
    stripes by a hash of its text, and the stripes are locked in ascending order in one statement. The bound keeps
    a large batch within PostgreSQL's shared lock table (one lock per key ran out of it at 100,000 rows); two keys in
    one stripe only make two writers wait for each other. Families have lock spaces of their own: a transaction takes
    them one after another (batch file, then records), never interleaved. SQLite: nothing to do — a write
    transaction holds the database's single write lock already."""
    if session.get_bind().dialect.name != "postgresql":
        return
    distinct = sorted(set(keys))
    if distinct:
        session.execute(
            _LOCK_KEYS, {"family": zlib.crc32(family.encode()) & 0x7FFFFFFF, "keys": distinct, "stripes": KEY_STRIPES}
        )


#: The advisory lock ``(BULK_LOCK, 0)`` bulk transactions take turns at on PostgreSQL (:func:`mark_bulk`); a lock
#: space of its own, as :func:`lock_keys` gives each family (the CRC-32 of its name).
BULK_LOCK = zlib.crc32(b"bulk_writer") & 0x7FFFFFFF

#: Advisory lock stripes per key family (see :func:`lock_keys`).
KEY_STRIPES = 256
_LOCK_KEYS = text(
    "SELECT count(pg_advisory_xact_lock(CAST(:family AS INTEGER), stripe)) FROM "
    "(SELECT DISTINCT CAST(abs(hashtextextended(k, 0) % :stripes) AS INTEGER) AS stripe "
    "FROM unnest(CAST(:keys AS TEXT[])) AS k ORDER BY stripe) AS ordered"
)


# Transient conflicts and retries -----------------------------------------------------------------------------

#: PostgreSQL: serialization_failure, deadlock_detected.
_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01"})
#: SQLite primary result codes: SQLITE_BUSY (also BUSY_SNAPSHOT, BUSY_RECOVERY), SQLITE_LOCKED.
_SQLITE_BUSY_CODES = frozenset({5, 6})


def is_transient(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what it wraps, or an exception group holding it) is a conflict between concurrent
    transactions that the same unit of work, run again, can get past: a deadlock or serialisation failure on
    PostgreSQL, "database is locked" on SQLite."""
    seen = 0
    while exc is not None and seen < 8:
        seen += 1
        if isinstance(exc, BaseExceptionGroup):
            return any(is_transient(e) for e in exc.exceptions)
        orig = exc.orig if isinstance(exc, DBAPIError) else exc
        if isinstance(orig, sqlite3.OperationalError):
            code = getattr(orig, "sqlite_errorcode", None)
            if code is not None:
                return code & 0xFF in _SQLITE_BUSY_CODES
            text = str(orig).lower()
            return "database is locked" in text or "database table is locked" in text
        sqlstate = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "diag", None), "sqlstate", None)
        if sqlstate is not None:
            return sqlstate in _TRANSIENT_SQLSTATES
        if isinstance(exc, DBAPIError):
            return False
        exc = exc.__cause__
    return False


class RetryPolicy:
    """The bound on retrying one unit of work: ``retries`` further attempts, none once ``busy_timeout`` seconds
    have passed since the first one; pauses double from ``backoff`` with jitter (±50 %)."""

    def __init__(
        self, retries: int | None = None, *, backoff: float | None = None, deadline: float | None = None
    ) -> None:
        settings = get_db_settings()
        self.retries = settings.retries if retries is None else retries
        self.backoff = settings.retry_backoff if backoff is None else backoff
        self.deadline = settings.busy_timeout if deadline is None else deadline
        self.started = time.monotonic()

    def pause(self, attempt: int) -> float | None:
        """Seconds to wait before attempt ``attempt + 1`` (attempts count from 0), or None: give up."""
        if attempt >= self.retries or time.monotonic() - self.started >= self.deadline:
            return None
        return min(2.0, self.backoff * 2**attempt) * random.uniform(0.5, 1.5)

    def retry_after(self) -> int:
        """What to tell a client that was refused: when trying again is worth it (whole seconds, at least 1)."""
        return max(1, min(60, round(self.deadline / 10)))


def busy_error(policy: RetryPolicy, exc: BaseException) -> Exception:
    """The error a caller sees once the bound is reached (HTTP 503, CLI exit 2)."""

    log.warning(
        "database still busy after %d attempt(s) in %.1f s; answering busy: %s",
        policy.retries + 1,
        time.monotonic() - policy.started,
        str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
    )
    return Busy("系统繁忙：数据库正在处理其他写入，请稍后重试", code="database_busy", retry_after=policy.retry_after())


def run_with_retries(fn: Callable[[int], T], *, retries: int | None = None, what: str = "unit of work") -> T:
    """``fn(attempt)`` until it returns, again after a transient conflict (:func:`is_transient`) within the
    :class:`RetryPolicy`; :class:`~xinyong.core.errors.Busy` past the bound. ``fn`` must be a whole unit of work:
    its transaction rolled back when it raised, nothing of it done outside the database that cannot be done again."""
    started = time.monotonic()
    policy: RetryPolicy | None = None  # built at the first conflict: nothing more than a call on the usual path
    attempt = 0
    while True:
        try:
            return fn(attempt)
        except Exception as exc:
            if not is_transient(exc):
                raise
            if policy is None:
                policy = RetryPolicy(retries)
                policy.started = started
            pause = policy.pause(attempt)
            if pause is None:
                raise busy_error(policy, exc) from exc
            log.info(
                "%s: transient database conflict (%s), attempt %d again in %.2f s",
                what,
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                attempt + 2,
                pause,
            )
            time.sleep(pause)
            attempt += 1


class Database:
    """One engine, its session factories and units of work — and, when a read URL is given, the read-only replica
    that reads which may lag go to (:attr:`replica`, :meth:`read_session`)."""

    def __init__(self, url: str, *, read_url: str | None = None) -> None:
        self.url = url
        #: ``XINYONG_DATABASE_READ_URL``: a streaming replica of this database (None, or the same URL: no replica).
        self.read_url = read_url if read_url and read_url != url else None
        self._replica: Database | None = None
        self.engine = make_engine(url)
        #: The same pool; transactions begun on it are write transactions (``BEGIN IMMEDIATE`` on SQLite).
        self.writer = writer_of(self.engine)
        #: Deferred transactions (readers; and tests that write and commit by hand).
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        self.write_sessionmaker = sessionmaker(self.writer, expire_on_commit=False)
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
                        self._statement_engine = make_engine(
                            self.url, explicit_begin=False, pool_size=4, max_overflow=4
                        )
                    else:
                        self._statement_engine = make_engine(
                            self.url, pool_pre_ping=False, pool_size=4, max_overflow=4, isolation_level="AUTOCOMMIT"
                        )
        return self._statement_engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # Read replicas --------------------------------------------------------------------------------------------
    # Routing is explicit: a read path that may be served a moment late asks for the replica by name
    # (``db.replica`` / ``db.read_session()``: the check's look-ups in ``measures.check.check_and_record``, the
    # portal's pages through ``auth.deps.ReadSessionDep``, the government file in ``reports.file_api``); everything
    # else — every write, every read that must see what the same request or job just wrote — keeps using the
    # primary (``session()``, ``run()``, ``engine``). Without a read URL the replica *is* the primary.

    @property
    def replica(self) -> Database:
        """The database to read from when a read may lag the primary by the replication delay: the replica of
        ``read_url``, or this database itself when none is configured. Never write through it (a PostgreSQL
        standby refuses: "cannot execute … in a read-only transaction")."""
        if self.read_url is None:
            return self
        if self._replica is None:
            with self._statement_lock:
                if self._replica is None:
                    self._replica = Database(self.read_url)
                    _PRIMARY_OF[self._replica.engine.url.render_as_string(hide_password=False)] = self.engine
        return self._replica

    @property
    def has_replica(self) -> bool:
        return self.read_url is not None

    @contextlib.contextmanager
    def read_session(self) -> Iterator[Session]:
        """A reader on the replica (:attr:`replica`; the primary when none is configured), in one transaction."""
        with self.replica.session(write=False) as session:
            yield session

    @contextlib.contextmanager
    def session(self, *, write: bool = True) -> Iterator[Session]:
        """A session in one transaction: committed when the block ends, rolled back on error. A write
        transaction by default (``BEGIN IMMEDIATE`` on SQLite: it waits its turn for the write lock at its first
        statement); ``write=False`` for a reader that never writes (it then never waits and never blocks)."""
        maker = self.write_sessionmaker if write else self.sessionmaker
        with maker() as session, session.begin():
            yield session

    def run(self, fn: Callable[[Session], T], *, write: bool = True, retries: int | None = None) -> T:
        """``fn(session)`` as one unit of work: in a transaction committed when it returns, run again from the
        start after a transient conflict (a deadlock, a serialisation failure, "database is locked"), at most
        ``retries`` more times (``XINYONG_DB_RETRIES``) and not after the busy timeout; past that bound
        :class:`~xinyong.core.errors.Busy`. A retried attempt is always a write transaction."""

        def attempt(n: int) -> T:
            with self.session(write=write or n > 0) as session:
                return fn(session)

        return run_with_retries(attempt, retries=retries, what=getattr(fn, "__qualname__", "unit of work"))

    def dispose(self) -> None:
        self.engine.dispose()
        if self._statement_engine is not None:
            self._statement_engine.dispose()
        if self._replica is not None:
            self._replica.dispose()


_databases: dict[str, Database] = {}
#: A read replica's URL → its primary's engine (filled by ``Database.replica``), for :func:`primary_of`.
_PRIMARY_OF: dict[str, Engine] = {}


def libpq_url(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL (``postgresql+psycopg://…``) as libpq takes it (``postgresql://…``), for
    connections opened with the driver itself (a LISTEN, the job queue)."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def primary_of(engine: Engine) -> Engine:
    """The primary's engine for an engine of a read replica (``Database.replica``); any other engine itself. For
    code handed a replica's session that must write something once (the search indexes)."""
    return _PRIMARY_OF.get(engine.url.render_as_string(hide_password=False), engine)


def get_database(url: str | None = None) -> Database:
    """The process's :class:`Database` for ``url`` (default: the configured one). The configured database gets
    the configured read replica (``XINYONG_DATABASE_READ_URL``); another URL none."""
    settings = get_settings()
    configured = settings.resolved_database_url
    url = url or configured
    db = _databases.get(url)
    if db is None:
        read_url = settings.database_read_url if url == configured else None
        db = _databases[url] = Database(url, read_url=read_url)
    return db


def forget_databases() -> None:
    for db in _databases.values():
        db.dispose()
    _databases.clear()
