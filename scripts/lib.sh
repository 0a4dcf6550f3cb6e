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

# PostgreSQL memory settings sized for a machine, instead of the 128 MB defaults. Pure: prints one
# `name = value` line per setting (postgresql.conf syntax) from the arguments only, so it can be
# tested with any machine's figures.
#   pg_memory_plan RAM_MB CPUS SSD(1|0) [MAX_CONNECTIONS=100]
# shared_buffers 25 % of RAM (at most 8 GB: past that the kernel's page cache does as well);
# effective_cache_size 70 %; work_mem what is left after shared_buffers shared by three sorts per
# connection (4..64 MB); maintenance_work_mem RAM/16 (64 MB..2 GB) for index builds and VACUUM;
# max_wal_size RAM/4 (1..4 GB) so bulk loads do not checkpoint every few seconds; parallel
# workers per gather half the cores (at most 4); SSDs get random_page_cost 1.1.
pg_memory_plan() {
  local ram=$1 cpus=$2 ssd=$3 conns=${4:-100}
  local sb ecs wm mwm wal par
  _pg_clamp() { local v=$1; [ "$v" -lt "$2" ] && v=$2; [ "$v" -gt "$3" ] && v=$3; echo "$v"; }
  sb=$(_pg_clamp $((ram / 4)) 128 8192)
  ecs=$(_pg_clamp $((ram * 7 / 10)) 256 $((ram > 256 ? ram : 256)))
  wm=$(_pg_clamp $(((ram - sb) / (conns * 3))) 4 64)
  mwm=$(_pg_clamp $((ram / 16)) 64 2048)
  wal=$(_pg_clamp $((ram / 4)) 1024 4096)
  par=$(_pg_clamp $((cpus / 2)) 0 4)
  # Written as PostgreSQL's SHOW does (GB when whole), so a re-run compares them as text.
  _pg_mb() { if [ $(($1 % 1024)) = 0 ]; then echo "$(($1 / 1024))GB"; else echo "${1}MB"; fi; }
  echo "shared_buffers = $(_pg_mb "$sb")"
  echo "effective_cache_size = $(_pg_mb "$ecs")"
  echo "work_mem = $(_pg_mb "$wm")"
  echo "maintenance_work_mem = $(_pg_mb "$mwm")"
  echo "max_wal_size = $(_pg_mb "$wal")"
  echo "wal_compression = pglz"
  echo "max_parallel_workers_per_gather = ${par}"
  echo "max_parallel_maintenance_workers = $(_pg_clamp $((cpus / 2)) 1 4)"
  if [ "$ssd" = 1 ]; then
    echo "random_page_cost = 1.1"
    echo "effective_io_concurrency = 200"
  else
    echo "random_page_cost = 4"
  fi
}
