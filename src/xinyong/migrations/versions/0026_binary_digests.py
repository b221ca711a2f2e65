"""content hashes of records and versions stored as their 32 bytes, not 64 hex characters (issue #19)

``credit_records.content_hash`` and ``record_versions.content_hash`` become binary (``core.db.Digest``: hex in
Python as before, so nothing that reads or compares them changes). ≈ 64 bytes less per record.

PostgreSQL: ``ALTER COLUMN … TYPE bytea USING decode(…, 'hex')`` (a rewrite of both tables; ``record_versions``'
partitions with it). SQLite: the tables are rebuilt with the new column type, then the hex text is turned into
bytes in batches of ids (SQLite before 3.41 has no ``unhex``). Downgrade: back to lower-case hex text.

Revision ID: 0026_binary_digests
Revises: 0025_packed_versions
Create Date: 2026-12-08 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026_binary_digests"
down_revision = "0025_packed_versions"
branch_labels = None
depends_on = None

TABLES = ("credit_records", "record_versions")
BATCH = 20_000


def _sqlite_unhex(conn: sa.Connection, table: str) -> None:
    last = 0
    while True:
        rows = conn.exec_driver_sql(
            f"SELECT id, content_hash FROM {table} WHERE id > ? ORDER BY id LIMIT ?", (last, BATCH)
        ).fetchall()
        if not rows:
            return
        # The rebuild copied the text as it was, or CAST to a blob of its 64 ASCII characters: either way, hex.
        changes = [(bytes.fromhex(h if isinstance(h, str) else h.decode()), rid) for rid, h in rows if len(h) == 64]
        if changes:
            conn.exec_driver_sql(f"UPDATE {table} SET content_hash = ? WHERE id = ?", changes)
        last = rows[-1][0]


def upgrade() -> None:
    conn = op.get_bind()
    for table in TABLES:
        if conn.dialect.name == "postgresql":
            op.execute(f"ALTER TABLE {table} ALTER COLUMN content_hash TYPE bytea USING decode(content_hash, 'hex')")
            continue
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("content_hash", existing_type=sa.String(64), type_=sa.LargeBinary())
        _sqlite_unhex(conn, table)


def downgrade() -> None:
    conn = op.get_bind()
    for table in TABLES:
        if conn.dialect.name == "postgresql":
            op.execute(
                f"ALTER TABLE {table} ALTER COLUMN content_hash TYPE varchar(64) USING encode(content_hash, 'hex')"
            )
            continue
        op.execute(f"UPDATE {table} SET content_hash = lower(hex(content_hash)) WHERE typeof(content_hash) = 'blob'")
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("content_hash", existing_type=sa.LargeBinary(), type_=sa.String(64))
