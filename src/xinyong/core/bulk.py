"""Bulk writes for imports: the fastest path each database offers, behind one function.

SQLAlchemy's executemany processes every parameter of every row through the column types, which costs more
than the database's own work when a batch holds hundreds of thousands of rows. ``insert_rows`` converts each
column once with a precomputed converter and hands plain tuples to the driver:
- SQLite: ``cursor.executemany`` with positional parameters (values converted as SQLAlchemy would store them);
- PostgreSQL: ``COPY … FROM STDIN`` (psycopg), many times faster than INSERT.
Both run on the session's own connection, inside the caller's transaction: nothing is committed here.

JSON columns are serialised with orjson (several times faster than ``json``; same text for the values we store).
``allocate_ids`` hands out primary keys before the insert, so a caller can link rows of several tables (a record
and its first version) without ``INSERT … RETURNING`` and without updating rows it has just written.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import JSON, Boolean, Date, Numeric, Table, func, select, text
from sqlalchemy.orm import Session

from xinyong.core.db import Digest, UTCDateTime, digest_bytes

Converter = Callable[[Any], Any]
#: Page cache of a connection that bulk-loads (KiB; SQLite's default is 2 MiB): index pages of a large table stay
#: in memory instead of being read back from the WAL for every few rows.
SQLITE_CACHE_KIB = 64 * 1024


def dumps(value: Any) -> str:
    """Compact JSON text, non-ASCII kept (what the JSON columns store). orjson, falling back to ``json`` for the
    values orjson refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Dumped(str):
    """JSON text made ahead (``dumps``): stored as it is by the bulk writers (``records.upsert.stage_records``
    serialises a batch's documents before its write transaction)."""

    __slots__ = ()


def _json(value: Any) -> Any:
    if type(value) is Dumped:
        return str(value)
    return None if value is None else dumps(value)


