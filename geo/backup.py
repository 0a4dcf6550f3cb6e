"""Backup and restore: the database as ``pg_dump`` custom format, plus the media directory
(report photos), with a manifest that lets a restore prove it is whole.

A backup folder holds ``database.dump``, ``media/`` (a copy of the photo files) and
``manifest.json``: row counts per table, the Alembic revision, the dump's and every media
file's size and SHA-256. The counts are taken in the very snapshot ``pg_dump`` dumps
(``pg_export_snapshot``), so they are the dump's own even while the service keeps writing.
The manifest is written last: a folder without one is not a backup.

``pg_dump``/``pg_restore`` run as subprocesses with argument lists (no shell); where to
connect reaches them through libpq's environment (``PGHOST``, ``PGPASSWORD`` …), never the
command line, so neither a password nor an odd database name is ever an argument.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url

from geo.errors import InvalidInput, InvalidState
from geo.migrate import current_revision
from geo.settings import DatabaseSettings

MANIFEST, DUMP, MEDIA = "manifest.json", "database.dump", "media"
FORMAT = 1
# PostGIS's own table: created by the extension in every database, not the city's data.
EXTENSION_TABLES = frozenset({"spatial_ref_sys"})
_EXTENSION_ENTRY = re.compile(r"^\d+; \d+ \d+ (EXTENSION|COMMENT) - (EXTENSION )?(?P<name>\S+)")
# The extension's own rows (spatial_ref_sys: the target has the standard ones, and only its
# owner, a superuser, may write it). gridmap uses standard EPSG codes only.
_EXTENSION_DATA = re.compile(r"^\d+; \d+ \d+ TABLE DATA public (" + "|".join(EXTENSION_TABLES) + r") ")


@dataclass(frozen=True, slots=True)
class MediaFile:
    path: str  # relative to the media directory, with /
    bytes: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Manifest:
    created_at: str
    source: str  # the database URL, password hidden
    postgresql: str
    alembic_revision: str | None
    tables: dict[str, int]
    dump_bytes: int
    dump_sha256: str
    media: list[MediaFile]

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "created_at": self.created_at, "source": self.source,
                           "postgresql": self.postgresql, "alembic_revision": self.alembic_revision,
                           "tables": self.tables, "dump": {"file": DUMP, "bytes": self.dump_bytes,
                                                           "sha256": self.dump_sha256},
                           "media": [{"path": m.path, "bytes": m.bytes, "sha256": m.sha256} for m in self.media]},
                          indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        """The manifest of the backup in ``folder``. Raises InvalidInput when there is none
        (an unfinished or foreign folder) or it is not one this code writes."""
        try:
            raw = json.loads((folder / MANIFEST).read_text())
        except FileNotFoundError:
            raise InvalidInput(f"{folder} holds no {MANIFEST}: not a finished backup", field="source") from None
        except ValueError as exc:
            raise InvalidInput(f"{folder / MANIFEST} is not JSON: {exc}", field="source") from None
        if raw.get("format") != FORMAT:
            raise InvalidInput(f"{folder / MANIFEST} has format {raw.get('format')!r}, not {FORMAT}", field="source")
        return cls(created_at=raw["created_at"], source=raw["source"], postgresql=raw["postgresql"],
                   alembic_revision=raw["alembic_revision"], tables={k: int(v) for k, v in raw["tables"].items()},
                   dump_bytes=raw["dump"]["bytes"], dump_sha256=raw["dump"]["sha256"],
                   media=[MediaFile(m["path"], m["bytes"], m["sha256"]) for m in raw["media"]])


def libpq_env(url: str) -> dict[str, str]:
    """The environment that points libpq (pg_dump, pg_restore) at ``url``: host, port, user,
    database, password (PGPASSWORD) and sslmode when the URL has one."""
    u = make_url(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    pairs = {"PGHOST": u.host, "PGPORT": str(u.port) if u.port else None, "PGUSER": u.username,
             "PGDATABASE": u.database, "PGPASSWORD": u.password, "PGSSLMODE": u.query.get("sslmode")}
    env.update({k: str(v) for k, v in pairs.items() if v})
    return env


def pg_tool(name: str, *, server_major: int) -> str:
    """The path of ``pg_dump`` or ``pg_restore`` of the server's major version (Debian keeps
    each under /usr/lib/postgresql/N/bin), else the one on PATH. Raises InvalidState when
    there is none."""
    versioned = Path(f"/usr/lib/postgresql/{server_major}/bin/{name}")
    if versioned.is_file():
        return str(versioned)
    found = shutil.which(name)
    if found is None:
        raise InvalidState(f"{name} is not installed: install postgresql-client-{server_major}")
    return found


def _run(args: list[str], *, env: dict[str, str], what: str) -> str:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()] or [f"exit status {done.returncode}"]
        raise InvalidState(f"{what} failed: {lines[-1][:300]}")
    return done.stdout


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def table_counts(conn: Connection) -> dict[str, int]:
    """Rows in each table of the public schema (PostGIS's own left out), by name."""
    names = sorted(set(sa.inspect(conn).get_table_names(schema="public")) - EXTENSION_TABLES)
    return {name: conn.scalar(sa.select(sa.func.count()).select_from(sa.table(name, schema="public")))
            for name in names}


def _server(conn: Connection) -> tuple[str, int]:
    version = conn.scalar(sa.select(sa.func.current_setting("server_version")))
    major = int(conn.scalar(sa.select(sa.func.current_setting("server_version_num")))) // 10000
    return version, major


def media_files(media_dir: Path) -> list[Path]:
    """The files under ``media_dir`` (none when it does not exist), sorted."""
    return sorted(p for p in media_dir.rglob("*") if p.is_file()) if media_dir.is_dir() else []


def back_up(engine: sa.Engine, *, out: Path, media_dir: Path,
            step: Callable[[str, int, int], None] = lambda what, done, total: None) -> Manifest:
    """Write a backup of ``engine``'s database and ``media_dir`` to the folder ``out`` (made;
    it must not exist or be empty). ``step(what, done, total)`` reports progress. Raises
    InvalidInput for a folder in use, InvalidState when pg_dump fails."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InvalidInput(f"{out} exists and is not an empty folder: pick a new one", field="out")
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _back_up(engine, out=out, media_dir=media_dir, step=step)
    except BaseException:
        for child in out.iterdir():  # the folder was empty: what is in it now is ours, half-written
            shutil.rmtree(child) if child.is_dir() else child.unlink()
        raise


def _back_up(engine: sa.Engine, *, out: Path, media_dir: Path, step) -> Manifest:
    url = engine.url.render_as_string(hide_password=False)
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
        # One snapshot for the counts and the dump: exported, and kept while pg_dump runs.
        snapshot = conn.scalar(sa.select(sa.func.pg_export_snapshot()))
        version, major = _server(conn)
        revision = current_revision(connection=conn)
        step("counting rows", 0, 1)
        counts = table_counts(conn)
        step("counting rows", 1, 1)
        step("pg_dump (custom format)", 0, 1)
        _run([pg_tool("pg_dump", server_major=major), "--format=custom", f"--snapshot={snapshot}",
              f"--file={(out / DUMP).resolve()}"], env=libpq_env(url), what="pg_dump")
        step("pg_dump (custom format)", 1, 1)
    files = media_files(media_dir)
    copied = []
    for i, path in enumerate(files):
        rel = path.relative_to(media_dir).as_posix()
        target = out / MEDIA / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        copied.append(MediaFile(rel, target.stat().st_size, _sha256(target)))
        step("copying media", i + 1, len(files))
    manifest = Manifest(created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                        source=engine.url.render_as_string(hide_password=True), postgresql=version,
                        alembic_revision=revision, tables=counts, dump_bytes=(out / DUMP).stat().st_size,
                        dump_sha256=_sha256(out / DUMP), media=copied)
    partial = out / f".{MANIFEST}.partial"
    partial.write_text(manifest.to_json())
    partial.replace(out / MANIFEST)  # present only once everything else is
    return manifest


def check_backup(source: Path, manifest: Manifest) -> None:
    """Raises InvalidState when the dump or a media file is missing or not what the manifest says."""
    files = [(source / DUMP, manifest.dump_bytes, manifest.dump_sha256, DUMP)]
    files += [(source / MEDIA / m.path, m.bytes, m.sha256, f"{MEDIA}/{m.path}") for m in manifest.media]
    for path, size, digest, name in files:
        if not path.is_file() or path.stat().st_size != size or _sha256(path) != digest:
            raise InvalidState(f"the backup is damaged: {name} is missing or differs from the manifest")


@dataclass(frozen=True, slots=True)
class Restored:
    manifest: Manifest
    tables: dict[str, int]  # counted in the target after the restore
    alembic_revision: str | None

    @property
    def equal(self) -> bool:
        return self.tables == self.manifest.tables and self.alembic_revision == self.manifest.alembic_revision


def restore(source: Path, *, url: str, media_dir: Path, force: bool = False,
            step: Callable[[str, int, int], None] = lambda what, done, total: None) -> Restored:
    """Restore the backup in ``source`` into the database at ``url`` and its media into
    ``media_dir``, then count the target's rows. The target must be empty (no table but
    PostGIS's own; a database made from gridmap_template is) and ``media_dir`` hold no file,
    unless ``force`` (then the backup's objects replace the target's and its files are
    copied over). The database part is one transaction: it is restored whole or not at all.
    Raises InvalidInput (no backup, target in use), InvalidState (damaged backup,
    pg_restore failed, an extension missing in the target)."""
    try:
        url = DatabaseSettings(url=url).url  # postgresql:// only, onto the driver we ship
    except ValueError as exc:
        raise InvalidInput(f"not a database URL gridmap can use: {exc.errors()[0]['msg']}",
                           field="database_url") from None
    manifest = Manifest.read(source)
    step("checking the backup", 0, 1)
    check_backup(source, manifest)
    step("checking the backup", 1, 1)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            _, major = _server(conn)
            present = table_counts(conn)
            installed = set(conn.scalars(sa.select(sa.column("extname")).select_from(sa.table("pg_extension"))))
        if present and not force:
            raise InvalidInput(f"the target database is not empty ({len(present)} table(s), e.g. "
                               f"{', '.join(list(present)[:3])}): restore into a new one, or add --force",
                               field="database_url")
        if media_files(media_dir) and not force:
            raise InvalidInput(f"{media_dir} already holds files: restore into an empty folder, or add --force",
                               field="media_dir")
        env = libpq_env(url)
        pg_restore = pg_tool("pg_restore", server_major=major)
        dump = str((source / DUMP).resolve())  # absolute: a path is never taken for an option
        listing = _run([pg_restore, "--list", dump], env=env, what="pg_restore --list")
        # Extensions are the target's (a non-superuser cannot create PostGIS): each must be
        # there already, and their entries are left out of the restore.
        needed = {m.group("name") for ln in listing.splitlines() if (m := _EXTENSION_ENTRY.match(ln))}
        if missing := sorted(needed - installed):
            raise InvalidState(f"the target lacks the extension(s) {', '.join(missing)}: create it from "
                               "gridmap_template (createdb -T gridmap_template NAME), or as a superuser "
                               f"CREATE EXTENSION {missing[0]}")
        keep = [ln for ln in listing.splitlines() if not (_EXTENSION_ENTRY.match(ln) or _EXTENSION_DATA.match(ln))]
        with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False) as f:
            f.write("\n".join(keep) + "\n")
        try:
            step("pg_restore (one transaction)", 0, 1)
            _run([pg_restore, f"--dbname={_conninfo_dbname(make_url(url).database)}", f"--use-list={f.name}",
                  "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
                  *(["--clean", "--if-exists"] if force else []), dump], env=env, what="pg_restore")
            step("pg_restore (one transaction)", 1, 1)
        finally:
            os.unlink(f.name)
        for i, m in enumerate(manifest.media):
            target = media_dir / m.path
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / MEDIA / m.path, target)
            step("copying media", i + 1, len(manifest.media))
        with engine.connect() as conn:
            return Restored(manifest, table_counts(conn), current_revision(connection=conn))
    finally:
        engine.dispose()


def _conninfo_dbname(name: str | None) -> str:
    """``dbname='…'`` in libpq's conninfo quoting: pg_restore's --dbname takes a conninfo
    string when the value holds ``=``, so a bare name is never passed."""
    quoted = (name or "").replace("\\", "\\\\").replace("'", "\\'")
    return f"dbname='{quoted}'"
