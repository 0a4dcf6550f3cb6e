#!/usr/bin/env bash
# make backup-test: the backup round trip on the small demo city, in throwaway databases.
# Loads the small demo into a new database (from gridmap_template), adds a media file, backs
# both up (`gridmap backup`), restores into a second new database and media folder
# (`gridmap restore`, which compares every table's row count with the manifest), and checks
# that `gridmap demo verify` says the same of both and the media files are identical.
# Both databases and the folder are removed afterwards, whatever happened.
set -euo pipefail
TAG=backup-test
source "$(dirname "$0")/lib.sh"
GRIDMAP=${GRIDMAP:-.venv/bin/gridmap}
BASE=${BACKUP_TEST_BASE_URL:-postgresql+psycopg://gridmap:gridmap@127.0.0.1:5432}
export PGHOST=127.0.0.1 PGUSER=gridmap PGPASSWORD=gridmap
SRC="gridmap_backup_src_$$" DST="gridmap_backup_dst_$$"
WORK=$(mktemp -d)
cleanup() {
  dropdb --if-exists --force "$SRC" 2>/dev/null || true
  dropdb --if-exists --force "$DST" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
createdb -T gridmap_template "$SRC"
createdb -T gridmap_template "$DST"
log "small demo city into $SRC"
export GRIDMAP_DATABASE_URL="$BASE/$SRC"
"$GRIDMAP" db migrate >/dev/null
"$GRIDMAP" demo load --small --reports "${BACKUP_TEST_REPORTS:-5000}"
# A photo-shaped file: the media directory must travel with the dump.
mkdir -p "$WORK/media-src/00000000-0000-4000-8000-000000000001"
head -c 20000 /dev/urandom > "$WORK/media-src/00000000-0000-4000-8000-000000000001/photo-1.jpg"
log "gridmap backup"
"$GRIDMAP" backup --out "$WORK/backup" --media-dir "$WORK/media-src"
log "gridmap restore into $DST"
"$GRIDMAP" restore "$WORK/backup" --database-url "$BASE/$DST" --media-dir "$WORK/media-dst"
log "gridmap demo verify on both"
"$GRIDMAP" demo verify > "$WORK/verify-src.txt"
GRIDMAP_DATABASE_URL="$BASE/$DST" "$GRIDMAP" demo verify > "$WORK/verify-dst.txt"
cat "$WORK/verify-dst.txt"
diff "$WORK/verify-src.txt" "$WORK/verify-dst.txt" || die "demo verify differs between the source and the restore"
diff -r "$WORK/media-src" "$WORK/media-dst" || die "the restored media differ"
log "round trip equal: row counts per table, alembic revision, demo verify and media files"
