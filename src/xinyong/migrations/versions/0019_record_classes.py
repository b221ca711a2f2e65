"""information classes as data (issue #18): credit_records.kind widened to 32 characters and its two-value CHECK
constraint dropped (every class with a data standard in catalog/data/classes has records); credit_records.domain,
the record's 领域 that picks a publicity exception of the catalog

On SQLite the table is not rebuilt (a batch copy would drop a table that record_versions, publicity_transitions and
cases reference, which fails with foreign keys enforced inside the upgrade's transaction): removing a CHECK
constraint and changing a declared length do not change the stored rows, so the table's definition is edited in
place — the procedure SQLite documents for exactly these changes (https://www.sqlite.org/lang_altertable.html,
"making other kinds of table schema changes": writable_schema, then schema_version + 1).

Revision ID: 0019_record_classes
Revises: 0018_exchange_province
Create Date: 2026-12-07 08:00:00
"""

import re
from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0019_record_classes"
down_revision = "0018_exchange_province"
branch_labels = None
depends_on = None

_CHECK = "CONSTRAINT ck_credit_records_kind CHECK (kind IN ('licence', 'penalty'))"


def _edit_sqlite_definition(edit: Callable[[str], str]) -> None:
    conn = op.get_bind()
    sql = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'credit_records'"
    ).scalar()
    new = edit(str(sql))
    if new == sql:
        return
    version = conn.exec_driver_sql("PRAGMA schema_version").scalar()
    conn.exec_driver_sql("PRAGMA writable_schema = ON")
    conn.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'credit_records'", (new,))
    conn.exec_driver_sql(f"PRAGMA schema_version = {int(version or 0) + 1}")
    conn.exec_driver_sql("PRAGMA writable_schema = OFF")
    assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


def _widen_and_drop_check(sql: str) -> str:
    sql = re.sub(r"\bkind VARCHAR\(10\) NOT NULL", "kind VARCHAR(32) NOT NULL", sql, count=1)
    return re.sub(r",\s*" + re.escape(_CHECK), "", sql, count=1)


def _narrow_and_add_check(sql: str) -> str:
    sql = re.sub(r"\bkind VARCHAR\(32\) NOT NULL", "kind VARCHAR(10) NOT NULL", sql, count=1)
    return re.sub(r"\)\s*$", f", \n\t{_CHECK}\n)", sql.rstrip(), count=1)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _edit_sqlite_definition(_widen_and_drop_check)
    else:
        op.drop_constraint(op.f("ck_credit_records_kind"), "credit_records", type_="check")
        op.alter_column(
            "credit_records", "kind", existing_type=sa.String(length=10), type_=sa.String(length=32), nullable=False
        )
    op.add_column("credit_records", sa.Column("domain", sa.String(length=40), nullable=True))


def downgrade() -> None:
    # Records of the other classes cannot go back into a two-kind table.
    if (
        op.get_bind()
        .execute(sa.text("SELECT count(*) FROM credit_records WHERE kind NOT IN ('licence', 'penalty')"))
        .scalar()
    ):
        raise RuntimeError("credit_records holds records of classes other than licence/penalty: cannot downgrade")
    op.execute("ALTER TABLE credit_records DROP COLUMN domain")  # native on both (SQLite ≥ 3.35): no rebuild
    if op.get_bind().dialect.name == "sqlite":
        _edit_sqlite_definition(_narrow_and_add_check)
    else:
        op.alter_column(
            "credit_records", "kind", existing_type=sa.String(length=32), type_=sa.String(length=10), nullable=False
        )
        op.create_check_constraint(op.f("ck_credit_records_kind"), "credit_records", "kind IN ('licence', 'penalty')")
