# Shared by the setup scripts: logging, root access, apt installs. Source it; set TAG first.
log() { printf '\033[1;34m[%s]\033[0m %s\n' "${TAG:-setup}" "$*"; }
die() { printf '\033[1;31m[%s] %s\033[0m\n' "${TAG:-setup}" "$*" >&2; exit 1; }
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@";
  elif command -v sudo >/dev/null 2>&1; then sudo "$@";
  else die "need root (or sudo) to run: $*"; fi
}
apt_updated=""
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found: please install $* yourself"
  if [ -z "$apt_updated" ]; then log "apt-get update"; as_root apt-get update -qq; apt_updated=1; fi
  log "apt-get install $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
