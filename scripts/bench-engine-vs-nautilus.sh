#!/usr/bin/env bash
# Throughput of tradeplane's backtester (domain::engine via domain::backtest::run) against
# NautilusTrader on the same machine and the same bars: an SMA(10)/SMA(30) crossover, market
# orders, $2.25 per contract, fill at the next bar's open (see scripts/nautilus_crossover.py for
# how Nautilus is configured to match), 1,000,000 synthetic 1-minute ES bars by default.
# Also prints the engine-only per-bar p50/p99. Usage: scripts/bench-engine-vs-nautilus.sh [bars]
# (NO_BUILD=1: run the engine_bench already built, e.g. while another build holds cargo's lock).
set -euo pipefail
cd "$(dirname "$0")/.."
bars="${1:-1000000}"
target="${CARGO_TARGET_DIR:-target}"
out="$target/bench"
venv="$target/nautilus-venv"
mkdir -p "$out"

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import nautilus_trader' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q nautilus_trader==1.221.0
fi
"$venv/bin/python" -c 'import nautilus_trader; print("nautilus_trader", nautilus_trader.__version__)'

[ -n "${NO_BUILD:-}" ] || cargo build --quiet --release --example engine_bench
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$target/release/examples/engine_bench" "$bars" "$out/bars.csv" | tee "$out/engine.txt"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$venv/bin/python" scripts/nautilus_crossover.py "$out/bars.csv" | tee "$out/nautilus.txt"

ours=$(grep -o '= [0-9]* bars/s' "$out/engine.txt" | grep -o '[0-9]*')
theirs=$(grep -o '= [0-9]* bars/s' "$out/nautilus.txt" | grep -o '[0-9]*')
echo "speed-up: $(awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "%.1f", a / b }')x"
for what in 'orders' 'closed trades' 'net realized'; do
  a=$(grep -o "$what -\?[0-9.]*" "$out/engine.txt" | head -1)
  b=$(grep -o "$what -\?[0-9.]*" "$out/nautilus.txt" | head -1)
  if [ "$a" = "$b" ]; then echo "same $a"; else echo "DIFFERENT: engine '$a' vs nautilus '$b'"; fi
done
