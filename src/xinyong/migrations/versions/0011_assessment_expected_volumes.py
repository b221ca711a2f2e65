"""assessment expected volumes: 应报尽报, the records a department is expected to submit per month and class (issue #15)

One row per department and information class (licence / penalty) the platform admin configured; without a row the
assessment learns the expectation from the department's own history (analytics.volumes). Nothing to backfill.

Revision ID: 0011_assessment
Revises: 0010
Create Date: 2026-12-07 02:00:00
"""

import sqlalchemy as sa
from alembic import op

import xinyong.core.db

revision = "0011_assessment"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assessment_expected_volumes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("department_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("info_class", sa.String(length=10), nullable=False),
        sa.Column("monthly", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column("updated_at", xinyong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "info_class IN ('licence', 'penalty')", name=op.f("ck_assessment_expected_volumes_info_class")
        ),
        sa.CheckConstraint("monthly >= 0", name=op.f("ck_assessment_expected_volumes_monthly")),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("fk_assessment_expected_volumes_department_id_departments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_expected_volumes")),
        sa.UniqueConstraint(
            "department_id", "info_class", name=op.f("uq_assessment_expected_volumes_department_id_info_class")
        ),
    )


def downgrade() -> None:
    op.drop_table("assessment_expected_volumes")
