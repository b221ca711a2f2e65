"""key professions and government integrity (issue #18 parts 2 and 3): profession_registrations (a natural
person's qualification, employer, validity, status; versioned in profession_registration_versions),
civil_servant_entries (公务员诚信档案), government_contracts (PPP / procurement payment performance) and
government_flags (the credit office's queue of public bodies found on the 失信被执行人 list)

Revision ID: 0020_professions_government
Revises: 0019_record_classes
Create Date: 2026-12-07 07:28:31.168718
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import xinyong.core.db

revision = "0020_professions_government"
down_revision = "0019_record_classes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "civil_servant_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("body_subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("result", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("recorded_on", sa.Date(), nullable=False),
        sa.Column("department_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", xinyong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('recruitment', 'annual_review', 'integrity', 'dishonesty', 'reward')",
            name=op.f("ck_civil_servant_entries_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["body_subject_id"], ["subjects.id"], name=op.f("fk_civil_servant_entries_body_subject_id_subjects")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("fk_civil_servant_entries_department_id_departments")
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_civil_servant_entries_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_civil_servant_entries")),
    )
    with op.batch_alter_table("civil_servant_entries", schema=None) as batch_op:
        batch_op.create_index("ix_civil_servant_entries_subject", ["subject_id"], unique=False)

    op.create_table(
        "government_contracts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("body_subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("contract_no", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("counterparty_subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("counterparty_name", sa.String(length=200), nullable=True),
        sa.Column("amount_wan", sa.Numeric(precision=16, scale=4), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("paid_on", sa.Date(), nullable=True),
        sa.Column("overdue_amount_wan", sa.Numeric(precision=16, scale=4), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("department_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", xinyong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", xinyong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('ppp', 'procurement')", name=op.f("ck_government_contracts_kind")),
        sa.CheckConstraint("status IN ('performing', 'paid', 'overdue')", name=op.f("ck_government_contracts_status")),
        sa.ForeignKeyConstraint(
            ["body_subject_id"], ["subjects.id"], name=op.f("fk_government_contracts_body_subject_id_subjects")
        ),
        sa.ForeignKeyConstraint(
            ["counterparty_subject_id"],
            ["subjects.id"],
            name=op.f("fk_government_contracts_counterparty_subject_id_subjects"),
        ),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("fk_government_contracts_department_id_departments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_government_contracts")),
        sa.UniqueConstraint(
            "body_subject_id", "contract_no", name=op.f("uq_government_contracts_body_subject_id_contract_no")
        ),
    )
    op.create_table(
        "profession_registrations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("profession", sa.String(length=40), nullable=False),
        sa.Column("certificate_no", sa.String(length=60), nullable=False),
        sa.Column("qualification_level", sa.String(length=60), nullable=True),
        sa.Column("employer_subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("employer_code", sa.String(length=18), nullable=True),
        sa.Column("employer_name", sa.String(length=200), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("department_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", xinyong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", xinyong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'suspended', 'revoked', 'expired', 'cancelled')",
            name=op.f("ck_profession_registrations_status"),
        ),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("fk_profession_registrations_department_id_departments")
        ),
        sa.ForeignKeyConstraint(
            ["employer_subject_id"],
            ["subjects.id"],
            name=op.f("fk_profession_registrations_employer_subject_id_subjects"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_profession_registrations_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profession_registrations")),
        sa.UniqueConstraint(
            "profession", "certificate_no", name=op.f("uq_profession_registrations_profession_certificate_no")
        ),
    )
    with op.batch_alter_table("profession_registrations", schema=None) as batch_op:
        batch_op.create_index("ix_profession_registrations_employer", ["employer_subject_id"], unique=False)
        batch_op.create_index("ix_profession_registrations_subject", ["subject_id"], unique=False)

    op.create_table(
        "profession_registration_versions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("registration_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column(
            "content", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("department_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("at", xinyong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_profession_registration_versions_department_id_departments"),
        ),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["profession_registrations.id"],
            name=op.f("fk_profession_registration_versions_registration_id_profession_registrations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profession_registration_versions")),
        sa.UniqueConstraint(
            "registration_id", "revision", name=op.f("uq_profession_registration_versions_registration_id_revision")
        ),
    )
    op.create_table(
        "government_flags",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("subject_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("list_entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("list_code", sa.String(length=60), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("raised_at", xinyong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("handled_by", sa.String(length=200), nullable=True),
        sa.Column("handled_at", xinyong.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('open', 'handled')", name=op.f("ck_government_flags_status")),
        sa.ForeignKeyConstraint(
            ["list_entry_id"], ["list_entries.id"], name=op.f("fk_government_flags_list_entry_id_list_entries")
        ),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"], name=op.f("fk_government_flags_subject_id_subjects")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_government_flags")),
        sa.UniqueConstraint("list_entry_id", name=op.f("uq_government_flags_list_entry_id")),
    )
    with op.batch_alter_table("government_flags", schema=None) as batch_op:
        batch_op.create_index("ix_government_flags_status", ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("government_flags", schema=None) as batch_op:
        batch_op.drop_index("ix_government_flags_status")

    op.drop_table("government_flags")
    op.drop_table("profession_registration_versions")
    with op.batch_alter_table("profession_registrations", schema=None) as batch_op:
        batch_op.drop_index("ix_profession_registrations_subject")
        batch_op.drop_index("ix_profession_registrations_employer")

    op.drop_table("profession_registrations")
    op.drop_table("government_contracts")
    with op.batch_alter_table("civil_servant_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_civil_servant_entries_subject")

    op.drop_table("civil_servant_entries")
