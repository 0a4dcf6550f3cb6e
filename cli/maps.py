"""`gridmap map ...`: standalone map pages for reports and offline use.

A standalone page cannot fetch from the app, so its data is embedded (the live layers hold a
snapshot) and every JS/CSS asset (with the images and fonts its CSS loads) is copied into
``<name>_files/`` next to the HTML and linked relatively: the HTML file plus that folder open
from disk, or any static host, with no network at all.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from cli.common import city_config, console, database, fail, make_parent, parse_level
from geo.boundaries.hierarchy import BELOW_CITY

map_app = typer.Typer(help="Standalone map pages (offline: assets copied next to the page).", no_args_is_help=True)

Out = Annotated[Path, typer.Option("--out", "-o", help="HTML file to write; assets go to <name>_files/.")]
Since = Annotated[str | None, typer.Option(help=(
    "Window start: a date (2026-11-01: that day's start in the city's time zone) or an ISO 8601 time with "
    "an offset (2026-11-01T08:00:00+08:00); default: 12 weeks before --until."))]
Until = Annotated[str | None, typer.Option(help=(
    "Window end, exclusive; same forms as --since (default: just after the newest report)."))]
# A file is handed around: by default it shows what a planner may see (sensitive cases and
# workers at their cells, geo.access.privacy); --exact is for dispatchers' and admins' own use.
Exact = Annotated[bool, typer.Option(help="Exact points of sensitive cases and workers (personal data: for "
                                          "dispatchers and admins only; never hand such a file around).")]


def _window(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    """--since/--until by the rules of every map and listing (geo.instants): a date is the
    city's day, a time needs its offset, and the window must not be empty."""
    from geo.errors import InvalidInput
    from geo.instants import parse_window

    try:
        return parse_window(since, until, tz=city_config().tz)
    except InvalidInput as exc:
        field = exc.details.get("field", "since")
        raise fail(f"--{field}: {exc.message}", "give --since before --until, each a date (2026-11-01) "
                   "or a time with its offset (2026-11-01T08:00:00+08:00)") from None


def _settings():
    """The map settings, once the assets the page links are known to be there."""
    from maps.settings import MapSettings, missing_assets

    settings = MapSettings()
    if (why := missing_assets(settings.assets_dir)) is not None:
        raise fail(why)
    return settings


def _write(m, out: Path, title: str, settings) -> None:
    from maps.assets import copy_assets
    from maps.base import render

    folder = f"{out.stem}_files"
    page, used = render(m, asset_base=folder, title=title)
    make_parent(out)
    try:
        copy_assets(used, assets_dir=settings.assets_dir, dest=out.parent / folder)
    except OSError as exc:
        raise fail(f"cannot write the page's assets: {exc}", "check the --out folder, and that the map assets "
                   "are installed (`npm ci --ignore-scripts`, or `make setup`)") from None
    out.write_text(page, encoding="utf-8")
    console.print(f"wrote {out} ({len(page.encode()) / 1e6:.2f} MB) and {len(used)} assets in {out.parent / folder}/")


@map_app.command("command-center")
def command_center(out: Out, since: Since = None, until: Until = None,
                   level: Annotated[str, typer.Option(help="Level shown first.")] = "grid", exact: Exact = False) -> None:
    """The command-centre map with a snapshot of the live layers."""
    from sqlalchemy.orm import Session

    from geo.analytics.analysis import command_center_data
    from geo.analytics.mapdata import live_reports, worker_positions
    from geo.boundaries.generations import active_generation_id
    from maps.command_center import LiveSources, build_command_center

    level = parse_level(level, allowed=BELOW_CITY).value
    start, end = _window(since, until)
    settings = _settings()
    now = datetime.now(UTC)
    with database() as (engine, _), Session(engine) as session:
        data = command_center_data(session, generation=active_generation_id(session), now=now,
                                   since=start, until=end, max_cells=settings.hex_max_cells,
                                   public=not exact)
        live = LiveSources(
            reports_snapshot=live_reports(session, now=now, window=timedelta(hours=settings.live_window_h),
                                          exact=exact),
            workers_snapshot=worker_positions(session, exact=exact),
        )
    if level not in data.areas:
        raise fail(f"unknown level {level!r}", f"use one of: {', '.join(data.areas)}")
    m = build_command_center(areas=data.areas, heat=data.heat, live=live, bounds=data.bounds, settings=settings,
                             default_level=level, window_label=f"{data.since:%Y-%m-%d} – {data.until:%Y-%m-%d}")
    _write(m, out, f"gridmap command centre {now:%Y-%m-%d %H:%M} UTC", settings)


@map_app.command("hotspots")
def hotspots(
    out: Out, since: Since = None, until: Until = None,
    category: Annotated[str, typer.Option(help="all, a group (disputes, safety, urban, other), a key or code.")] = "all",
    level: Annotated[str, typer.Option(help="Level of the per-area Gi*.")] = "grid",
    resolution: Annotated[int | None, typer.Option(min=5, max=10, help="H3 resolution (default: by extent).")] = None,
    exact: Exact = False,
) -> None:
    """The hot-spot analysis page (density, Gi* per hexagon and per area, weekly animation)."""
    from sqlalchemy.orm import Session

    from geo.analytics.analysis import analyse_hotspots
    from geo.boundaries.generations import active_generation_id
    from geo.errors import InvalidInput
    from geo.reports.categories import parse_category
    from maps.hotspots import build_hotspots

    try:
        label, codes = parse_category(category)
    except InvalidInput as exc:
        raise fail(f"--category: {exc.message}") from None
    lvl = parse_level(level, allowed=BELOW_CITY)
    start, end = _window(since, until)
    settings = _settings()
    with database() as (engine, _), Session(engine) as session:
        a = analyse_hotspots(session, generation=active_generation_id(session), label=label, categories=codes,
                             since=start, until=end, level=lvl, resolution=resolution,
                             max_cells=settings.hex_max_cells, public=not exact,
                             zone=city_config().timezone)
    _write(build_hotspots(a, settings=settings), out, f"gridmap hot spots: {label}", settings)
