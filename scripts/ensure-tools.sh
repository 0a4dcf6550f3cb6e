#!/usr/bin/env bash
# Make sure Python >= 3.11 with venv, Node.js with npm, and Debian's Chromium (for the browser
# tests) are present, installing what is missing with apt.
set -euo pipefail
TAG=tools
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

missing=()
PY="${PYTHON:-python3}"
if ! command -v "$PY" >/dev/null 2>&1; then
  missing+=(python3 python3-venv python3-dev)
elif ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  missing+=(python3-venv python3-dev)
fi
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
# Debian's Chromium drives the real-browser map tests (playwright with executable_path; never
# `playwright install`, which would download a browser from the internet), and a small CJK
# font (5 MB) lets the test screenshots show the Chinese names instead of boxes.
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -d /usr/share/fonts/truetype/wqy ] || missing+=(fonts-wqy-microhei)
# GDAL's ogrinfo/ogr2ogr are the real OGC API Features client of the standards tests (OAPIF:).
command -v ogr2ogr >/dev/null 2>&1 || missing+=(gdal-bin)
if [ ${#missing[@]} -gt 0 ]; then
  apt_install "${missing[@]}"
fi
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "$PY is $("$PY" -V 2>&1); gridmap needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)"
