#!/usr/bin/env bash
# Runs every suite (lint, Rust unit + integration tests) and ends with one line
# "N passed, N failed" summing them all. Exits non-zero on any failure.
#
# Without DATABASE_URL the tests get a private Postgres from the product's own launcher
# (`tradeplane db start`), under target/, stopped again at the end.
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
logs=target/test-logs
mkdir -p "$logs"

pass() { passed=$((passed + 1)); echo "ok: $1"; }
fail() { failed=$((failed + 1)); echo "FAILED: $1"; }

# Adds the counts of every "test result:" line of a cargo test log.
count_cargo() {
  local p f
  read -r p f < <(awk '/^test result:/ {
      for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i }
    } END { print p + 0, f + 0 }' "$1")
  passed=$((passed + p))
  failed=$((failed + f))
}

scripts/ensure-postgres.sh || exit 1

if cargo fmt --all -- --check >"$logs/fmt.log" 2>&1; then pass "cargo fmt --check"; else cat "$logs/fmt.log"; fail "cargo fmt --check"; fi
if cargo clippy --workspace --all-targets -- -D warnings >"$logs/clippy.log" 2>&1; then
  pass "cargo clippy -D warnings"
else
  grep -E '^(error|warning)' -A 8 "$logs/clippy.log" | head -100
  fail "cargo clippy -D warnings"
fi

stop_db=""
if [ -z "${DATABASE_URL:-}" ]; then
  cargo build --quiet --bin tradeplane || { echo "error: build failed"; echo "$passed passed, $((failed + 1)) failed"; exit 1; }
  test_data_dir="target/test-data"
  DATABASE_URL=$(./target/debug/tradeplane --data-dir "$test_data_dir" db start) || {
    echo "error: could not start the embedded test database"; echo "$passed passed, $((failed + 1)) failed"; exit 1; }
  export DATABASE_URL
  stop_db="./target/debug/tradeplane --data-dir $test_data_dir db stop"
  trap '$stop_db >/dev/null 2>&1 || true' EXIT
fi

cargo test --workspace --no-fail-fast 2>&1 | tee "$logs/cargo-test.log"
status=${PIPESTATUS[0]}
before=$failed
count_cargo "$logs/cargo-test.log"
if [ "$status" -ne 0 ] && [ "$failed" -eq "$before" ]; then
  # A build error or a crashed test binary reports no "failed" count of its own.
  fail "cargo test exited with status $status"
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
