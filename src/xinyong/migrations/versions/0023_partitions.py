"""PostgreSQL partitioning of the large append-mostly tables (issue #19 part 2)

* ``audit_events`` and ``checks``: by month (RANGE on ``at``, UTC months), one partition per month created ahead by
  ``xinyong_ensure_month_partitions`` (called by ``xinyong db partitions`` and the daily job ``db.partitions``), and
  a DEFAULT partition so that no insert ever fails for want of a partition.
* ``record_versions``: by HASH of ``record_id`` (16 partitions): every look-up of a record's versions names the
  record.
* ``credit_records`` stays one table: see docs/architecture.md "Partitioning".

PostgreSQL requires every primary key and unique constraint of a partitioned table to include the partition key and
cannot point a foreign key at only part of one. What the plain tables guaranteed is kept as follows:

* The primary keys become ``(id, at)`` / ``(id, record_id)``; ``id`` comes from the table's sequence. The audit log's
  ``id``, ``seq`` and ``hash`` stay unique *across* partitions by the trigger ``audit_events_unique``, serialised
  by a transaction-scoped advisory lock (appends are serialised by ``audit_chain_head`` anyway).
* The foreign keys that pointed at ``audit_events.id`` and ``checks.id`` are enforced by triggers that do what
  PostgreSQL's own referential triggers do: the child's insert or update locks the parent row ``FOR KEY SHARE`` and
  fails if it does not exist; a parent's delete (or change of ``id``) fails while a child refers to it (checked
  *after* the row is locked, so a concurrent insert of a child is seen). ``audit_events`` refuses every delete and
  update already (``audit_events_no_change``, kept on the partitioned table and so on every partition).

SQLite: nothing changes (the migration is a no-op there).

Revision ID: 0023_partitions
Revises: 0021_exchange_rejections
Create Date: 2026-12-07 12:40:00
"""

from alembic import op

revision = "0023_partitions"
down_revision = "0022_compact_versions"
branch_labels = None
depends_on = None

HASH_PARTITIONS = 16

# The constraints and indexes each table is rebuilt with (their names do not change).
AUDIT_OBJECTS = [
    *("pk_audit_events", "uq_audit_events_seq", "uq_audit_events_hash"),
    *("ix_audit_events_action", "ix_audit_events_actor", "ix_audit_events_at"),
]
CHECK_OBJECTS = ["pk_checks", "fk_checks_department_id_departments", "ix_checks_at", "ix_checks_department_at"]
VERSION_OBJECTS = [
    *("pk_record_versions", "uq_record_versions_record_id_version_no"),  # batch_id's index went in 0022
    *("fk_record_versions_batch_id_ingest_batches", "fk_record_versions_department_id_departments"),
    "fk_record_versions_record_id_credit_records",
]
MONTHS_AHEAD = 3

# The maintenance function: partitions for every month from first_month to last_month (inclusive) of a table
# partitioned by month, named <table>_pYYYYMM. Rows already in the DEFAULT partition for such a month (the
# function did not run in time) are moved into the new partition first, with the default partition's triggers
# disabled for the move (the rows are moved unchanged: the append-only log still verifies). Returns the names
# created.
MAINTENANCE_FUNCTION = r"""
CREATE OR REPLACE FUNCTION xinyong_ensure_month_partitions(parent text, first_month date, last_month date)
RETURNS SETOF text LANGUAGE plpgsql AS $fn$
DECLARE
    m date := date_trunc('month', first_month)::date;
    lo timestamptz;
    hi timestamptz;
    part text;
    dflt text := parent || '_default';
    col text;
    moving bigint;
BEGIN
    SELECT a.attname INTO col
      FROM pg_partitioned_table p JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
     WHERE p.partrelid = parent::regclass AND p.partstrat = 'r';
    IF col IS NULL THEN
        RAISE EXCEPTION '% is not partitioned by range', parent;
    END IF;
    WHILE m <= last_month LOOP
        part := parent || '_p' || to_char(m, 'YYYYMM');
        IF to_regclass(part) IS NULL THEN
            lo := m::timestamp AT TIME ZONE 'UTC';
            hi := (m + interval '1 month')::timestamp AT TIME ZONE 'UTC';
            EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part, parent);
            IF to_regclass(dflt) IS NOT NULL THEN
                EXECUTE format('SELECT count(*) FROM %I WHERE %I >= $1 AND %I < $2', dflt, col, col)
                   INTO moving USING lo, hi;
                IF moving > 0 THEN
                    EXECUTE format('LOCK TABLE %I IN EXCLUSIVE MODE', parent);
                    EXECUTE format('ALTER TABLE %I DISABLE TRIGGER USER', dflt);
                    EXECUTE format(
                        'WITH moved AS (DELETE FROM %I WHERE %I >= $1 AND %I < $2 RETURNING *) '
                        'INSERT INTO %I SELECT * FROM moved', dflt, col, col, part) USING lo, hi;
                    EXECUTE format('ALTER TABLE %I ENABLE TRIGGER USER', dflt);
                END IF;
            END IF;
            EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', parent, part, lo, hi);
            RETURN NEXT part;
        END IF;
        m := (m + interval '1 month')::date;
    END LOOP;
END
$fn$
"""

