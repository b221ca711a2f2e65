"""Evaluation contributions stored as JSON text on PostgreSQL (issue #19 part 2)

``evaluation_results.contributions`` and ``evaluation_history.contributions`` (``[[value, points], …]`` per
indicator) were ``jsonb``: its binary numbers and entry headers made the 17 pairs of the shipped model ≈ 550 bytes,
most of a result row (≈ 680 bytes) and of a history row, where the text is ≈ 110. Nothing queries inside the
document (it is read whole and compared whole), so PostgreSQL now stores it as ``json`` (text, as SQLite always
has). At 10M subjects the two tables shrink from ≈ 15 GB; the first full run writes accordingly less.

The stored text is made compact (jsonb's text has a space after each comma; the evaluation writes none): the next
run then finds these documents unchanged instead of rewriting them all once. Downgrade: back to ``jsonb``.

SQLite: nothing changes (the migration is a no-op there).

Revision ID: 0024_contributions_json
Revises: 0023_partitions
Create Date: 2026-12-07 18:40:00
"""

from alembic import op

revision = "0024_contributions_json"
down_revision = "0023_partitions"
branch_labels = None
depends_on = None

TABLES = ("evaluation_results", "evaluation_history")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        # Only numbers and brackets in these documents: removing the blanks keeps every value.
        op.execute(
            f"ALTER TABLE {table} ALTER COLUMN contributions TYPE json "
            "USING regexp_replace(contributions::text, '\\s+', '', 'g')::json"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN contributions TYPE jsonb USING contributions::jsonb")
