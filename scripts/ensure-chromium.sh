#!/usr/bin/env bash
# Browser tests run in Debian's Chromium (never a downloaded browser). Installs it when missing
# (CI runs as root on a clean Debian machine).
set -euo pipefail
path=${CHROMIUM_PATH:-/usr/bin/chromium}
[ -x "$path" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "error: $path is missing; install it with: sudo apt-get install -y chromium" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
[ -x "$path" ]
