#!/bin/sh
# The streaming replica of compose.yaml: on first start, copy the primary with pg_basebackup -R (it writes
# standby.signal and primary_conninfo), then run as a hot standby. Later starts go straight to postgres.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_isready -h db -p 5432 -U postgres -q; do sleep 1; done
  rm -rf "${PGDATA:?}"/*
  PGPASSWORD="$REPLICATION_PASSWORD" pg_basebackup -h db -p 5432 -U replicator -D "$PGDATA" -R -X stream -c fast
  chmod 0700 "$PGDATA"
fi
# hot_standby_feedback: the primary's vacuum keeps the row versions the replica's running reads still see, so
# replay never cancels a check or a portal page for a conflict (those would be retried, as SQLSTATE 40001).
exec postgres -c hot_standby=on -c hot_standby_feedback=on
