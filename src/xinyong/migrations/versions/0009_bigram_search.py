"""subject name search for two-character queries: SQLite FTS5 bigram table with triggers, PostgreSQL bigram GIN index

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 06:00:00
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from xinyong.subjects import search

    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for ddl in search.SQLITE_BIGRAM_DDL:
            op.execute(ddl)
        op.execute(search.SQLITE_BIGRAM_FILL)  # persons are never indexed (the fill and the triggers skip them)
    elif bind.dialect.name == "postgresql":
        for ddl in search.POSTGRES_BIGRAM_DDL:
            op.execute(ddl)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for trigger in ("subjects_bigram_ai", "subjects_bigram_ad", "subjects_bigram_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS subjects_bigram")
    elif bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_subjects_name_norm_bigram")
        op.execute("DROP FUNCTION IF EXISTS xinyong_name_bigrams(text)")
