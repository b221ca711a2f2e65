"""department authorities: the units a department reports for besides itself (the authority rule, issue #13)

A department's own USCC counts without a row here, so every existing department keeps submitting its own
decisions. So that a department which already submits a subordinate unit's decisions keeps working on the day the
rule is deployed, each authority USCC its accepted records (credit_records) and commitments (承诺受理单位代码)
already name is registered for it, under the name it used most, except:

- its own USCC (counts anyway);
- another department's own USCC: that is the case the rule closes (department B published decisions in
  department A's name), never registered on B's behalf;
- a USCC named by the records of more than one department: which one reports for it is the admin's decision.

These registrations are marked ``added_by = 'migration:0010'`` with the reason below (a migration writes no audit
event: the audit chain is appended by the application); ``xinyong departments authorities list DEPT`` shows them
and the admin removes any that should not stand.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 09:00:00
"""

import datetime as dt
from collections import Counter, defaultdict

import sqlalchemy as sa
from alembic import op

import xinyong.core.db

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ADDED_BY = "migration:0010"
REASON = "规则上线时按该部门已报送的记录登记（迁移 0010），请平台管理员核对"


def upgrade() -> None:
    table = op.create_table(
        "department_authorities",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("department_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("added_by", sa.String(length=200), nullable=False),
        sa.Column("added_at", xinyong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("fk_department_authorities_department_id_departments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_department_authorities")),
        sa.UniqueConstraint("uscc", name=op.f("uq_department_authorities_uscc")),
    )
    with op.batch_alter_table("department_authorities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_department_authorities_department_id"), ["department_id"], unique=False)
    rows = _registrations(op.get_bind())
    if rows:
        op.bulk_insert(table, rows)


def _registrations(bind: sa.engine.Connection) -> list[dict[str, object]]:
    """What the departments already submit for other authorities (see the module's docstring)."""
    own = {uscc: dept_id for dept_id, uscc in bind.execute(sa.text("SELECT id, uscc FROM departments"))}
    used: dict[str, dict[int, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for sql in (
        "SELECT department_id, authority_uscc, authority, COUNT(*) FROM credit_records "
        "GROUP BY department_id, authority_uscc, authority",
        "SELECT department_id, accepting_unit_code, accepting_unit, COUNT(*) FROM commitments "
        "GROUP BY department_id, accepting_unit_code, accepting_unit",
    ):
        for dept_id, uscc, name, n in bind.execute(sa.text(sql)):
            uscc = (uscc or "").strip().upper()
            if uscc and uscc not in own and (name or "").strip():
                used[uscc][dept_id][name.strip()[:200]] += n
    now = dt.datetime.now(dt.UTC)
    rows = []
    for uscc, by_dept in sorted(used.items()):
        if len(by_dept) != 1:
            continue
        [(dept_id, names)] = by_dept.items()
        name = min(names, key=lambda n: (-names[n], n))  # the most used spelling; ties: the first in order
        rows.append(
            {
                "department_id": dept_id,
                "uscc": uscc,
                "name": name,
                "reason": REASON,
                "added_by": ADDED_BY,
                "added_at": now,
            }
        )
    return rows


def downgrade() -> None:
    with op.batch_alter_table("department_authorities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_department_authorities_department_id"))

    op.drop_table("department_authorities")
