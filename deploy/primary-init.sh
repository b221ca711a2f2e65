#!/bin/sh
# Run once by the postgres image on the primary's first start (docker-entrypoint-initdb.d): the replication role
# the replica copies and streams with, and its line in pg_hba.conf.
set -eu
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" \
  -c "CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD '$REPLICATION_PASSWORD'"
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
