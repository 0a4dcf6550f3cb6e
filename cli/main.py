"""`gridmap`: database, demo city, boundaries (export and the planners' workflow) and the HTTP service."""

from __future__ import annotations

import os

# Arrow's jemalloc pool (read once, when pyarrow loads): with its default, mimalloc, a 1 M-row
# GeoParquet export peaked at 310–340 MB of RSS for the 41 MB Arrow itself held, with jemalloc
# at 270–295 MB (bench/export_bench.py). An operator's own setting wins.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")

from enum import Enum  # noqa: E402
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from cli.backup import backup as backup_command
from cli.backup import restore as restore_command
from cli.batch import app as batch_app
from cli.boundaries import app as boundaries_app
from cli.bulletin import bulletin as bulletin_command
from cli.boundaries import workers_app
from cli.common import city_config, console, database, err_console, fail, make_parent, parse_level, progress
from cli.maps import map_app
from cli.match import match as match_command
from cli.privacy import app as privacy_app
from cli.reports import app as reports_app
from cli.tokens import app as tokens_app
from cli.tokens import audit as audit_command
from cli.webhooks import app as webhooks_app
from cli.workers import workers_roster

app = typer.Typer(help="gridmap: grid-based city governance on PostGIS.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
demo_app = typer.Typer(help="The demo city (Panjin: 4 districts, 4,642 grids, 1 M reports).", no_args_is_help=True)
grids_app = typer.Typer(help="Grid boundaries.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(grids_app, name="grids")
app.add_typer(boundaries_app, name="boundaries")
app.add_typer(workers_app, name="workers")
workers_app.command("roster")(workers_roster)
app.add_typer(map_app, name="map")
app.add_typer(reports_app, name="reports")
app.add_typer(tokens_app, name="tokens")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(privacy_app, name="privacy")
app.add_typer(batch_app, name="batch")
app.command("audit")(audit_command)
app.command("bulletin")(bulletin_command)
app.command("match")(match_command)
app.command("backup")(backup_command)
app.command("restore")(restore_command)


@db_app.command("migrate")
def db_migrate(revision: Annotated[str, typer.Option(help=(
        "Target revision: head (the newest) or one of 0001, 0002, … (they only go forward)."))] = "head") -> None:
    """Create or upgrade the schema (Alembic)."""
    import logging

    from rich.logging import RichHandler

    from geo.migrate import current_revision, upgrade
    from geo.reports.maintenance import vacuum_reports

    # Each step, and the progress a long data migration logs (0007 indexes every report).
    steps = logging.getLogger("alembic.runtime.migration")
    steps.setLevel(logging.INFO)
    steps.addHandler(RichHandler(console=console, show_path=False, show_time=False))

    with database() as (engine, _):
        with engine.begin() as conn:
            before = current_revision(connection=conn)
            upgrade(connection=conn, revision=revision)
            after = current_revision(connection=conn)
        if before is not None and before != after:
            # An upgrade may rewrite reports (0007 did): tidy now rather than leave the maps
            # reading dead rows until autovacuum comes round.
            with console.status("vacuuming reports"):
                vacuum_reports(engine)
    console.print(f"schema at revision [bold]{after}[/]" + ("" if before == after else f" (was {before or 'empty'})"))
    if revision not in ("head", "heads", after):
        console.print(f"[yellow]already past {revision}[/]: migrations only go forward")


@demo_app.command("load")
def demo_load(
    reports: Annotated[int | None, typer.Option(min=0, help=(
        "Number of historical reports to generate (default 1,000,000; 0 with --province)."))] = None,
    force: Annotated[bool, typer.Option(help="Reload even when the same demo is already loaded.")] = False,
    small: Annotated[bool, typer.Option(help="One district only (Shuangtaizi): the test city.")] = False,
    province: Annotated[bool, typer.Option(help=(
        "The synthetic province instead (10 districts, 50,000 grids; ~2 min): for maps, tiles and scale tests."))] = False,
    yes: Annotated[bool, typer.Option("--yes", help=(
        "Also delete what the demo did not create (reports filed, cases moved, boundaries or workers added "
        "since it was loaded, or a city's own data). Without it such a load is refused and lists them."))] = False,
    now: Annotated[str | None, typer.Option(help=(
        "The demo's 'now', an ISO 8601 time with its offset (e.g. 2026-11-16T09:30:00+08:00: the tests' "
        "fixed morning). Default: the latest working day's 09:30 in the city (its calendar), so the "
        "queue, overdue cases and escalations are this morning's."))] = None,
) -> None:
    """Generate the demo city and load it (skipped when already loaded and unchanged).

    Cases are in the state of a working morning: open at every stage, some overdue and
    escalated, some held by departments. Loaded without --now, the demo stays the same demo on
    later days (a rerun skips it, keeping what was done with it); --force reloads it as of the
    latest morning.

    A load replaces every area, worker and report in the database. It is refused, with a list
    of what would go, when the database holds anything the demo did not create, unless --yes.
    """
    from fixtures.city import SMALL_CITY, CitySpec
    from fixtures.load import WouldDelete, describe, load_demo
    from geo.migrate import require_current

    from fixtures.province import PROVINCE

    if small and province:
        raise fail("--small and --province exclude each other", "pick one")
    spec = SMALL_CITY if small else CitySpec()
    spec = PROVINCE if province else spec
    reports = (0 if province else 1_000_000) if reports is None else reports
    end, end_label = _demo_now(now)
    with database() as (engine, settings):
        with engine.connect() as conn:
            require_current(connection=conn)
    where = make_url(settings.url).render_as_string(hide_password=True)
    with database() as (engine, _):
        try:
            with progress() as bar:
                result = load_demo(engine, spec=spec, n_reports=reports, force=force, replace_foreign=yes,
                                   progress=bar, end=end, end_label=end_label)
        except WouldDelete as exc:
            raise fail(
                f"not loading: the demo replaces everything in {where}, which holds data the demo did not "
                f"create: {describe(exc.counts)}",
                "back it up first (pg_dump), or load the demo into another database (GRIDMAP_DATABASE_URL=…/other); "
                "to delete all of it and load the demo, add --yes",
            ) from None
    counts = ", ".join(f"{k} {v:,}" for k, v in result.counts.items())
    if result.skipped:
        console.print(f"demo already loaded and unchanged ({counts}); use --force to reload")
    else:
        console.print(f"demo loaded in {result.seconds:.1f} s: {counts}; its now: {end.isoformat()}")


def _demo_now(value: str | None):
    """(the demo's now, the fingerprint's label for it): ``value`` parsed, or the latest morning."""
    from datetime import UTC, datetime

    from fixtures import latest_morning

    config = city_config()
    if value is None:
        rule = config.calendar.workday_rule(config.working_hours.weekdays)
        return latest_morning(datetime.now(UTC), is_workday=rule, zone=config.tz), "latest-morning"
    try:
        end = datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"--now {value!r} is not an ISO 8601 time", "write it like 2026-11-16T09:30:00+08:00") from None
    if end.tzinfo is None:
        raise fail(f"--now {value!r} has no UTC offset", "add one, like 2026-11-16T09:30:00+08:00") from None
    return end, None


@demo_app.command("verify")
def demo_verify(
    generation: Annotated[int | None, typer.Option(help="Generation to check (default: active).")] = None,
) -> None:
    """Check the hierarchy tiles exactly: no gaps, no overlaps, every area inside its parent."""
    from sqlalchemy.orm import Session

    from geo.boundaries.generations import resolve_generation
    from geo.boundaries.topology import check_hierarchy
    from geo.departments.flow import missing_contacts

    with database() as (engine, _), Session(engine) as session:
        gid = resolve_generation(session, generation=generation)
        with console.status("checking topology (unions, overlaps, nesting)..."):
            report = check_hierarchy(session, generation=gid)
        # A finding, not a failure: transfers to such a department wait unassigned.
        for problem in missing_contacts(session, config=city_config()):
            console.print(f"[yellow]⚠[/] {problem}")
    console.print(f"generation {gid}: " + ", ".join(f"{n:,} {lvl}" for lvl, n in report.counts.items()))
    if not report.ok:
        for p in report.problems:
            console.print(f"[red]✗[/] {p}")
        raise fail(f"{len(report.problems)} topology problem(s)", "regenerate with `gridmap demo load --force`")
    console.print("[green]✓[/] every level tiles its parent: no gaps, no overlaps, nesting exact")


@demo_app.command("redraw")
def demo_redraw(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the files to.")] = Path("redraw"),
) -> None:
    """Write a deterministic redraw of the loaded city's grids, as a planner brings it back
    from QGIS: redraw.gpkg (three Xinglongtai grids split, two rural neighbours merged, one
    edge moved 40 m), redraw-broken.gpkg (the same with an overlap and a gap) and
    redraw-assignments.csv (primary workers for the new grids). See the README walkthrough."""
    from sqlalchemy.orm import Session

    from fixtures.redraw import redraw_demo
    from geo.boundaries.export import read_areas_frame
    from geo.boundaries.generations import active_generation_id
    from geo.models import AreaLevel

    with database() as (engine, _), Session(engine) as session:
        frame = read_areas_frame(session, generation=active_generation_id(session), level=AreaLevel.grid)
    if len(frame) < 10:
        raise fail(f"the loaded city has {len(frame)} grids: too few to redraw", "load the demo: gridmap demo load")
    result = redraw_demo(frame)
    make_parent(out / "x")
    result.good.to_file(out / "redraw.gpkg", layer="grid", driver="GPKG", engine="pyogrio")
    result.broken.to_file(out / "redraw-broken.gpkg", layer="grid", driver="GPKG", engine="pyogrio")
    result.assignments.to_csv(out / "redraw-assignments.csv", index=False)
    console.print(f"wrote {out}/redraw.gpkg, redraw-broken.gpkg and redraw-assignments.csv:")
    console.print(f"  split {', '.join(result.split)} (new halves {', '.join(result.new)}); merged "
                  f"{result.merged[1]} into {result.merged[0]}; moved the edge {result.moved[1]} → {result.moved[0]}")


class ExportFormat(str, Enum):
    geojson = "geojson"
    gpkg = "gpkg"


# What each format's files are called: --format is read from --out when not given.
EXPORT_SUFFIXES = {".geojson": ExportFormat.geojson, ".json": ExportFormat.geojson, ".gpkg": ExportFormat.gpkg}


def export_format(out: Path, given: ExportFormat | None) -> ExportFormat:
    """The format to write ``out`` in: ``given``, else the one its extension names. Fails when
    the two disagree (GeoJSON bytes in a .gpkg file open nowhere) or when neither says."""
    named = EXPORT_SUFFIXES.get(out.suffix.lower())
    if given is None:
        if named is None:
            raise fail(f"cannot tell the format from {out.name!r}",
                       "name the file .geojson or .gpkg, or pass --format geojson|gpkg")
        return named
    if named is not None and named != given:
        raise fail(f"--format {given.value} does not match the file name {out.name!r} ({named.value})",
                   f"name it {out.stem}.{given.value}, or drop --format to write {named.value}")
    return given


@boundaries_app.command("export")
@grids_app.command("export")
def grids_export(
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write: .geojson or .gpkg (the format follows).")],
    format: Annotated[ExportFormat | None, typer.Option("--format", "-f", help=(
        "geojson or gpkg (default: from the --out extension; a mismatch is refused)."))] = None,
    level: Annotated[str, typer.Option(help="city, district, street, community or grid.")] = "grid",
    generation: Annotated[int | None, typer.Option(help="Generation (default: active).")] = None,
) -> None:
    """Write the areas of one level to GeoJSON or GeoPackage (EPSG:4326)."""
    from sqlalchemy.orm import Session

    from geo.boundaries.export import read_areas_frame
    from geo.boundaries.generations import resolve_generation

    lvl = parse_level(level)
    fmt = export_format(out, format)
    with database() as (engine, _), Session(engine) as session:
        gid = resolve_generation(session, generation=generation)
        frame = read_areas_frame(session, generation=gid, level=lvl)
    if frame.empty:
        raise fail(f"no {lvl.value} areas in generation {gid}", "load boundaries first: `gridmap demo load`")
    driver = {"geojson": "GeoJSON", "gpkg": "GPKG"}[fmt.value]
    make_parent(out)
    frame.to_file(out, driver=driver, engine="pyogrio", **({"layer": lvl.value} if driver == "GPKG" else {}))
    console.print(f"wrote {len(frame):,} {lvl.value} areas (generation {gid}) as {fmt.value} to {out}")


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default GRIDMAP_HOST or 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default GRIDMAP_PORT or 8000).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default GRIDMAP_WORKERS or 1).")] = None,
    access_log: Annotated[bool, typer.Option(help="Log every request (costs ~5 % at full load).")] = True,
    wait_for_port: Annotated[float, typer.Option(help="Seconds to wait for a busy port to come free.")] = 15.0,
) -> None:
    """Serve the API (OpenAPI docs at /docs) in the foreground."""
    import os

    import uvicorn

    from api.logs import log_config
    from api.settings import ApiSettings
    from api.supervision import SUPERVISOR_ENV

    settings = ApiSettings()
    bind_host, bind_port = host or settings.host, port or settings.port
    _wait_for_port(bind_host, bind_port, wait_for_port)
    # Workers watch this process: if it is killed outright they stop too (api.supervision).
    os.environ[SUPERVISOR_ENV] = str(os.getpid())
    console.print(f"serving on http://{bind_host}:{bind_port}  (docs: /docs, health: /healthz)")
    uvicorn.run(
        "api.app:create_app", factory=True, host=bind_host, port=bind_port,
        workers=workers or settings.workers, log_level="info", access_log=access_log,
        timeout_worker_healthcheck=settings.worker_healthcheck_s,
        log_config=log_config(settings.log_format),  # request ids on every line; GRIDMAP_LOG_FORMAT=json
    )


