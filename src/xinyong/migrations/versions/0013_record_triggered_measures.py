"""record-triggered measures: a measure may be triggered by credit records (issue #15 point 2)

``measures.triggers`` holds a measure's ``triggers.records`` block (kinds, penalty types, minimum fine in 万元,
severities, look-back, include_repaired, its own legal basis) as ``measures.yaml`` gives it; ``check_items.record_ids``
keeps the credit records that triggered a measure of the recorded answer. Both nullable: existing measures are
list-triggered only and existing check items named no record. The check reads the records through the existing
index ``ix_credit_records_subject_decision_date`` (subject, decision date): no new index.

Revision ID: 0013_record_triggers
Revises: 0012
Create Date: 2026-12-07 03:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013_record_triggers"
down_revision = "0012"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("measures") as batch:
        batch.add_column(sa.Column("triggers", _json(), nullable=True))
    with op.batch_alter_table("check_items") as batch:
        batch.add_column(sa.Column("record_ids", _json(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("check_items") as batch:
        batch.drop_column("record_ids")
    with op.batch_alter_table("measures") as batch:
        batch.drop_column("triggers")
