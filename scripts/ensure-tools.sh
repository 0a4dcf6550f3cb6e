#!/usr/bin/env bash
# Make sure Python >= 3.11 with venv, and Node.js with npm, are present (Debian/Ubuntu: apt).
set -euo pipefail

log() { printf '\033[1;34m[tools]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[tools] %s\033[0m\n' "$*" >&2; exit 1; }
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@";
  elif command -v sudo >/dev/null 2>&1; then sudo "$@";
  else die "need root (or sudo) to run: $*"; fi
}
missing=()
PY="${PYTHON:-python3}"
if ! command -v "$PY" >/dev/null 2>&1; then
  missing+=(python3 python3-venv python3-dev)
elif ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  missing+=(python3-venv python3-dev)
fi
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 || die "please install: ${missing[*]}"
  log "installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "$PY is $("$PY" -V 2>&1); gridmap needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)"
# Debian's Chromium drives the real-browser map tests (playwright with executable_path; never
# `playwright install`, which would download a browser from the internet).
# A small CJK font (5 MB) so the test screenshots show the Chinese names instead of boxes.
if { [ ! -x /usr/bin/chromium ] || [ ! -d /usr/share/fonts/truetype/wqy ]; } && command -v apt-get >/dev/null 2>&1; then
  log "installing chromium and a CJK font (browser tests of the maps)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null
fi
