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

# --- Web app: API types, typecheck, lint, unit tests (Vitest), build, browser tests (Playwright).
# Adds "numPassed numFailed" from a Vitest or Playwright JSON report.
count_json() {
  local p f
  read -r p f < <(node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const s = r.stats
      ? [r.stats.expected + (r.stats.flaky || 0), r.stats.unexpected]
      : [r.numPassedTests, r.numFailedTests + (r.numRuntimeErrorTestSuites || 0)];
    console.log(s[0], s[1]);' "$1" 2>/dev/null || echo "0 1")
  passed=$((passed + p))
  failed=$((failed + f))
}
check() { # name, log file, command...
  local name=$1 log=$2; shift 2
  if "$@" >"$log" 2>&1; then pass "$name"; else tail -40 "$log"; fail "$name"; fi
}
web_logs=$PWD/$logs
if check "web: npm ci" "$logs/web-setup.log" scripts/web-setup.sh; then
  cargo build --quiet --bin tradeplane
  check "web: API types match /api/openapi.json" "$logs/web-api-types.log" scripts/web-api-types.sh --check
  check "web: tsc --noEmit" "$logs/web-tsc.log" bash -c 'cd web && npx tsc --noEmit'
  check "web: eslint" "$logs/web-lint.log" bash -c 'cd web && npx eslint . --max-warnings 0'
  (cd web && npx vitest run --reporter=default --reporter=json --outputFile.json="$web_logs/vitest.json") 2>&1 | tee "$logs/vitest.log" | tail -15
  count_json "$logs/vitest.json"
  if check "web: vite build" "$logs/web-build.log" bash -c 'cd web && npx vite build'; then
    check "web: bundle (no source maps, pre-compressed, first screen <= 250 kB gz)" "$logs/web-bundle.log" node web/scripts/check-bundle.mjs web/dist
    if ! compgen -G "web/e2e/*.spec.ts" >/dev/null; then
      echo "web: no Playwright specs in web/e2e"
    elif check "web: chromium present" "$logs/chromium.log" scripts/ensure-chromium.sh; then
      (cd web && PLAYWRIGHT_JSON_OUTPUT_NAME="$web_logs/playwright.json" npx playwright test --reporter=list,json) 2>&1 | tee "$logs/playwright.log" | tail -40
      count_json "$logs/playwright.json"
    fi
  fi
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
