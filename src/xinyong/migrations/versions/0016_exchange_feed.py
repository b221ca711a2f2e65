"""exchange with the provincial platform: the outbox feed, its head row, the push cursor and receipts (issue #16)

Revision ID: 0016_exchange_feed
Revises: 0015_related_persons
Create Date: 2026-12-07 05:40:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import xinyong.core.db

revision = "0016_exchange_feed"
down_revision = "0015_related_persons"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "exchange_feed_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_seq", BIG, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_feed_head")),
    )
    op.create_table(
        "exchange_feed",
        sa.Column("seq", BIG, autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("op", sa.String(length=30), nullable=False),
        sa.Column("entity_id", BIG, nullable=False),
        sa.Column("subject_id", BIG, nullable=True),
        sa.Column("department_id", BIG, nullable=True),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("created_at", xinyong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_exchange_feed")),
    )
    op.create_index("ix_exchange_feed_created_at", "exchange_feed", ["created_at"], unique=False)
    op.create_index("ix_exchange_feed_subject", "exchange_feed", ["subject_id", "seq"], unique=False)
    op.create_table(
        "exchange_push_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("acked_seq", BIG, nullable=False),
        sa.Column("sent_seq", BIG, nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", xinyong.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_attempt_at", xinyong.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_push_state")),
    )
    op.create_table(
        "exchange_receipts",
        sa.Column("id", BIG, autoincrement=True, nullable=False),
        sa.Column("first_seq", BIG, nullable=False),
        sa.Column("last_seq", BIG, nullable=False),
        sa.Column("receiver", sa.String(length=500), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("rejections", JSON, nullable=False),
        sa.Column("receipt_id", sa.String(length=200), nullable=True),
        sa.Column("received_at", xinyong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_receipts")),
    )
    op.create_index("ix_exchange_receipts_seq", "exchange_receipts", ["first_seq", "last_seq"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_exchange_receipts_seq", table_name="exchange_receipts")
    op.drop_table("exchange_receipts")
    op.drop_table("exchange_push_state")
    op.drop_index("ix_exchange_feed_subject", table_name="exchange_feed")
    op.drop_index("ix_exchange_feed_created_at", table_name="exchange_feed")
    op.drop_table("exchange_feed")
    op.drop_table("exchange_feed_head")
