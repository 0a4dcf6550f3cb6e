# Sizes the local PostgreSQL's memory settings for this machine (pg_memory_plan in lib.sh),
# sourced by ensure-postgis.sh after the cluster is up; needs $major, $cluster, $created and
# psql_su from there.
#
# Only a cluster this script set up is tuned: one it created (or Debian's package created when the
# script installed PostgreSQL) gets conf.d/gridmap-memory.conf with the line "# gridmap-owner:
# created" and the cluster's system identifier, and later runs re-size it only while that file is
# there and names this very cluster. A cluster that
# existed before is left alone unless GRIDMAP_TUNE_POSTGRES=1 (then "# gridmap-owner: opt-in": the
# file is written and reloaded, but the cluster is never restarted for you).
# GRIDMAP_TUNE_POSTGRES=0 never touches anything; GRIDMAP_TUNE_POSTGRES=dry-run prints what it
# would change and writes nothing. Delete the file (and restart) to go back to the defaults.
# ALTER SYSTEM settings (postgresql.auto.conf) still win over the file, as PostgreSQL reads it last.

tune_postgres_memory() {
  local conf_dir="/etc/postgresql/$major/$cluster/conf.d"
  local marker="$conf_dir/gridmap-memory.conf" owner="" mode="${GRIDMAP_TUNE_POSTGRES:-}" sysid
  # The cluster's identity: pg_dropcluster leaves conf.d behind, and a file written for the
  # dropped cluster says nothing about the one created in its place by someone else.
  sysid=$(psql_su -c "SELECT system_identifier FROM pg_control_system()")
  if [ -n "$created" ]; then
    owner=created
  elif [ -f "$marker" ] && grep -qx "# gridmap-cluster: $sysid" "$marker"; then
    owner=$(sed -n 's/^# gridmap-owner: //p' "$marker")
  fi
  case "$mode" in
    0) log "GRIDMAP_TUNE_POSTGRES=0: PostgreSQL's memory settings left as they are"; return 0 ;;
    1) [ -n "$owner" ] || owner=opt-in ;;
    dry-run) [ -n "$owner" ] || owner=opt-in ;;
  esac
  if [ -z "$owner" ]; then
    log "PostgreSQL $major/$cluster was not set up by this script: its memory settings are left as they are" \
      "(GRIDMAP_TUNE_POSTGRES=1 sizes them for this machine, GRIDMAP_TUNE_POSTGRES=dry-run shows how)"
    return 0
  fi

  local ram_mb cpus data_dir rota ssd=0 conns plan new
  ram_mb=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024))
  cpus=$(nproc)
  data_dir=$(psql_su -c "SHOW data_directory")
  # lsblk answers for the device holding the data directory; unknown counts as a spinning disk.
  rota=$(lsblk -ndo ROTA "$(df --output=source "$data_dir" | tail -1)" 2>/dev/null || echo 1)
  [ "$(echo "$rota" | tr -d ' ')" = 0 ] && ssd=1
  conns=$(psql_su -c "SHOW max_connections")
  plan=$(pg_memory_plan "$ram_mb" "$cpus" "$ssd" "$conns")
  new=$(printf '# gridmap-owner: %s\n# gridmap-cluster: %s\n# Written by gridmap scripts/ensure-postgis.sh for %s MB RAM, %s CPUs, %s; delete this file and restart to undo.\n%s\n' \
    "$owner" "$sysid" "$ram_mb" "$cpus" "$([ "$ssd" = 1 ] && echo SSD || echo disk)" "$plan")

  local changed="" name value old
  while read -r name _ value; do
    old=$(psql_su -c "SELECT current_setting('$name')")
    [ "$old" = "$value" ] && continue
    changed=1
    log "  $name: $old -> $value"
  done <<<"$plan"

  if [ "$mode" = dry-run ]; then
    [ -n "$changed" ] && log "dry run: would write $marker with the changes above" \
      || log "dry run: PostgreSQL's memory settings already fit this machine"
    return 0
  fi
  if [ -f "$marker" ] && [ "$(cat "$marker")" = "$new" ]; then
    log "PostgreSQL memory settings already sized for this machine ($marker)"
  else
    log "sizing PostgreSQL $major/$cluster for ${ram_mb} MB RAM and ${cpus} CPUs in $marker"
    local tmp
    tmp=$(mktemp)
    printf '%s\n' "$new" >"$tmp"
    as_root install -m 644 -o postgres -g postgres "$tmp" "$marker"
    rm -f "$tmp"
    psql_su -c "SELECT pg_reload_conf()" >/dev/null
    sleep 1
  fi

  local pending
  pending=$(psql_su -c "SELECT string_agg(name, ', ') FROM pg_settings WHERE pending_restart")
  [ -n "$pending" ] || return 0
  if [ "$owner" = created ]; then
    log "restarting PostgreSQL $major/$cluster (this script created it) so that $pending take effect"
    as_root pg_ctlcluster --skip-systemctl-redirect "$major" "$cluster" restart
    for _ in $(seq 1 30); do psql_su -c "SELECT 1" >/dev/null 2>&1 && break; sleep 1; done
  else
    log "$pending take effect at the next restart (pg_ctlcluster $major $cluster restart):" \
      "not restarting a cluster this script did not create"
  fi
}
