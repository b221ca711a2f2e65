"""Partitions of the large append-mostly tables on PostgreSQL (migration 0023, issue #19 part 2).

``audit_events`` and ``checks`` are partitioned by month of ``at`` (UTC months, ``<table>_pYYYYMM``) with a DEFAULT
partition (``<table>_default``) that takes any row no month partition covers, so an insert never fails for want of
a partition. :func:`ensure_partitions` creates the partitions of the coming months ahead of time — the daily job
``db.partitions`` and ``xinyong db partitions`` call it; it is idempotent. Rows that reached the DEFAULT partition
for a month that then gets its own partition are moved there (the migration's ``xinyong_ensure_month_partitions``).
``record_versions`` is partitioned by hash of ``record_id`` (a fixed set, nothing to maintain).

SQLite keeps plain tables: the function reports that and does nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

#: Tables partitioned by month of ``at`` on PostgreSQL.
MONTHLY_TABLES = ("audit_events", "checks")
#: Tables partitioned by hash on PostgreSQL.
HASHED_TABLES = ("record_versions",)

#: Constraints of the models that PostgreSQL enforces by trigger on the partitioned tables (a unique constraint or
#: foreign key must include the partition key there): migration 0023. ``include_object`` leaves them out of the
#: schema comparison; tests/core/test_partitions.py proves the triggers refuse what the constraints refused.
TRIGGER_ENFORCED = frozenset(
    {
        "uq_audit_events_seq",
        "uq_audit_events_hash",
        "fk_audit_chain_head_last_event_id_audit_events",
        "fk_subject_access_log_audit_event_id_audit_events",
        "fk_check_items_check_id_checks",
        "fk_check_feedback_check_id_checks",
    }
)

_PARTITION_NAME = re.compile(r"^(?:(?:audit_events|checks)_(?:p\d{6}|default)|record_versions_h\d{2})$")


def is_partition(name: str) -> bool:
    """Whether a table name is one of the partitions (not modelled: the partitioned parent is)."""
    return bool(_PARTITION_NAME.match(name))


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def partitioned_tables(conn: Connection) -> set[str]:
    if conn.dialect.name != "postgresql":
        return set()
    rows = conn.execute(text("SELECT partrelid::regclass::text FROM pg_partitioned_table"))
    return {r[0] for r in rows}


def ensure_partitions(
    conn: Connection, *, months_ahead: int = 3, since: dt.date | None = None, today: dt.date | None = None
) -> dict[str, Any]:
    """Create the month partitions from ``since`` (default: this month) to ``months_ahead`` months after this one
    for every month-partitioned table, moving rows the DEFAULT partition holds for those months. The caller
    commits. Returns per table the partitions created, how many there are and the rows left in DEFAULT."""
    if months_ahead < 0:
        raise ValueError("months_ahead must be >= 0")
    today = today or dt.datetime.now(dt.UTC).date()
    first = (since or today).replace(day=1)
    last = _add_months(today.replace(day=1), months_ahead)
    report: dict[str, Any] = {
        "backend": conn.dialect.name,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "tables": [],
    }
    partitioned = partitioned_tables(conn)
    for table in MONTHLY_TABLES:
        entry: dict[str, Any] = {"table": table, "partitioned": table in partitioned}
        if table in partitioned:
            created = conn.execute(
                text("SELECT * FROM xinyong_ensure_month_partitions(:t, :first, :last)"),
                {"t": table, "first": first, "last": last},
            )
            entry["created"] = [r[0] for r in created]
            entry["partitions"] = conn.execute(
                text("SELECT count(*) FROM pg_inherits WHERE inhparent = CAST(:t AS regclass)"), {"t": table}
            ).scalar_one()
            entry["default_rows"] = conn.execute(text(f'SELECT count(*) FROM "{table}_default"')).scalar_one()
        report["tables"].append(entry)
    for table in HASHED_TABLES:
        report["tables"].append({"table": table, "partitioned": table in partitioned})
    return report
