#!/usr/bin/env bash
# integration_usage_events in one table (before) against partitioned by day (after, migration
# 20261207100000), on one Postgres: inserting 200,000 bar reads of 1,000 bots, 1,000 a
# statement (each batch one read per bot, as a fleet on 1 s bars writes them), first into an
# empty day, then into a day after `prior` older rows (other days) are already held.
#   PGHOST=127.0.0.1 PGUSER=postgres scripts/usage-partition-ab.sh [rounds=3] [prior=3600000]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
prior=${2:-3600000}
export PGOPTIONS="-c client_min_messages=warning"
new=migrations/20261207100000_usage_events_by_day.sql
for db in usage_part_before usage_part_after; do
  psql -qX -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
  for f in migrations/*.sql; do
    if [[ $db == usage_part_before && $f == "$new" ]]; then continue; fi
    psql -qX -1 -v ON_ERROR_STOP=1 -d "$db" -f "$f" >/dev/null
  done
done
# The days the leader would have made (store::usage_partitions names them so).
for d in 2026-12-01 2026-12-02 2026-12-03 2026-12-04 2026-12-05 2026-12-06 2026-12-07; do
  n=integration_usage_events_p${d//-/}
  psql -qX -d usage_part_after -c "CREATE TABLE $n PARTITION OF integration_usage_events FOR VALUES FROM ('$d') TO (date '$d' + 1)" >/dev/null
done

truncate="TRUNCATE integration_usage_events, integration_usage_minutely, integration_usage_hourly, integration_usage_latest, bot_usage_hourly"
run() { # db rows day salt -> ms
  psql -qX -d "$1" -v rows="$2" -v day="$3" -v salt="$4" -f scripts/usage-load.psql | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1
}
echo "## 200,000 events into an empty table, 1,000 a statement (ms)"
for ((r = 1; r <= rounds; r++)); do
  for db in usage_part_before usage_part_after; do
    psql -qX -d "$db" -c "$truncate" -c "CHECKPOINT" >/dev/null
    echo "round $r $db: $(run "$db" 200000 '2026-12-07 10:00' 1)"
  done
done
echo "## 200,000 events after $prior older ones (earlier days) (ms)"
for db in usage_part_before usage_part_after; do
  psql -qX -d "$db" -c "$truncate" >/dev/null
  run "$db" "$prior" '2026-12-01 00:00' 2 >/dev/null
  psql -qX -d "$db" -c "VACUUM ANALYZE integration_usage_events" -c "CHECKPOINT" >/dev/null
done
for ((r = 1; r <= rounds; r++)); do
  for db in usage_part_before usage_part_after; do
    psql -qX -d "$db" -c "DELETE FROM integration_usage_events WHERE created_at >= '2026-12-07'" -c "CHECKPOINT" >/dev/null
    echo "round $r $db: $(run "$db" 200000 '2026-12-07 10:00' $((r + 2)))"
  done
done
psql -qX -c "DROP DATABASE usage_part_before" -c "DROP DATABASE usage_part_after" >/dev/null
