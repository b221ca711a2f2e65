"""related persons: organisations' legal representatives and officers; measures that extend to them (issue #15
point 3)

``related_persons`` (``subjects.related``): one row per organisation, role (法定代表人、主要负责人、董事、监事、
高级管理人员), person and period; the resident ID encrypted with the vault, its keyed hash for look-up, a masked
form; the person's subject when registered; source and provenance; append-only history (a role that ends gets
``valid_to``, who ended it and why). A partial unique index keeps one open row per organisation, role and person.
``measures.extends_to`` holds a measure's ``extends_to`` block (roles, legal basis, related_only) as
``measures.yaml`` gives it; NULL: the measure reaches the listed subject only.

Revision ID: 0015_related_persons
Revises: 0014_share_lookback
Create Date: 2026-12-07 05:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import xinyong.core.db

revision = "0015_related_persons"
down_revision = "0014_share_lookback"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _id() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "related_persons",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("subject_id", _id(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_norm", sa.String(length=100), nullable=False),
        sa.Column("id_hash", sa.String(length=64), nullable=True),
        sa.Column("id_enc", sa.Text(), nullable=True),
        sa.Column("id_masked", sa.String(length=20), nullable=True),
        sa.Column("person_key", sa.String(length=120), nullable=False),
        sa.Column("person_subject_id", _id(), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("provenance", _json(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", xinyong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", xinyong.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.String(length=200), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "role IN ('legal_rep', 'principal', 'director', 'supervisor', 'senior_manager')",
            name=op.f("ck_related_persons_role"),
        ),
        sa.CheckConstraint(
            "source IN ('registry', 'record', 'list_entry', 'manual')", name=op.f("ck_related_persons_source")
        ),
        sa.CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name=op.f("ck_related_persons_period")),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"], name=op.f("fk_related_persons_subject_id_subjects")),
        sa.ForeignKeyConstraint(
            ["person_subject_id"], ["subjects.id"], name=op.f("fk_related_persons_person_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_related_persons")),
    )
    op.create_index("ix_related_persons_subject_role", "related_persons", ["subject_id", "role"])
    op.create_index("ix_related_persons_id_hash", "related_persons", ["id_hash"])
    op.create_index(
        "uq_related_persons_open",
        "related_persons",
        ["subject_id", "role", "person_key"],
        unique=True,
        sqlite_where=sa.text("valid_to IS NULL"),
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    with op.batch_alter_table("measures") as batch:
        batch.add_column(sa.Column("extends_to", _json(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("measures") as batch:
        batch.drop_column("extends_to")
    op.drop_index("uq_related_persons_open", table_name="related_persons")
    op.drop_index("ix_related_persons_id_hash", table_name="related_persons")
    op.drop_index("ix_related_persons_subject_role", table_name="related_persons")
    op.drop_table("related_persons")
