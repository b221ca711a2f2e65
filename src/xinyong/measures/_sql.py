"""Statements of the check's hot path, run on the database driver's cursor (see :class:`Prepared`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.engine import Connection


class Prepared:
    """A SELECT built once with SQLAlchemy, compiled once per dialect and number of values, and run on the
    driver's own cursor, in the connection's transaction. For a single-subject check SQLAlchemy's per-statement
    work (building the statement, its cache key, the execution context, result processing) cost several times
    what SQLite itself spends; the SQL stays SQLAlchemy's, so it is portable and rules written as SQLAlchemy
    expressions (``lists.rules.in_force_clause``) are used as they are.

    ``build(n)`` makes the statement for ``n`` values bound as ``v0 … v{n-1}`` (``n`` = 0 for a statement
    without values); ``convert`` turns a driver row into the row object the caller uses. Values are as the
    driver returns them (on SQLite dates and timestamps are ISO text) and parameters must be given as the driver
    takes them (on SQLite a date as ISO text).
    """

    def __init__(self, build: Callable[[int], Any], convert: Callable[[tuple[Any, ...]], Any]) -> None:
        self._build = build
        self._convert = convert
        self._compiled: dict[tuple[str, int], tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}

    def rows(self, conn: Connection, values: Sequence[Any], **params: Any) -> list[Any]:
        key = (conn.dialect.name, len(values))
        hit = self._compiled.get(key)
        if hit is None:
            compiled = self._build(len(values)).compile(dialect=conn.dialect)
            order = tuple(compiled.positiontup) if compiled.positional else None
            hit = self._compiled[key] = (compiled.string, order, dict(compiled.params))
        sql, order, constants = hit
        bound = {**constants, **params, **{f"v{i}": v for i, v in enumerate(values)}}
        args: Any = tuple(bound[k] for k in order) if order is not None else bound
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, args)
            return [self._convert(r) for r in cursor.fetchall()]
        finally:
            cursor.close()


def identity(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return row