AUDIT_UNIQUE = r"""
CREATE OR REPLACE FUNCTION audit_events_unique() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    -- One writer at a time past this point until it commits: the checks below see every committed event.
    PERFORM pg_advisory_xact_lock(hashtext('xinyong.audit_events.unique'));
    IF EXISTS (SELECT 1 FROM audit_events WHERE id = NEW.id) THEN
        RAISE EXCEPTION 'duplicate key value violates unique constraint "pk_audit_events"'
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'pk_audit_events';
    END IF;
    IF EXISTS (SELECT 1 FROM audit_events WHERE seq = NEW.seq) THEN
        RAISE EXCEPTION 'duplicate key value violates unique constraint "uq_audit_events_seq"'
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'uq_audit_events_seq';
    END IF;
    IF EXISTS (SELECT 1 FROM audit_events WHERE hash = NEW.hash) THEN
        RAISE EXCEPTION 'duplicate key value violates unique constraint "uq_audit_events_hash"'
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'uq_audit_events_hash';
    END IF;
    RETURN NEW;
END
$fn$
"""

# Referential integrity towards a partitioned parent, by trigger: (child table, column, parent, constraint name).
EMULATED_FKS = (
    ("audit_chain_head", "last_event_id", "audit_events", "fk_audit_chain_head_last_event_id_audit_events"),
    ("subject_access_log", "audit_event_id", "audit_events", "fk_subject_access_log_audit_event_id_audit_events"),
    ("check_items", "check_id", "checks", "fk_check_items_check_id_checks"),
    ("check_feedback", "check_id", "checks", "fk_check_feedback_check_id_checks"),
)


def _child_function(child: str, column: str, parent: str, name: str) -> str:
    return rf"""
CREATE OR REPLACE FUNCTION {name}_child() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    missing bigint;
BEGIN
    PERFORM 1 FROM {parent} p WHERE p.id IN (SELECT n.{column} FROM new_rows n) FOR KEY SHARE OF p;
    SELECT n.{column} INTO missing FROM new_rows n
     WHERE n.{column} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.id = n.{column}) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "{child}" violates foreign key constraint "{name}"'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '{name}',
                  DETAIL = format('Key ({column})=(%s) is not present in table "{parent}".', missing);
    END IF;
    RETURN NULL;
END
$fn$
"""


def _parent_function(child: str, column: str, parent: str, name: str) -> str:
    return rf"""
CREATE OR REPLACE FUNCTION {name}_parent() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF (TG_OP = 'DELETE' OR NEW.id <> OLD.id) AND EXISTS (SELECT 1 FROM {child} c WHERE c.{column} = OLD.id) THEN
        RAISE EXCEPTION 'update or delete on table "{parent}" violates foreign key constraint "{name}" on table "{child}"'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '{name}',
                  DETAIL = format('Key (id)=(%s) is still referenced from table "{child}".', OLD.id);
    END IF;
    RETURN NULL;
END
$fn$
"""


