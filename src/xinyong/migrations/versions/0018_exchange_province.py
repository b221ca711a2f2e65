"""exchange with the provincial platform, the way down: departments.external marks the pseudo-department 省平台
whose submissions (other cities' and the province's decisions and lists) are kept with provenance but never count
as this city's own data (issue #16)

Revision ID: 0018_exchange_province
Revises: 0017_portal_content
Create Date: 2026-12-07 06:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_exchange_province"
down_revision = "0017_portal_content"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN on both backends (a batch would rebuild the referenced table on SQLite).
    op.add_column("departments", sa.Column("external", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("departments") as batch:
        batch.drop_column("external")
