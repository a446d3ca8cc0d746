#!/usr/bin/env bash
# Regenerates web/src/api/schema.ts from the server's OpenAPI document (types, plus the value
# list of every enum schema, so the web app never hand-copies them), or with --check fails
# when the committed file is stale. Needs target/debug/tradeplane and web/node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target/web-api
./target/debug/tradeplane openapi > target/web-api/openapi.json
(cd web && npx openapi-typescript ../target/web-api/openapi.json -o ../target/web-api/schema.ts --enum-values --silent)
if [ "${1:-}" = "--check" ]; then
  if ! diff -q web/src/api/schema.ts target/web-api/schema.ts >/dev/null; then
    diff -u web/src/api/schema.ts target/web-api/schema.ts | head -40
    echo "web/src/api/schema.ts is stale: run 'make api-types' and commit it" >&2
    exit 1
  fi
else
  cp target/web-api/schema.ts web/src/api/schema.ts
fi
