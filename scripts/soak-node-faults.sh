#!/usr/bin/env bash
# The node fault soak (issue 18 checks): the CI fault driver (tests/it/node_faults.rs) with more
# faults and a longer budget: three `tradeplane serve` nodes on one Postgres test database,
# PAPER bots on the sandbox's 1 s bars, 2 s leases; random kill -9 + restart, SIGSTOP past the
# lease + SIGCONT, and database cuts through a per-node TCP proxy; then the invariants from the
# database (no bar evaluated by two nodes, no duplicate order, no stale-epoch write accepted,
# every RUNNING bot owned again within TTL + 2 s).
# Usage: DATABASE_URL=postgres://… scripts/soak-node-faults.sh [faults] [seconds] [seed]
# Defaults: 1,000 faults within 1,500 s; a random seed (printed; pass it to replay a run).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:?set DATABASE_URL to a Postgres server (each run makes its own database)}"
export NODE_FAULTS="${1:-1000}"
export NODE_FAULT_SECONDS="${2:-1500}"
if [ -n "${3:-}" ]; then export NODE_FAULT_SEED="$3"; fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
cargo test -j 2 --quiet --test it -- --exact node_faults::three_nodes_under_random_faults_never_split_a_bot --nocapture
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
