#!/usr/bin/env bash
# Crash safety of LIVE order sending (issue 17 figure): the crash driver of
# tests/it/crash_orders.rs with 200 kill -9 points around order sending (a node process running
# LIVE bots on the Ironbeam simulator, restarted after each kill), then the checks at the
# simulated broker: 0 duplicate orders, every order resolved and reconciled (ledger = broker).
# Usage: DATABASE_URL=postgres://… scripts/crash-orders.sh [points] [seconds] [seed]
# Defaults: 200 points within 1,500 s; a random seed (printed; pass it to replay a run).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:?set DATABASE_URL to a Postgres server (each run makes its own database)}"
export CRASH_POINTS="${1:-200}"
export CRASH_SECONDS="${2:-1500}"
if [ -n "${3:-}" ]; then export CRASH_SEED="$3"; fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
cargo test -j 2 --quiet --test it -- --exact \
  crash_orders::kill_9_around_order_sending_leaves_no_duplicate_and_every_order_reconciled --nocapture
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
