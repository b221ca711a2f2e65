"""Column declarations that many tables share, written once.

Each function returns a fresh ``mapped_column`` (a column object belongs to one table), exactly as the tables
declared it inline before: the schema, and so the migrations, do not change (``tests/core/test_migrations.py``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy.orm import MappedColumn, mapped_column

from xinyong.core.db import BigId, UTCDateTime, utcnow


def in_list(values: tuple[str, ...]) -> str:
    """The SQL list ``('a', 'b')`` of a CHECK constraint ``kind IN …`` over the allowed values."""
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def pk_column() -> MappedColumn[Any]:
    """The surrogate primary key ``id`` (BIGINT, INTEGER on SQLite so that it is the rowid)."""
    return mapped_column(BigId, primary_key=True, autoincrement=True)


def now_column() -> MappedColumn[Any]:
    """A required timestamp (UTC) that defaults to the time of the insert: ``created_at``, ``received_at`` …"""
    return mapped_column(UTCDateTime, nullable=False, default=utcnow)


def count_column() -> MappedColumn[Any]:
    """A required counter starting at 0: a batch's rows, accepted, rejected …"""
    return mapped_column(Integer, nullable=False, default=0)


def actor_column() -> MappedColumn[Any]:
    """Who did it: the user name or ``system:…`` of the actor, as the audit trail writes it."""
    return mapped_column(String(200), nullable=False)
