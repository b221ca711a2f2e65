"""exchange with the provincial platform: the receiver's per-row rejections as work for the departments, and the
leases that keep two scheduled pushers (or pullers) from running at once (issue #16)

Revision ID: 0021_exchange_rejections
Revises: 0020_professions_government
Create Date: 2026-12-07 08:00:00
"""

import sqlalchemy as sa
from alembic import op

import xinyong.core.db

revision = "0021_exchange_rejections"
down_revision = "0020_professions_government"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "exchange_rejections",
        sa.Column("id", BIG, autoincrement=True, nullable=False),
        sa.Column("seq", BIG, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("op", sa.String(length=30), nullable=False),
        sa.Column("entity_id", BIG, nullable=False),
        sa.Column("subject_id", BIG, nullable=True),
        sa.Column("department_id", BIG, nullable=True),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("receipt_id", BIG, nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("resolved_seq", BIG, nullable=True),
        sa.Column("resolved_at", xinyong.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rejected_at", xinyong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_rejections")),
        sa.UniqueConstraint("seq", name=op.f("uq_exchange_rejections_seq")),
    )
    op.create_index(
        "ix_exchange_rejections_department_status", "exchange_rejections", ["department_id", "status"], unique=False
    )
    op.create_index("ix_exchange_rejections_entity", "exchange_rejections", ["entity_id", "kind"], unique=False)
    op.create_table(
        "exchange_leases",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("expires_at", xinyong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("acquired_at", xinyong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_exchange_leases")),
    )


def downgrade() -> None:
    op.drop_table("exchange_leases")
    op.drop_index("ix_exchange_rejections_entity", table_name="exchange_rejections")
    op.drop_index("ix_exchange_rejections_department_status", table_name="exchange_rejections")
    op.drop_table("exchange_rejections")
