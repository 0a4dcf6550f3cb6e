#!/usr/bin/env bash
# Install Debian packages (as root, or through sudo): scripts/apt-install.sh PKG...
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
apt_install "$@"
