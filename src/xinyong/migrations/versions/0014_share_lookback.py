"""catalog share look-back: how long a class stays in the government credit file (issue #15 point 1)

``catalog_classes.share_lookback_years`` (nullable integer): the 政务共享 look-back of the class in years, read by
``reports.government_file``; NULL means the platform default (5 years). The seed sets penalties to 5.

Revision ID: 0014_share_lookback
Revises: 0013_record_triggers
Create Date: 2026-12-07 03:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_share_lookback"
down_revision = "0013_record_triggers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("catalog_classes") as batch:
        batch.add_column(sa.Column("share_lookback_years", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("catalog_classes") as batch:
        batch.drop_column("share_lookback_years")