def _swap_to_partitioned(table: str, partition_by: str, drop: list[str]) -> None:
    """Replace ``table`` by an empty partitioned table of the same columns, defaults and sequence, and leave the old
    one as ``<table>_unpartitioned`` without its constraints and indexes (``drop``: their names)."""
    op.execute(f"ALTER TABLE {table} RENAME TO {table}_unpartitioned")
    for name in drop:
        if name.startswith("ix_"):
            op.execute(f"DROP INDEX {name}")
        else:
            op.execute(f"ALTER TABLE {table}_unpartitioned DROP CONSTRAINT {name}")
    op.execute(f"CREATE TABLE {table} (LIKE {table}_unpartitioned INCLUDING DEFAULTS) PARTITION BY {partition_by}")
    op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}.id")


def _swap_to_plain(table: str, drop: list[str]) -> None:
    op.execute(f"ALTER TABLE {table} RENAME TO {table}_partitioned")
    for name in drop:
        if name.startswith("ix_"):
            op.execute(f"DROP INDEX {name}")
        else:
            op.execute(f"ALTER TABLE {table}_partitioned DROP CONSTRAINT {name}")
    op.execute(f"CREATE TABLE {table} (LIKE {table}_partitioned INCLUDING DEFAULTS)")
    op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}.id")


def _copy_and_drop(table: str, old: str) -> None:
    op.execute(f"INSERT INTO {table} SELECT * FROM {old}")
    op.execute(f"DROP TABLE {old}")


