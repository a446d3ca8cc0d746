#!/usr/bin/env bash
# Makes sure PostgreSQL server binaries exist when no DATABASE_URL is given (the embedded
# cluster needs initdb and pg_ctl). Installs Debian's package when run as root; otherwise
# says how to fix it.
set -euo pipefail
[ -n "${DATABASE_URL:-}" ] && exit 0
[ -n "${TRADEPLANE_PG_BIN:-}" ] && exit 0
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "PostgreSQL server binaries not found: installing Debian's postgresql package" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  exit 0
fi
echo "error: PostgreSQL server binaries (initdb, pg_ctl) not found: run 'sudo apt-get install -y postgresql', or set DATABASE_URL" >&2
exit 1
