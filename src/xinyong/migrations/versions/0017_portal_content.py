"""portal content: 红黑榜 releases and the credit office's articles (issue #17)

``releases`` (``publications.releases``): one numbered publication per period, unique by (year, seq) and by
period, with the per-list counts of the day of publishing; ``release_entries``: the list entries it published.
``articles`` (``publications.articles``): 信用动态 and 政策法规 in Markdown, draft / published / withdrawn.

Revision ID: 0017_portal_content
Revises: 0016_exchange_feed
Create Date: 2026-12-07 05:40:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import xinyong.core.db

revision = "0017_portal_content"
down_revision = "0016_exchange_feed"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "articles",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("published_at", xinyong.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", xinyong.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_reason", sa.Text(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", xinyong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", xinyong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("category IN ('news', 'policy')", name=op.f("ck_articles_category")),
        sa.CheckConstraint("status IN ('draft', 'published', 'withdrawn')", name=op.f("ck_articles_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_articles")),
    )
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.create_index(
            "ix_articles_category_status_published", ["category", "status", "published_at"], unique=False
        )

    op.create_table(
        "releases",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("published_on", sa.Date(), nullable=False),
        sa.Column(
            "counts", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("published_by", sa.String(length=200), nullable=False),
        sa.Column("published_at", xinyong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("period_end >= period_start", name=op.f("ck_releases_period_order")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_releases")),
        sa.UniqueConstraint("period_start", "period_end", name=op.f("uq_releases_period_start_period_end")),
        sa.UniqueConstraint("year", "seq", name=op.f("uq_releases_year_seq")),
    )
    op.create_table(
        "release_entries",
        sa.Column("release_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["list_entries.id"], name=op.f("fk_release_entries_entry_id_list_entries")
        ),
        sa.ForeignKeyConstraint(["release_id"], ["releases.id"], name=op.f("fk_release_entries_release_id_releases")),
        sa.PrimaryKeyConstraint("release_id", "entry_id", name=op.f("pk_release_entries")),
    )


def downgrade() -> None:
    op.drop_table("release_entries")
    op.drop_table("releases")
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_index("ix_articles_category_status_published")

    op.drop_table("articles")
