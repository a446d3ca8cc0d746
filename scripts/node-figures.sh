#!/usr/bin/env bash
# Issue 18 figures on `tradeplane serve` processes (tests/it/node_figures.rs, ignored tests):
#   failover  — kill -9 of a node owning N PAPER bots (1 s bars): kill → first evaluation on
#               the survivor, p50/p99/max against TTL + 2 s (FIG_TTL, default 10 s);
#   share     — 3 nodes sharing N PAPER bots: per-node scheduler tick lag and evaluations/s.
# Usage: DATABASE_URL=postgres://… scripts/node-figures.sh [failover|share|both] [bots] [seconds]
# The nodes run the debug binary `cargo test` builds, or TRADEPLANE_NODE_BIN (e.g.
# target/release/tradeplane after `cargo build --release --bin tradeplane`); printed below.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:?set DATABASE_URL to a Postgres server (each run makes its own database)}"
what="${1:-both}"
export FIG_BOTS="${2:-1000}"
export FIG_SECONDS="${3:-60}"
run() {
  echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; nodes run ${TRADEPLANE_NODE_BIN:-the debug binary cargo test builds}"
  cargo test -j 2 --quiet --test it -- --ignored --exact "node_figures::$1" --nocapture
  echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
}
case "$what" in
  failover) run failover_of_a_node_owning_many_bots ;;
  share) run three_nodes_share_a_fleet ;;
  both) run failover_of_a_node_owning_many_bots; run three_nodes_share_a_fleet ;;
  *) echo "usage: $0 [failover|share|both] [bots] [seconds]" >&2; exit 2 ;;
esac
