"""record versions stored once, compactly (issue #19): content without its default values, data without the
columns equal to content's, a first version's changed fields [] for "all" — see xinyong.records.versions

The stored versions are rewritten in place, in batches of ids (SQLite: in Python with the module's own functions;
PostgreSQL: set-based SQL doing the same). The index on record_versions.batch_id goes: no query looks versions up by
batch (bench/index_usage.py) and batches are never deleted. Idempotent both ways: a version already in the
target form is left as it is. The space freed is reused by the tables; ``VACUUM`` (SQLite) or
``VACUUM FULL record_versions`` (PostgreSQL) afterwards gives it back to the file system.

Revision ID: 0022_compact_versions
Revises: 0021_exchange_rejections
Create Date: 2026-12-07 13:00:00
"""

from __future__ import annotations

import orjson
from alembic import op
from sqlalchemy import text
from sqlalchemy.engine import Connection

from xinyong.records import versions

revision = "0022_compact_versions"
down_revision = "0021_exchange_rejections"
branch_labels = None
depends_on = None

#: Versions per batch (SQLite: read, rewritten in Python, written back; PostgreSQL: one UPDATE per id range).
BATCH = 5_000
PG_BATCH = 50_000


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()


def _rewrite_sqlite(conn: Connection, *, compact: bool) -> int:
    """Every version in the target form (compact, or full for the downgrade); returns how many were rewritten."""
    last, rewritten = 0, 0
    while True:
        rows = conn.exec_driver_sql(
            "SELECT id, version_no, content, data, changed_fields FROM record_versions "
            "WHERE id > ? AND content IS NOT NULL ORDER BY id LIMIT ?",  # a packed version (0025) has no content
            (last, BATCH),
        ).fetchall()
        if not rows:
            return rewritten
        changes = []
        for vid, number, content_text, data_text, changed_text in rows:
            content, data, changed = (orjson.loads(t) for t in (content_text, data_text, changed_text))
            whole = versions.full(number, content, data, changed)
            target = versions.compact(number, *whole) if compact else tuple(whole)
            if list(target) != [content, data, changed]:
                changes.append((*(_dumps(t) for t in target), vid))
        if changes:
            conn.exec_driver_sql(
                "UPDATE record_versions SET content = ?, data = ?, changed_fields = ? WHERE id = ?", changes
            )
            rewritten += len(changes)
        last = rows[-1][0]


def _fields_sql() -> str:
    """``f(k, i, d)``: each shared field, its bit and its default as jsonb (NULL: none, ``domain``)."""
    defaults = dict(versions.CONTENT_FIELDS)
    rows = []
    for i, key in enumerate(versions.SHARED_FIELDS):
        default = f"'{_dumps(defaults[key])}'::jsonb" if key in defaults else "NULL::jsonb"
        rows.append(f"('{key}', {i}, {default})")
    return f"f(k, i, d) AS (VALUES {', '.join(rows)})"


def _template_sql() -> str:
    return "ARRAY[" + ", ".join(f"'{k}'" for k, _ in versions.CONTENT_FIELDS) + "]"


def _compact_pg() -> str:
    """The compact form of the full versions of an id range (those with every content field and no ``=``)."""
    return f"""
WITH {_fields_sql()}
UPDATE record_versions v SET content = n.content, data = n.data, changed_fields = n.changed_fields
FROM (
  SELECT r.id,
    r.content - ARRAY(SELECT f.k FROM f WHERE f.d IS NOT NULL AND r.content -> f.k = f.d) AS content,
    CASE WHEN s.mask = 0 THEN r.data ELSE (r.data - s.keys) || jsonb_build_object('{versions.SHARED}', s.mask)
    END AS data,
    CASE WHEN r.version_no = 1 AND jsonb_array_length(r.changed_fields) > 0 AND r.changed_fields = (
      SELECT jsonb_agg(key ORDER BY key COLLATE "C") FROM jsonb_object_keys(r.content) AS key
    ) THEN '[]'::jsonb ELSE r.changed_fields END AS changed_fields
  FROM record_versions r
  CROSS JOIN LATERAL (
    SELECT coalesce(sum(1::bigint << f.i), 0)::bigint AS mask, coalesce(array_agg(f.k), '{{}}'::text[]) AS keys
    FROM f
    WHERE r.data ? f.k AND r.content ? f.k AND (r.data -> f.k)::text = (r.content -> f.k)::text
  ) s
  WHERE r.id >= :lo AND r.id < :hi AND r.content ?& {_template_sql()} AND NOT r.data ? '{versions.SHARED}'
) n
WHERE v.id = n.id
"""


def _expand_pg() -> str:
    """The full form of the versions of an id range."""
    a, s = versions.ABSENT, versions.SHARED
    return f"""
WITH {_fields_sql()}
UPDATE record_versions v SET content = n.content, data = n.data, changed_fields = n.changed_fields
FROM (
  SELECT r.id, c.content,
    CASE WHEN r.data ? '{s}' THEN coalesce((
      SELECT jsonb_object_agg(f.k, c.content -> f.k) FROM f WHERE ((r.data ->> '{s}')::bigint >> f.i) & 1 = 1
    ), '{{}}'::jsonb) || (r.data - '{s}') ELSE r.data END AS data,
    CASE WHEN r.version_no = 1 AND r.changed_fields = '[]'::jsonb THEN (
      SELECT coalesce(jsonb_agg(key ORDER BY key COLLATE "C"), '[]'::jsonb) FROM jsonb_object_keys(c.content) AS key
    ) ELSE r.changed_fields END AS changed_fields
  FROM record_versions r
  CROSS JOIN LATERAL (
    SELECT coalesce((
      SELECT jsonb_object_agg(f.k, f.d) FROM f
      WHERE f.d IS NOT NULL AND (coalesce(r.content ->> '{a}', '0')::bigint >> f.i) & 1 = 0
    ), '{{}}'::jsonb) || (r.content - '{a}') AS content
  ) c
  WHERE r.id >= :lo AND r.id < :hi
    AND (NOT r.content ?& {_template_sql()} OR r.data ? '{s}' OR (r.version_no = 1 AND r.changed_fields = '[]'::jsonb))
) n
WHERE v.id = n.id
"""


def _rewrite_pg(conn: Connection, *, compact: bool) -> int:
    lo, hi = conn.execute(text("SELECT min(id), max(id) FROM record_versions")).one()
    if lo is None:
        return 0
    statement, rewritten = text(_compact_pg() if compact else _expand_pg()), 0
    for start in range(lo, hi + 1, PG_BATCH):
        rewritten += conn.execute(statement, {"lo": start, "hi": start + PG_BATCH}).rowcount
    return rewritten


def rewrite(conn: Connection, *, compact: bool) -> int:
    """Every stored version in the compact form (``compact``) or the full one; the number rewritten."""
    if conn.dialect.name == "postgresql":
        return _rewrite_pg(conn, compact=compact)
    return _rewrite_sqlite(conn, compact=compact)


def upgrade() -> None:
    with op.batch_alter_table("record_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_record_versions_batch_id")
    rewrite(op.get_bind(), compact=True)


def downgrade() -> None:
    rewrite(op.get_bind(), compact=False)
    with op.batch_alter_table("record_versions", schema=None) as batch_op:
        batch_op.create_index("ix_record_versions_batch_id", ["batch_id"], unique=False)
