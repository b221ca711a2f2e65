"""信易贷 (financing: institutions, their principals, authorisations, loan feedback) and the subjects' access log
(查询记录, append-only like the audit log), issue #15 points 4 and 5

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 01:57:43
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import xinyong.core.db

revision = "0012"
down_revision = "0011_assessment"
branch_labels = None
depends_on = None


# subject_access_log refuses UPDATE and DELETE (the statements of xinyong.subjects.access_log.APPEND_ONLY_DDL, frozen).
APPEND_ONLY = {
    "sqlite": [
        "CREATE TRIGGER subject_access_log_no_update BEFORE UPDATE ON subject_access_log "
        "BEGIN SELECT RAISE(ABORT, 'subject_access_log is append-only'); END",
        "CREATE TRIGGER subject_access_log_no_delete BEFORE DELETE ON subject_access_log "
        "BEGIN SELECT RAISE(ABORT, 'subject_access_log is append-only'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION subject_access_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'subject_access_log is append-only'; END $$",
        "CREATE TRIGGER subject_access_log_no_change BEFORE UPDATE OR DELETE ON subject_access_log "
        "FOR EACH ROW EXECUTE FUNCTION subject_access_log_append_only()",
    ],
}


def upgrade() -> None:
    op.create_table(
        "financing_institutions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", xinyong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_financing_institutions")),
        sa.UniqueConstraint("code", name=op.f("uq_financing_institutions_code")),
        sa.UniqueConstraint("name", name=op.f("uq_financing_institutions_name")),
        sa.UniqueConstraint("uscc", name=op.f("uq_financing_institutions_uscc")),
    )
    op.create_table(
        "financing_authorisations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("institution_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "scope", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("starts_at", xinyong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", xinyong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("document_sha256", sa.String(length=64), nullable=True),
        sa.Column("document_name", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", xinyong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", xinyong.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=200), nullable=True),
        sa.Column("revoked_reason", sa.String(length=500), nullable=True),
        sa.CheckConstraint("method IN ('online', 'document')", name=op.f("ck_financing_authorisations_method")),
        sa.CheckConstraint("expires_at > starts_at", name=op.f("ck_financing_authorisations_period")),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["financing_institutions.id"],
            name=op.f("fk_financing_authorisations_institution_id_financing_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_financing_authorisations_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_financing_authorisations")),
        sa.UniqueConstraint("document_sha256", name=op.f("uq_financing_authorisations_document_sha256")),
    )
    with op.batch_alter_table("financing_authorisations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_financing_authorisations_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(
            "ix_financing_authorisations_subject_institution", ["subject_id", "institution_id"], unique=False
        )

    op.create_table(
        "financing_principals",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("institution_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("principal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", xinyong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('user', 'token')", name=op.f("ck_financing_principals_kind")),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["financing_institutions.id"],
            name=op.f("fk_financing_principals_institution_id_financing_institutions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_financing_principals")),
        sa.UniqueConstraint("kind", "principal_id", name="uq_financing_principals_kind_principal"),
    )
    with op.batch_alter_table("financing_principals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_financing_principals_institution_id"), ["institution_id"], unique=False)

    op.create_table(
        "subject_access_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", xinyong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=True),
        sa.Column("department_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("institution", sa.String(length=200), nullable=True),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("endpoint", sa.String(length=200), nullable=False),
        sa.Column(
            "scope", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("error_code", sa.String(length=60), nullable=True),
        sa.Column("audit_event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["audit_event_id"], ["audit_events.id"], name=op.f("fk_subject_access_log_audit_event_id_audit_events")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("fk_subject_access_log_department_id_departments")
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_subject_access_log_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_access_log")),
        sa.UniqueConstraint("audit_event_id", name=op.f("uq_subject_access_log_audit_event_id")),
    )
    with op.batch_alter_table("subject_access_log", schema=None) as batch_op:
        batch_op.create_index("ix_subject_access_log_subject_at", ["subject_id", "at"], unique=False)
    for statement in APPEND_ONLY[op.get_bind().dialect.name]:
        op.execute(statement)

    op.create_table(
        "financing_feedback",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("authorisation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("institution_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("amount_yuan", sa.Numeric(precision=16, scale=2), nullable=True),
        sa.Column("rate_band", sa.String(length=20), nullable=True),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", xinyong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("outcome IN ('granted', 'declined')", name=op.f("ck_financing_feedback_outcome")),
        sa.ForeignKeyConstraint(
            ["authorisation_id"],
            ["financing_authorisations.id"],
            name=op.f("fk_financing_feedback_authorisation_id_financing_authorisations"),
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["financing_institutions.id"],
            name=op.f("fk_financing_feedback_institution_id_financing_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_financing_feedback_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_financing_feedback")),
    )
    with op.batch_alter_table("financing_feedback", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_financing_feedback_authorisation_id"), ["authorisation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_financing_feedback_institution_id"), ["institution_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("financing_feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_financing_feedback_institution_id"))
        batch_op.drop_index(batch_op.f("ix_financing_feedback_authorisation_id"))

    op.drop_table("financing_feedback")
    with op.batch_alter_table("subject_access_log", schema=None) as batch_op:
        batch_op.drop_index("ix_subject_access_log_subject_at")

    op.drop_table("subject_access_log")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS subject_access_log_append_only()")
    with op.batch_alter_table("financing_principals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_financing_principals_institution_id"))

    op.drop_table("financing_principals")
    with op.batch_alter_table("financing_authorisations", schema=None) as batch_op:
        batch_op.drop_index("ix_financing_authorisations_subject_institution")
        batch_op.drop_index(batch_op.f("ix_financing_authorisations_institution_id"))

    op.drop_table("financing_authorisations")
    op.drop_table("financing_institutions")
