#!/usr/bin/env bash
# Install Debian packages (as root, or through sudo): scripts/apt-install.sh PKG...
set -euo pipefail
run() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
run apt-get update -qq
run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
