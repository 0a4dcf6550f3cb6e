#!/usr/bin/env bash
# Make sure a PostGIS database is reachable for gridmap.
#
# With GRIDMAP_DATABASE_URL set, only checks that it answers and has PostGIS available.
# Otherwise sets up the local PostgreSQL on a Debian/Ubuntu machine: installs PostgreSQL and
# PostGIS when missing, starts the cluster when it is down, and creates
#   role gridmap (password gridmap, CREATEDB), databases gridmap and gridmap_bench (the
#   benchmarks' own) with postgis + btree_gist,
#   and template database gridmap_template (the same extensions) for the test databases,
#   and sizes PostgreSQL's memory settings for the machine on a cluster it created itself
#   (scripts/pg-memory.sh; GRIDMAP_TUNE_POSTGRES=1 opts an existing cluster in, =dry-run shows).
# Safe to re-run: every step checks before it acts.
set -euo pipefail

TAG=db
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

if [ -n "${GRIDMAP_DATABASE_URL:-}" ]; then
  url="${GRIDMAP_DATABASE_URL/postgresql+psycopg:/postgresql:}"
  command -v psql >/dev/null 2>&1 || apt_install postgresql-client
  psql "$url" -Atqc "SELECT 1" >/dev/null || die "cannot connect to GRIDMAP_DATABASE_URL; check the URL and that the server is up"
  psql "$url" -Atqc "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'" | grep -q 1 \
    || die "the server behind GRIDMAP_DATABASE_URL has no PostGIS available: install PostGIS 3 on it"
  log "using GRIDMAP_DATABASE_URL (PostGIS available)"
  exit 0
fi

# 1. PostgreSQL itself. `created` remembers whether this run made the cluster (Debian's package
# creates one on install): only such a cluster is ours to size and restart (step 5).
created=""
if ! command -v pg_lsclusters >/dev/null 2>&1; then
  apt_install postgresql postgresql-contrib
  created=1
fi
if [ -z "$(pg_lsclusters --no-header)" ]; then
  major=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -n | tail -1)
  [ -n "$major" ] || die "no PostgreSQL server installed: apt-get install postgresql"
  log "creating PostgreSQL cluster $major/main"
  as_root pg_createcluster "$major" main >/dev/null
  created=1
fi
read -r major cluster status < <(pg_lsclusters --no-header | awk 'NR==1 {print $1, $2, $4}') \
  || die "no PostgreSQL cluster found: create one with pg_createcluster"
if [ "$status" != "online" ]; then
  log "starting PostgreSQL $major/$cluster"
  as_root pg_ctlcluster --skip-systemctl-redirect "$major" "$cluster" start
fi

# 2. PostGIS for that major version.
if [ ! -f "/usr/share/postgresql/$major/extension/postgis.control" ]; then
  apt_install "postgresql-$major-postgis-3"
fi

# 3. Role, database, extensions, test template (as the postgres superuser over the local socket).
psql_su() { as_root runuser -u postgres -- env PGOPTIONS="-c client_min_messages=warning" psql -v ON_ERROR_STOP=1 -Atq "$@"; }
for _ in $(seq 1 30); do psql_su -c "SELECT 1" >/dev/null 2>&1 && break; sleep 1; done
psql_su -c "SELECT 1" >/dev/null || die "PostgreSQL does not answer on the local socket"

if [ "$(psql_su -c "SELECT 1 FROM pg_roles WHERE rolname = 'gridmap'")" != 1 ]; then
  log "creating role gridmap"
  psql_su -c "CREATE ROLE gridmap LOGIN PASSWORD 'gridmap' CREATEDB"
fi
for db in gridmap gridmap_bench gridmap_template; do
  if [ "$(psql_su -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
    log "creating database $db"
    psql_su -c "CREATE DATABASE $db OWNER gridmap"
  fi
  psql_su -d "$db" -c "CREATE EXTENSION IF NOT EXISTS postgis; CREATE EXTENSION IF NOT EXISTS btree_gist;"
done
psql_su -c "ALTER DATABASE gridmap_template IS_TEMPLATE true" >/dev/null

# 4. Memory settings sized for this machine, only on a cluster this script set up
# (scripts/pg-memory.sh says which and when).
# shellcheck source=scripts/pg-memory.sh
. "$(dirname "$0")/pg-memory.sh"
tune_postgres_memory

# 5. The role must be able to log in over TCP (password or trust, whatever pg_hba says).
PGPASSWORD=gridmap psql -h 127.0.0.1 -U gridmap -d gridmap -Atqc "SELECT postgis_lib_version()" >/dev/null \
  || die "role gridmap cannot log in on 127.0.0.1: allow md5/scram-sha-256 for host connections in pg_hba.conf"
log "PostGIS ready: postgresql+psycopg://gridmap:gridmap@127.0.0.1:5432/gridmap"