def _wait_for_port(host: str, port: int, seconds: float) -> None:
    """Return once (host, port) can be bound; after a crash the old workers may still be
    shutting down. Fails with the next step after ``seconds``."""
    import socket
    import time

    deadline = time.monotonic() + seconds
    said = False
    while True:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
                return
            except OSError:
                pass
        if time.monotonic() > deadline:
            raise fail(f"port {port} on {host} is in use",
                       f"another server holds it: find it with `ss -ltnp 'sport = :{port}'`, or pass --port")
        if not said:
            console.print(f"port {port} is busy; waiting up to {seconds:.0f} s for it to come free")
            said = True
        time.sleep(0.25)


def main() -> None:
    """The ``gridmap`` entry point. Known failures already end in a message and a next step
    (``cli.common.fail``); anything else still ends in one line, never a traceback, unless
    GRIDMAP_DEBUG=1 asks for it."""
    import os
    import sys

    try:
        app()
    except Exception as exc:  # noqa: BLE001 - the last line of defence for the user's terminal
        if os.environ.get("GRIDMAP_DEBUG"):
            raise
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        err_console.print(f"[bold red]error:[/] unexpected {type(exc).__name__}" + (f": {first}" if first else ""))
        err_console.print("[yellow]next:[/] run it again with GRIDMAP_DEBUG=1 to see the traceback, and report it")
        sys.exit(1)


if __name__ == "__main__":
    main()
