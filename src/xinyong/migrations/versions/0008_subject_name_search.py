"""subject name search: SQLite FTS5 trigram table with triggers, PostgreSQL pg_trgm GIN index

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 04:50:00
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from xinyong.subjects import search

    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for ddl in search.SQLITE_DDL:
            op.execute(ddl)
        op.execute(search.SQLITE_FILL)  # persons are never indexed (the fill and the triggers skip them)
    elif bind.dialect.name == "postgresql":
        for ddl in search.POSTGRES_DDL:
            op.execute(ddl)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for trigger in ("subjects_fts_ai", "subjects_fts_ad", "subjects_fts_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS subjects_fts")
    elif bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_subjects_name_norm_trgm")
