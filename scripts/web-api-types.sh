#!/usr/bin/env bash
# Regenerates web/src/api/schema.d.ts from the server's OpenAPI document, or with --check
# fails when the committed file is stale. Needs target/debug/tradeplane and web/node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target/web-api
./target/debug/tradeplane openapi > target/web-api/openapi.json
(cd web && npx openapi-typescript ../target/web-api/openapi.json -o ../target/web-api/schema.d.ts --silent)
if [ "${1:-}" = "--check" ]; then
  if ! diff -q web/src/api/schema.d.ts target/web-api/schema.d.ts >/dev/null; then
    diff -u web/src/api/schema.d.ts target/web-api/schema.d.ts | head -40
    echo "web/src/api/schema.d.ts is stale: run 'make api-types' and commit it" >&2
    exit 1
  fi
else
  cp target/web-api/schema.d.ts web/src/api/schema.d.ts
fi