def _sqlite_ts(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _sqlite_date(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def _sqlite_bool(value: bool | None) -> int | None:
    return None if value is None else int(bool(value))


def _sqlite_decimal(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _converter(column: Any, dialect: str) -> tuple[Converter | None, bool]:
    """The column's converter, and whether its values are hashable and repeat (dates, flags): then each distinct
    value is converted once per call (timestamps of one batch are usually one value)."""
    t = column.type
    if isinstance(t, JSON) or isinstance(getattr(t, "impl", None), JSON) or "JSON" in type(t).__name__.upper():
        return _json, False
    if isinstance(t, Digest):
        return digest_bytes, False
    if dialect != "sqlite":
        return None, False
    if isinstance(t, UTCDateTime):
        return _sqlite_ts, True
    if isinstance(t, Date):
        return _sqlite_date, True
    if isinstance(t, Boolean):
        return _sqlite_bool, True
    if isinstance(t, Numeric):
        return _sqlite_decimal, False  # Decimal("1") == Decimal("1.0"), but their text differs
    return None, False


def _convert(values: list[Any], conv: Converter | None, repeats: bool) -> list[Any]:
    """One column's values as the driver takes them (``map`` in C instead of a Python call per value)."""
    if conv is None:
        return values
    if repeats:
        converted = {v: conv(v) for v in set(values)}
        return list(map(converted.__getitem__, values))
    return list(map(conv, values))


def _tuples(
    rows: Sequence[dict[str, Any]], names: list[str], convs: list[tuple[Converter | None, bool]]
) -> list[tuple[Any, ...]]:
    """The rows as driver tuples, built column by column. When every row has every column (the writers' usual
    case) the values are taken by one ``itemgetter`` per row, in C; a row without some column reads it as None."""
    if not rows:
        return []
    if len(names) > 1:
        try:
            whole = list(map(itemgetter(*names), rows))
        except KeyError:
            pass
        else:
            if all(conv is None for conv, _ in convs):
                return whole
            columns = [
                _convert(list(values), conv, repeats)
                for values, (conv, repeats) in zip(zip(*whole, strict=True), convs, strict=True)
            ]
            return list(zip(*columns, strict=True))
    columns = [
        _convert([r.get(name) for r in rows], conv, repeats) for name, (conv, repeats) in zip(names, convs, strict=True)
    ]
    return list(zip(*columns, strict=True))


def insert_columns(session: Session, table: Table, columns: dict[str, list[Any]]) -> int:
    """Insert rows given column by column (``{name: values}``, every list as long) into ``table``, with the same
    conversions and drivers as :func:`insert_rows`, without a dict per row: for writers that build their rows a
    column at a time (``records.setwrite``'s staging table). Returns the count."""
    names = list(columns)
    if not names or not columns[names[0]]:
        return 0
    conn = session.connection()
    dialect = conn.dialect.name
    if dialect not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"insert_columns on {dialect}")
    converted = [_convert(columns[n], *_converter(table.c[n], dialect)) for n in names]
    tuples = list(zip(*converted, strict=True))
    _write(conn, table, names, tuples)
    return len(tuples)


def _write(
    conn: Any, table: Table, names: list[str], tuples: Iterable[tuple[Any, ...]], *, cache: bool = False
) -> None:
    """Driver tuples into ``table`` on the driver's own cursor: ``COPY`` on PostgreSQL, ``executemany`` on SQLite
    (``cache``: with the page cache raised to :data:`SQLITE_CACHE_KIB` first)."""
    raw = conn.connection.driver_connection
    assert raw is not None  # checked out: the driver's connection is there
    quoted = ", ".join(f'"{n}"' for n in names)
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
            write = copy.write_row
            for values in tuples:
                write(values)
        return
    cur = raw.cursor()
    try:
        if cache and cur.execute("PRAGMA cache_size").fetchone()[0] > -SQLITE_CACHE_KIB:
            cur.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        cur.executemany(f'INSERT INTO "{table.name}" ({quoted}) VALUES ({", ".join("?" for _ in names)})', tuples)
    finally:
        cur.close()


def _target(
    session: Session, rows: Sequence[dict[str, Any]], columns: Sequence[str] | None
) -> tuple[list[str], Any, str]:
    """The columns to insert (those named, else the first row's keys), the session's connection and its dialect."""
    conn = session.connection()
    return (list(columns) if columns else list(rows[0].keys())), conn, conn.dialect.name


def insert_rows(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None
) -> int:
    """Insert ``rows`` (dicts keyed by column name; missing keys are NULL) into ``table``; returns the count.

    Column defaults of the model are NOT applied: give every NOT NULL column a value.
    """
    if not rows:
        return 0
    names, conn, dialect = _target(session, rows, columns)
    if dialect not in ("postgresql", "sqlite"):
        conn.execute(table.insert(), [{n: r.get(n) for n in names} for r in rows])
        return len(rows)
    convs = [_converter(table.c[n], dialect) for n in names]
    _write(conn, table, names, _tuples(rows, names, convs), cache=True)
    return len(rows)


def insert_missing(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None
) -> int:
    """Insert ``rows`` like :func:`insert_rows`, skipping each row that would violate a unique constraint
    (``INSERT … ON CONFLICT DO NOTHING``); returns how many were inserted.

    For rows other transactions may be inserting at the same time (a company new to the registry named by two
    uploads at once): on PostgreSQL a row whose key another transaction has inserted but not committed waits for
    that transaction and is skipped if it commits — no unique violation. Rows are inserted in the order given:
    give them in key order, so that two transactions inserting overlapping keys wait for each other in the same
    order and cannot deadlock. The caller reads back the ids by key. SQLite: ``executemany`` of the same statement
    (its single writer never meets an uncommitted row of another transaction). PostgreSQL: one statement over
    ``unnest`` of one array per column (COPY has no ``ON CONFLICT``).
    """
    if not rows:
        return 0
    names, conn, dialect = _target(session, rows, columns)
    quoted = ", ".join(f'"{n}"' for n in names)
    convs = [_converter(table.c[n], dialect) for n in names]
    raw = conn.connection.driver_connection
    assert raw is not None  # checked out: the driver's connection is there
    if dialect == "sqlite":
        placeholders = ", ".join("?" for _ in names)
        cur = raw.cursor()
        try:
            before = raw.total_changes
            cur.executemany(
                f'INSERT INTO "{table.name}" ({quoted}) VALUES ({placeholders}) ON CONFLICT DO NOTHING',
                _tuples(rows, names, convs),
            )
            return raw.total_changes - before
        finally:
            cur.close()
    if dialect != "postgresql":
        raise NotImplementedError(f"insert_missing on {dialect}")
    arrays = ", ".join(f"CAST(%s AS {table.c[n].type.compile(dialect=conn.dialect)}[])" for n in names)
    aliases = ", ".join(f"c{i}" for i in range(len(names)))
    picked = ", ".join(f"u.c{i}" for i in range(len(names)))
    values = [list(column) for column in zip(*_tuples(rows, names, convs), strict=True)]
    with raw.cursor() as cur:
        cur.execute(
            f'INSERT INTO "{table.name}" ({quoted}) SELECT {picked} FROM unnest({arrays}) '
            f"WITH ORDINALITY AS u({aliases}, ord) ORDER BY u.ord ON CONFLICT DO NOTHING",
            values,
        )
        return cur.rowcount


_SEQUENCES: dict[tuple[int, str], str] = {}


def allocate_ids(session: Session, table: Table, n: int) -> list[int]:
    """``n`` new primary keys of ``table`` (its single integer ``id`` column), for rows the caller inserts next.

    PostgreSQL: drawn from the column's sequence (safe under concurrent writers). SQLite: the ids after the
    current maximum; SQLite has a single writer, and a transaction whose snapshot is stale cannot write (it gets
    "database is locked"), so two transactions never insert the same id. Insert the rows before allocating again
    for the same table.
    """
    if n <= 0:
        return []
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        key = (id(conn.engine), table.name)
        seq = _SEQUENCES.get(key)
        if seq is None:
            seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name}).scalar_one()
            _SEQUENCES[key] = seq
        return list(
            conn.execute(
                text("SELECT nextval(CAST(:s AS regclass)) FROM generate_series(1, :n)"), {"s": seq, "n": n}
            ).scalars()
        )
    start = conn.execute(select(func.max(table.c.id))).scalar() or 0
    return list(range(start + 1, start + 1 + n))