def _month_partitions(table: str) -> None:
    """DEFAULT, and one partition per month from the oldest row's month to MONTHS_AHEAD months from now."""
    op.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
    op.execute(
        f"SELECT xinyong_ensure_month_partitions('{table}', "
        f"COALESCE((SELECT min(at AT TIME ZONE 'UTC')::date FROM {table}_unpartitioned), "
        f"(now() AT TIME ZONE 'UTC')::date), "
        f"((now() AT TIME ZONE 'UTC') + interval '{MONTHS_AHEAD} months')::date)"
    )


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(MAINTENANCE_FUNCTION)
    for child, _column, _parent, name in EMULATED_FKS:
        op.execute(f'ALTER TABLE {child} DROP CONSTRAINT "{name}"')

    # audit_events: by month.
    _swap_to_partitioned(
        "audit_events",
        "RANGE (at)",
        AUDIT_OBJECTS,
    )
    _month_partitions("audit_events")
    _copy_and_drop("audit_events", "audit_events_unpartitioned")
    op.execute("ALTER TABLE audit_events ADD CONSTRAINT pk_audit_events PRIMARY KEY (id, at)")
    op.execute("ALTER TABLE audit_events ADD CONSTRAINT uq_audit_events_seq UNIQUE (seq, at)")
    op.execute("ALTER TABLE audit_events ADD CONSTRAINT uq_audit_events_hash UNIQUE (hash, at)")
    for column in ("action", "actor", "at"):
        op.execute(f"CREATE INDEX ix_audit_events_{column} ON audit_events ({column})")
    op.execute(
        "CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
    )
    op.execute(AUDIT_UNIQUE)
    op.execute(
        "CREATE TRIGGER audit_events_unique BEFORE INSERT ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_events_unique()"
    )

    # checks: by month.
    _swap_to_partitioned(
        "checks",
        "RANGE (at)",
        CHECK_OBJECTS,
    )
    _month_partitions("checks")
    _copy_and_drop("checks", "checks_unpartitioned")
    op.execute("ALTER TABLE checks ADD CONSTRAINT pk_checks PRIMARY KEY (id, at)")
    op.execute("CREATE INDEX ix_checks_at ON checks (at)")
    op.execute("CREATE INDEX ix_checks_department_at ON checks (department_id, at)")
    op.execute(
        "ALTER TABLE checks ADD CONSTRAINT fk_checks_department_id_departments "
        "FOREIGN KEY (department_id) REFERENCES departments (id)"
    )

    # record_versions: by hash of the record.
    _swap_to_partitioned(
        "record_versions",
        "HASH (record_id)",
        VERSION_OBJECTS,
    )
    for i in range(HASH_PARTITIONS):
        op.execute(
            f"CREATE TABLE record_versions_h{i:02d} PARTITION OF record_versions "
            f"FOR VALUES WITH (MODULUS {HASH_PARTITIONS}, REMAINDER {i})"
        )
    _copy_and_drop("record_versions", "record_versions_unpartitioned")
    op.execute("ALTER TABLE record_versions ADD CONSTRAINT pk_record_versions PRIMARY KEY (id, record_id)")
    op.execute(
        "ALTER TABLE record_versions ADD CONSTRAINT uq_record_versions_record_id_version_no "
        "UNIQUE (record_id, version_no)"
    )
    for column, target in (
        ("batch_id", "ingest_batches"),
        ("department_id", "departments"),
        ("record_id", "credit_records"),
    ):
        op.execute(
            f"ALTER TABLE record_versions ADD CONSTRAINT fk_record_versions_{column}_{target} "
            f"FOREIGN KEY ({column}) REFERENCES {target} (id)"
        )

    for child, column, parent, name in EMULATED_FKS:
        op.execute(_child_function(child, column, parent, name))
        for event in ("INSERT", "UPDATE"):
            op.execute(
                f"CREATE TRIGGER {name}_{event.lower()} AFTER {event} ON {child} REFERENCING NEW TABLE AS new_rows "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {name}_child()"
            )
        if parent != "audit_events":  # the audit log refuses every update and delete by itself
            op.execute(_parent_function(child, column, parent, name))
            op.execute(
                f"CREATE TRIGGER {name}_parent AFTER UPDATE OR DELETE ON {parent} "
                f"FOR EACH ROW EXECUTE FUNCTION {name}_parent()"
            )
    op.execute("ANALYZE audit_events")
    op.execute("ANALYZE checks")
    op.execute("ANALYZE record_versions")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for child, _column, parent, name in EMULATED_FKS:
        for event in ("insert", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}_{event} ON {child}")
        op.execute(f"DROP TRIGGER IF EXISTS {name}_parent ON {parent}")
        op.execute(f"DROP FUNCTION IF EXISTS {name}_child()")
        op.execute(f"DROP FUNCTION IF EXISTS {name}_parent()")

    _swap_to_plain(
        "record_versions",
        VERSION_OBJECTS,
    )
    _copy_and_drop("record_versions", "record_versions_partitioned")
    op.execute("ALTER TABLE record_versions ADD CONSTRAINT pk_record_versions PRIMARY KEY (id)")
    op.execute(
        "ALTER TABLE record_versions ADD CONSTRAINT uq_record_versions_record_id_version_no "
        "UNIQUE (record_id, version_no)"
    )
    for column, target in (
        ("batch_id", "ingest_batches"),
        ("department_id", "departments"),
        ("record_id", "credit_records"),
    ):
        op.execute(
            f"ALTER TABLE record_versions ADD CONSTRAINT fk_record_versions_{column}_{target} "
            f"FOREIGN KEY ({column}) REFERENCES {target} (id)"
        )

    _swap_to_plain("checks", CHECK_OBJECTS)
    _copy_and_drop("checks", "checks_partitioned")
    op.execute("ALTER TABLE checks ADD CONSTRAINT pk_checks PRIMARY KEY (id)")
    op.execute("CREATE INDEX ix_checks_at ON checks (at)")
    op.execute("CREATE INDEX ix_checks_department_at ON checks (department_id, at)")
    op.execute(
        "ALTER TABLE checks ADD CONSTRAINT fk_checks_department_id_departments "
        "FOREIGN KEY (department_id) REFERENCES departments (id)"
    )

    _swap_to_plain(
        "audit_events",
        AUDIT_OBJECTS,
    )
    _copy_and_drop("audit_events", "audit_events_partitioned")
    op.execute("DROP FUNCTION IF EXISTS audit_events_unique()")
    op.execute("ALTER TABLE audit_events ADD CONSTRAINT pk_audit_events PRIMARY KEY (id)")
    op.execute("ALTER TABLE audit_events ADD CONSTRAINT uq_audit_events_seq UNIQUE (seq)")
    op.execute("ALTER TABLE audit_events ADD CONSTRAINT uq_audit_events_hash UNIQUE (hash)")
    for column in ("action", "actor", "at"):
        op.execute(f"CREATE INDEX ix_audit_events_{column} ON audit_events ({column})")
    op.execute(
        "CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
    )
    op.execute("DROP FUNCTION IF EXISTS xinyong_ensure_month_partitions(text, date, date)")

    for child, column, parent, name in EMULATED_FKS:
        op.execute(f'ALTER TABLE {child} ADD CONSTRAINT "{name}" FOREIGN KEY ({column}) REFERENCES {parent} (id)')
