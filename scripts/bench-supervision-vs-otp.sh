#!/usr/bin/env bash
# Supervision against its anchor (issue 14): the same restart-latency and idle-memory
# measurement on an Erlang/OTP one_for_one `supervisor` (bench/otp/) and on ours
# (tradeplane-actors, actors/examples/supervision_vs_otp.rs, release build), at each size in
# SIZES, each system in a fresh OS process. Needs `erl`/`erlc` and cargo; ≈ 1–2 min after the build.
#
#   scripts/bench-supervision-vs-otp.sh              # SIZES="10000 100000" RESTARTS=2000 SEED=42
#   SIZES=10000 RESTARTS=500 scripts/bench-supervision-vs-otp.sh
#
# Restart latency: the victim stamps monotonic time just before it crashes, its replacement reads
# the stamp in its start function (Erlang init/1, our pre_start); RESTARTS random children, one
# at a time, after 100 warm-up restarts. Memory per child: (OS RSS with N idle children − RSS
# with the empty supervisor) / N, both from /proc/self/statm; the BEAM's erlang:memory/1 deltas
# are printed as extra information.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES="${SIZES:-10000 100000}"
RESTARTS="${RESTARTS:-2000}"
SEED="${SEED:-42}"
target="${CARGO_TARGET_DIR:-$PWD/target}"
beams="$target/otp-bench"

command -v erlc >/dev/null || { echo "erlc not found (install Erlang/OTP)" >&2; exit 1; }
mkdir -p "$beams"
erlc -o "$beams" bench/otp/otp_sup_bench.erl bench/otp/otp_sup_bench_worker.erl
cargo build --quiet --release -p tradeplane-actors --example supervision_vs_otp
ours="$target/release/examples/supervision_vs_otp"

echo "machine: $(nproc) cores, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "erlang: OTP $(erl -noshell -eval 'io:format("~s", [erlang:system_info(otp_release)]), halt().')," \
  "erts $(erl -noshell -eval 'io:format("~s", [erlang:system_info(version)]), halt().')," \
  "$(erl -noshell -eval 'io:format("~b", [erlang:system_info(schedulers)]), halt().') schedulers;" \
  "ours: $(rustc --version | cut -d' ' -f1-2), tokio multi-thread, $(nproc) workers"
echo "restarts: $RESTARTS per size, seed $SEED"

results=""
for n in $SIZES; do
  results+="$(erl -noshell -pa "$beams" -run otp_sup_bench main "$n" "$RESTARTS" "$SEED" | grep '^RESULT')"$'\n'
  results+="$("$ours" "$n" "$RESTARTS" "$SEED" | grep '^RESULT')"$'\n'
done

printf '%s' "$results" | awk '
  function field(line, key,   i, kv) {
    for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) return kv[2] }
    return ""
  }
  {
    sys = field($0, "system"); n = field($0, "children")
    for (k in keys) v[sys, n, k] = field($0, k)
    if (!(n in seen)) { seen[n] = 1; order[++sizes] = n }
  }
  BEGIN {
    split("p50_us p99_us max_us rss_b_per_child vm_processes_b_per_child vm_total_b_per_child spawn_s", ks, " ")
    for (i in ks) keys[ks[i]] = 1
  }
  END {
    printf "\n%-9s %-6s %10s %10s %10s %11s %19s %8s\n", "children", "system", "p50 us", "p99 us",
      "max us", "RSS B/child", "in-VM B/child p/t", "spawn s"
    for (i = 1; i <= sizes; i++) {
      n = order[i]
      printf "%-9s %-6s %10s %10s %10s %11s %19s %8s\n", n, "OTP", v["otp", n, "p50_us"],
        v["otp", n, "p99_us"], v["otp", n, "max_us"], v["otp", n, "rss_b_per_child"],
        v["otp", n, "vm_processes_b_per_child"] "/" v["otp", n, "vm_total_b_per_child"],
        v["otp", n, "spawn_s"]
      printf "%-9s %-6s %10s %10s %10s %11s %19s %8s\n", n, "ours", v["ours", n, "p50_us"],
        v["ours", n, "p99_us"], v["ours", n, "max_us"], v["ours", n, "rss_b_per_child"], "-",
        v["ours", n, "spawn_s"]
      lat = v["otp", n, "p99_us"] / v["ours", n, "p99_us"]
      mem = v["ours", n, "rss_b_per_child"] / v["otp", n, "rss_b_per_child"]
      printf "%-9s %-6s %9.1fx %9.1fx %9.1fx %10.2fx   (latency OTP/ours, memory ours/OTP)\n", n,
        "ratio", v["otp", n, "p50_us"] / v["ours", n, "p50_us"], lat,
        v["otp", n, "max_us"] / v["ours", n, "max_us"], mem
      verdict = verdict sprintf("%s children: restart p99 %.1fx lower than OTP (goal >= 10x: %s); " \
        "memory per idle child %.2fx the BEAM'"'"'s (goal <= 1x: %s)\n", n, lat,
        lat >= 10 ? "met" : "NOT met", mem, mem <= 1 ? "met" : "NOT met")
    }
    printf "\n%s", verdict
  }'
