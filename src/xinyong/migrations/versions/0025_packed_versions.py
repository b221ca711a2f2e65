"""record versions packed: a version's two documents compressed together with a preset dictionary (issue #19)

``record_versions.packed`` holds ``[content, data]`` (their compact stored form) as JSON compressed by zlib with a
preset dictionary — the one built into ``xinyong.records.versions`` or one trained from the city's own versions,
kept in the new table ``version_dictionaries`` — and ``content`` / ``data`` are then NULL (a CHECK says a version
is one or the other). Nothing is rewritten here: versions stored before stay plain and are read as they are;
``xinyong records pack-versions`` packs them in batches, resumably, while the platform runs.

Downgrade: every packed version is unpacked back into its columns (in batches), then the column, the check and the
table go.

Revision ID: 0025_packed_versions
Revises: 0024_contributions_json
Create Date: 2026-12-07 23:50:00
"""

from __future__ import annotations

import orjson
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import xinyong.core.db
from xinyong.records import versions

revision = "0025_packed_versions"
down_revision = "0024_contributions_json"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
CHECK = (
    "(packed IS NULL AND content IS NOT NULL AND data IS NOT NULL) "
    "OR (packed IS NOT NULL AND content IS NULL AND data IS NULL)"
)
BATCH = 5_000


def upgrade() -> None:
    op.create_table(
        "version_dictionaries",
        sa.Column("id", BIG, autoincrement=True, nullable=False),
        sa.Column("checksum", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("trained_from", JSON, nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", xinyong.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_version_dictionaries")),
        sa.UniqueConstraint("checksum", name=op.f("uq_version_dictionaries_checksum")),
    )
    with op.batch_alter_table("record_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("packed", sa.LargeBinary(), nullable=True))
        batch_op.alter_column("content", existing_type=JSON, nullable=True)
        batch_op.alter_column("data", existing_type=JSON, nullable=True)
        batch_op.create_check_constraint("packed_or_plain", CHECK)


def unpack_all(conn: sa.Connection) -> int:
    """Every packed version made plain again (its documents in their columns), in batches of ids; how many."""
    pg = conn.dialect.name == "postgresql"
    known = {versions.checksum(versions.BUILTIN_DICTIONARY): versions.BUILTIN_DICTIONARY}
    for key, body in conn.execute(sa.text("SELECT checksum, body FROM version_dictionaries")):
        known[key] = bytes(body)
    cast = "CAST(:c AS jsonb)" if pg else ":c"
    cast_d = "CAST(:d AS jsonb)" if pg else ":d"
    done, last = 0, 0
    while True:
        rows = conn.execute(
            sa.text(
                "SELECT id, packed FROM record_versions WHERE packed IS NOT NULL AND id > :last ORDER BY id LIMIT :n"
            ),
            {"last": last, "n": BATCH},
        ).all()
        if not rows:
            return done
        params = []
        for vid, packed in rows:
            content, data = versions.documents(None, None, bytes(packed), known.get)
            params.append({"id": vid, "c": orjson.dumps(content).decode(), "d": orjson.dumps(data).decode()})
        conn.execute(
            sa.text(f"UPDATE record_versions SET content = {cast}, data = {cast_d}, packed = NULL WHERE id = :id"),
            params,
        )
        done, last = done + len(rows), rows[-1][0]


def downgrade() -> None:
    with op.batch_alter_table("record_versions", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_record_versions_packed_or_plain"), type_="check")
    unpack_all(op.get_bind())
    with op.batch_alter_table("record_versions", schema=None) as batch_op:
        batch_op.alter_column("content", existing_type=JSON, nullable=False)
        batch_op.alter_column("data", existing_type=JSON, nullable=False)
        batch_op.drop_column("packed")
    op.drop_table("version_dictionaries")
