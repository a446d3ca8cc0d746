#!/usr/bin/env bash
# Installs what the web app needs from the lock file (npm ci), once per lock change.
set -euo pipefail
cd "$(dirname "$0")/../web"
command -v npm >/dev/null || { echo "error: npm (Node.js >= 20.19) is needed to build the web app" >&2; exit 1; }
stamp=node_modules/.tradeplane-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund
  cp package-lock.json "$stamp"
fi
