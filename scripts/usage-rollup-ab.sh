#!/usr/bin/env bash
# The per-bot usage rollup (bot_usage_hourly) and the partial status index, before against
# after, on one Postgres: the cost of inserting usage events in batches (200,000 bar reads of
# 1,000 bots, 1,000 a batch: each batch one read per bot, as a fleet on 1 s bars writes them)
# and the autonomy scorer's usage evidence for 1,000 bots over an hour of their reads.
#   PGHOST=127.0.0.1 PGUSER=postgres scripts/usage-rollup-ab.sh [rounds=3]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
export PGOPTIONS="-c client_min_messages=warning"
new=(migrations/20261207000000_bot_usage_hourly.sql migrations/20261207000100_usage_status_partial.sql)
for db in usage_ab_before usage_ab_after; do
  psql -qX -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
  for f in migrations/*.sql; do
    # The schema as it was measured: later migrations assume these two (the days of
    # 20261207100000 are measured by scripts/usage-partition-ab.sh).
    if [[ $f > ${new[1]} ]]; then break; fi
    if [[ $db == usage_ab_before && " ${new[*]} " == *" $f "* ]]; then continue; fi
    psql -qX -1 -v ON_ERROR_STOP=1 -d "$db" -f "$f" >/dev/null
  done
done

truncate="TRUNCATE integration_usage_events, integration_usage_minutely, integration_usage_hourly, integration_usage_latest"
echo "## inserting 200,000 events, 1,000 a statement (ms)"
for ((r = 1; r <= rounds; r++)); do
  for db in usage_ab_before usage_ab_after; do
    psql -qX -d "$db" -c "$truncate" -c "CHECKPOINT" >/dev/null
    [[ $db == usage_ab_after ]] && psql -qX -d "$db" -c "TRUNCATE bot_usage_hourly" >/dev/null
    t=$(psql -qX -d "$db" -v rows=200000 -v day='2026-12-07 10:00' -v salt=0 -f scripts/usage-load.psql | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1)
    echo "round $r $db: $t"
  done
done

echo "## the scorer's usage evidence, 1,000 bots, 3,600,000 events (an hour at 1 s bars) (ms)"
bots="'{$(python3 -c "print(','.join('00000000-0000-0000-0000-%012x' % g for g in range(1000)))")}'::uuid[]"
psql -qX -d usage_ab_after -c "$truncate" -c "TRUNCATE bot_usage_hourly" >/dev/null
psql -qX -d usage_ab_after -v rows=3600000 -v day='2026-12-07 10:00' -v salt=0 -f scripts/usage-load.psql >/dev/null
psql -qX -d usage_ab_after -c "VACUUM ANALYZE integration_usage_events" -c "VACUUM ANALYZE bot_usage_hourly" >/dev/null
since="timestamptz '2026-12-07 11:00' - interval '24 hours'"
for ((r = 1; r <= rounds; r++)); do
  before=$(psql -qX -d usage_ab_after <<SQL | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
\timing on
SELECT bot_id, count(*) FILTER (WHERE action = 'bars.fetch'),
       count(*) FILTER (WHERE action = 'bars.fetch' AND status = 'ERROR'),
       max(created_at) FILTER (WHERE action = 'bars.fetch' AND status = 'OK'),
       count(*) FILTER (WHERE status = 'OK')
FROM integration_usage_events WHERE bot_id = ANY($bots) AND created_at > $since GROUP BY bot_id \g /dev/null
SQL
)
  after=$(psql -qX -d usage_ab_after <<SQL | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
\timing on
SELECT bot_id, sum(bar_reads)::int8, sum(bar_read_errors)::int8, max(last_bar_read_ok_at), sum(ok_count)::int8
FROM bot_usage_hourly WHERE bot_id = ANY($bots) AND bucket > $since GROUP BY bot_id \g /dev/null
SQL
)
  echo "round $r: events $before, rollup $after"
done
psql -qX -c "DROP DATABASE usage_ab_before" -c "DROP DATABASE usage_ab_after" >/dev/null
