"""`gridmap backup` and `gridmap restore`: the database (pg_dump custom format) and the media
directory, with a manifest of row counts and checksums (``geo.backup``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from cli.common import console, database, fail, progress
from geo.errors import InvalidInput, InvalidState


def _media_dir(given: Path | None) -> Path:
    from api.settings import ApiSettings

    return given if given is not None else ApiSettings().media_dir


def _stepper(bar):
    tasks: dict[str, int] = {}

    def step(what: str, done: int, total: int) -> None:
        if what not in tasks:
            tasks[what] = bar.add_task(what, total=total)
        bar.update(tasks[what], completed=done, total=total)

    return step


def backup(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write (new, or empty).")],
    media_dir: Annotated[Path | None, typer.Option(help="Photo folder (default GRIDMAP_MEDIA_DIR, ./media).")] = None,
) -> None:
    """Back up the database at GRIDMAP_DATABASE_URL (pg_dump, custom format) and the media
    directory into OUT, with manifest.json: row counts per table (taken in the dump's own
    snapshot), the Alembic revision, and the size and SHA-256 of the dump and every file."""
    from geo.backup import back_up

    media = _media_dir(media_dir)
    with database() as (engine, _):
        try:
            with progress() as bar:
                manifest = back_up(engine, out=out, media_dir=media, step=_stepper(bar))
        except (InvalidInput, InvalidState) as exc:
            raise fail(str(exc), "pg_dump must be installed (postgresql-client)" if "pg_dump" in str(exc)
                       else None) from None
    rows = sum(manifest.tables.values())
    console.print(f"backed up {len(manifest.tables)} tables ({rows:,} rows, revision {manifest.alembic_revision}), "
                  f"{manifest.dump_bytes / 1e6:,.1f} MB of dump and {len(manifest.media):,} media file(s) to {out}")


def restore(
    source: Annotated[Path, typer.Argument(help="A folder `gridmap backup` wrote.")],
    database_url: Annotated[str, typer.Option(help=(
        "The database to restore into: empty (e.g. createdb -T gridmap_template NAME), unless --force."))],
    media_dir: Annotated[Path | None, typer.Option(help=(
        "Photo folder to restore into (default GRIDMAP_MEDIA_DIR, ./media); empty unless --force."))] = None,
    force: Annotated[bool, typer.Option(help=(
        "Restore into a database with tables (the backup's replace them) and a media folder with files."))] = False,
) -> None:
    """Restore a backup into DATABASE_URL (in one transaction) and its media files, then
    count every table and compare with the manifest: fails unless all are equal."""
    from geo.backup import restore as do_restore

    where = make_url(database_url).render_as_string(hide_password=True)
    try:
        with progress() as bar:
            result = do_restore(source, url=database_url, media_dir=_media_dir(media_dir), force=force,
                                step=_stepper(bar))
    except InvalidInput as exc:
        raise fail(str(exc)) from None
    except InvalidState as exc:
        raise fail(str(exc), "nothing was restored into the database (one transaction)") from None
    except OperationalError as exc:
        raise fail(f"cannot use the database at {where}: {str(exc.orig).strip().splitlines()[0]}",
                   "create it first: createdb -T gridmap_template NAME") from None
    table = Table("table", "backup", "restored", title=f"restored into {where}")
    names = sorted(set(result.manifest.tables) | set(result.tables))
    for name in names:
        a, b = result.manifest.tables.get(name), result.tables.get(name)
        table.add_row(name, f"{a:,}" if a is not None else "-", f"{b:,}" if b is not None else "-",
                      style=None if a == b else "red")
    console.print(table)
    console.print(f"alembic revision: backup {result.manifest.alembic_revision}, restored {result.alembic_revision}; "
                  f"{len(result.manifest.media):,} media file(s)")
    if not result.equal:
        raise fail("the restored database differs from the backup's manifest (red rows above)")
    console.print("[green]✓[/] every table's row count and the revision equal the backup's")
