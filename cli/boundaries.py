"""`gridmap boundaries …` and `gridmap workers assign`: the planners' workflow against the
one draft generation — export, import, check, diff, assign, activate, discard, revert, history.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from cli.common import city_config, cli_actor, console, database, err_console, fail, make_parent, parse_level

app = typer.Typer(help=(
    "Redraw the grid: export → edit (QGIS) → import → check → diff → assign → activate; discard, revert, "
    "history. Every change goes to one draft generation; the city keeps using the active one until activation."),
    no_args_is_help=True)
workers_app = typer.Typer(help="Grid workers.", no_args_is_help=True)

ActorOpt = Annotated[str | None, typer.Option("--actor", help="Who does this, for the audit (default: the OS user).")]


class Output(str, Enum):
    text = "text"
    json = "json"
    geojson = "geojson"


def _principal(actor: str | None):
    from geo.access.roles import Role

    return cli_actor(Role.planner, actor)


def _problems(exc) -> typer.Exit:
    for p in getattr(exc, "problems", None) or [exc.message]:
        err_console.print(f"[red]✗[/] {p}")
    return fail(f"{len(getattr(exc, 'problems', None) or [1])} problem(s); nothing was changed",
                "fix the file (or the options: --layer, --field target=name, --crs) and import again")


def _write(out: Path | None, payload: dict) -> None:
    text = json.dumps(payload, ensure_ascii=False, indent=1, default=str)
    if out is None:
        console.print_json(text) if len(text) < 2_000_000 else print(text)
        return
    make_parent(out)
    out.write_text(text, encoding="utf-8")
    console.print(f"wrote {out}")


@app.command("import")
def boundaries_import(
    file: Annotated[Path, typer.Argument(help="GeoPackage, GeoJSON, Shapefile (.shp or .zip) or GeoParquet.")],
    level: Annotated[str, typer.Option(help="The level the file holds: grid, community or street.")] = "grid",
    layer: Annotated[str | None, typer.Option(help="The layer to read (needed when the file has several).")] = None,
    field: Annotated[list[str] | None, typer.Option("--field", help=(
        "target=field for code, name, households, population, kind (e.g. --field code=WGBM). Default: the "
        "names `gridmap boundaries export` writes."))] = None,
    crs: Annotated[str | None, typer.Option(help=(
        "The coordinates' crs: wgs84, cgcs2000, gcj02 (Amap/Tencent), bd09 (Baidu) or EPSG:<code>. Default: "
        "the file's own, else WGS-84."))] = None,
    whole_level: Annotated[bool, typer.Option("--whole-level", help=(
        "Replace the whole level: every area of it not in the file is removed. Default: only the parents the "
        "file touches (a parent is touched when a feature's code names it or its polygon lies mostly in it)."))] = False,
    description: Annotated[str | None, typer.Option(help="What this redraw is, for the history.")] = None,
    actor: ActorOpt = None,
) -> None:
    """Bring a redrawn level into the draft (created from the active generation if none).

    Areas unchanged within 0.1 % of their area and 0.5 m keep their row; redrawn ones become
    new versions; features without a code are numbered under their parent; the level is
    noded into a vertex-exact coverage and the levels above are rebuilt. One transaction:
    a bad file changes nothing.
    """
    from sqlalchemy.orm import Session

    from geo.boundaries.planning import import_file
    from geo.boundaries.reading import BoundaryFileError, FieldMap

    lvl = parse_level(level)
    with database() as (engine, _), Session(engine) as session:
        try:
            with console.status(f"reading {file.name} and noding the {lvl.value}s"):
                result = import_file(session, path=file, actor=_principal(actor), level=lvl, layer=layer,
                                     fields=FieldMap.parse(field or []), crs=crs, whole_level=whole_level,
                                     description=description)
        except BoundaryFileError as exc:
            session.rollback()
            raise _problems(exc) from None
        session.commit()
    console.print(f"draft generation {result.generation}: {lvl.value}s under {len(result.scope)} parent(s); "
                  f"{len(result.added)} added, {len(result.removed)} removed, {len(result.redrawn)} redrawn, "
                  f"{result.kept} unchanged")
    for row, code in sorted(result.numbered.items()):
        console.print(f"  row {row} numbered {code}")
    if result.estimated:
        console.print(f"  households estimated by area for {len(result.estimated)}: {', '.join(result.estimated[:10])}")
    if result.noise_cleaned:
        console.print(f"  {result.noise_cleaned} polygon(s) snapped by < 5 cm / gaps < 0.2 m closed (drawing noise)")
    if result.findings:
        console.print(f"[yellow]{len(result.findings)} problem(s) found[/]: see `gridmap boundaries check`")
    console.print("next: gridmap boundaries check, then gridmap boundaries diff")


def _draft_id(session, generation: int | None) -> int:
    from geo.boundaries.drafts import require_draft

    return generation if generation is not None else require_draft(session).id


@app.command("check")
def boundaries_check(
    format: Annotated[Output, typer.Option("--format", "-f", help="text, json, or geojson (problem locations).")] = Output.text,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write json/geojson here instead of the terminal.")] = None,
    generation: Annotated[int | None, typer.Option(help="Generation to check (default: the draft).")] = None,
) -> None:
    """What is wrong with the draft's drawing. Exit status 1 when there are errors."""
    from sqlalchemy.orm import Session

    from geo.boundaries.checks import check_generation

    with database() as (engine, _), Session(engine) as session:
        gid = _draft_id(session, generation)
        with console.status("checking coverage, nesting and codes"):
            report = check_generation(session, generation=gid, households_range=city_config().grid_households_range)
    if format == Output.text:
        console.print(f"generation {gid}: " + ", ".join(f"{n:,} {lvl}" for lvl, n in report.counts.items()))
        if report.noise_cleaned:
            console.print(f"drawing noise snapped silently: {report.noise_cleaned} polygon(s) (vertices < 5 cm apart "
                          "merged, gaps < 0.2 m closed)")
        for f in report.findings:
            mark = "[red]✗ error[/]" if f["severity"] == "error" else "[yellow]! warning[/]"
            console.print(f"{mark} {f['kind']}: {f['message']}")
        console.print(f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)")
    else:
        _write(out, report.as_json() if format == Output.json else report.as_geojson())
    if not report.ok:
        raise fail(f"the draft has {len(report.errors)} error(s)",
                   "open the GeoJSON (--format geojson --out problems.geojson) in QGIS, fix, and import again")


@app.command("diff")
def boundaries_diff(
    format: Annotated[Output, typer.Option("--format", "-f", help="text, json, or geojson (changed areas).")] = Output.text,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write json/geojson here.")] = None,
    generation: Annotated[int | None, typer.Option(help="Generation to compare (default: the draft).")] = None,
) -> None:
    """What the draft changes against the active generation: areas, households, open cases, workers."""
    from sqlalchemy.orm import Session

    from geo.boundaries.diffs import diff_generations
    from geo.boundaries.generations import active_generation_id

    with database() as (engine, _), Session(engine) as session:
        gid = _draft_id(session, generation)
        with console.status("comparing and re-matching the open cases"):
            diff = diff_generations(session, old=active_generation_id(session), new=gid, config=city_config(),
                                    now=datetime.now(UTC))
    if format != Output.text:
        _write(out, diff.as_json() if format == Output.json else diff.as_geojson())
        return
    print_diff(diff)


def print_diff(diff) -> None:
    counts = diff.counts()
    console.print(f"generation {diff.new} against {diff.old}:")
    for level, kinds in counts["areas"].items():
        console.print(f"  {level}: " + ", ".join(f"{n:,} {k}" for k, n in kinds.items()))
    for c in diff.changes:
        if c["level"] == "grid":
            extra = f" ({c['area_change_m2']:+,.0f} m²)" if "area_change_m2" in c else ""
            console.print(f"  grid {c['code']}: {', '.join(c['changes'])}{extra}")
    for m in diff.households_moved:
        console.print(f"  households {m['from']} → {m['to']}: {m['households']:,} (pop. {m['population']:,}, by area)")
    for m in diff.case_moves:
        console.print(f"  {len(m['report_ids'])} open case(s) {m['from']} → {m['to']}, worker {m['from_worker']} → "
                      f"{m['to_worker']}: {', '.join(m['report_ids'][:5])}" + (" …" if len(m["report_ids"]) > 5 else ""))
    if diff.unstaffed:
        console.print(f"[yellow]  {len(diff.unstaffed)} grid(s) without a primary worker[/]: {', '.join(diff.unstaffed[:10])}")
    for w in diff.workers:
        b, a = w["before"], w["after"]
        console.print(f"  worker {w['worker_id']} {w['public_name']}: grids {b['grids']}→{a['grids']}, households "
                      f"{b['households']}→{a['households']}, open cases {b['open_cases']}→{a['open_cases']}")


def _when(value: str) -> datetime:
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"--at {value!r} is not an ISO 8601 time", "e.g. --at 2027-01-01T00:00+08:00") from None
    if at.tzinfo is None:
        raise fail(f"--at {value!r} has no timezone", "add it, e.g. --at 2027-01-01T00:00+08:00")
    return at


@app.command("activate")
def boundaries_activate(
    at: Annotated[str | None, typer.Option(help="Schedule for this time (with its timezone) instead of now.")] = None,
    commit: Annotated[bool, typer.Option("--commit", help="Do it. Without: a dry run printing the diff summary.")] = False,
    lead_covers: Annotated[bool, typer.Option("--lead-covers", help=(
        "Activate although some grids have no primary worker: their cases go to the community lead."))] = False,
    actor: ActorOpt = None,
) -> None:
    """Switch the city to the draft (open cases follow their new grids), now or at --at."""
    from sqlalchemy.orm import Session

    from geo.boundaries.activation import Activation
    from geo.boundaries.checks import check_generation
    from geo.boundaries.diffs import diff_generations
    from geo.boundaries.drafts import require_draft
    from geo.boundaries.generations import active_generation_id
    from geo.boundaries.planning import activate

    when = _when(at) if at else None
    now = datetime.now(UTC)
    with database() as (engine, _), Session(engine) as session:
        draft = require_draft(session)
        if not commit:
            report = check_generation(session, generation=draft.id)
            print_diff(diff_generations(session, old=active_generation_id(session), new=draft.id, config=city_config(),
                                        now=now))
            state = "passes" if report.ok else f"has {len(report.errors)} error(s): activation would be refused"
            console.print(f"check {state}. Dry run: nothing changed; add --commit to "
                          + (f"schedule it for {when.isoformat()}" if when else "activate it now"))
            return
        with console.status("activating and re-matching the open cases"):
            result = activate(session, actor=_principal(actor), config=city_config(), now=now, at=when,
                              lead_covers=lead_covers)
        session.commit()
    if isinstance(result, Activation):
        console.print(f"[green]✓[/] generation {result.generation} is active (was {result.previous}); "
                      f"{result.moved} of {result.examined} open case(s) moved to new grids")
    else:
        console.print(f"[green]✓[/] generation {result.id} scheduled for {result.scheduled_at.isoformat()}: a "
                      "running server activates it then (or, if none runs, at its next start)")


@app.command("discard")
def boundaries_discard(
    yes: Annotated[bool, typer.Option("--yes", help="Really drop the draft and its planned assignments.")] = False,
    actor: ActorOpt = None,
) -> None:
    """Drop the draft; the active generation is untouched."""
    from sqlalchemy.orm import Session

    from geo.boundaries.planning import discard

    if not yes:
        raise fail("discarding drops every change in the draft", "add --yes to do it")
    with database() as (engine, _), Session(engine) as session:
        gid = discard(session, actor=_principal(actor))
        session.commit()
    console.print(f"draft generation {gid} discarded")


@app.command("revert")
def boundaries_revert(
    commit: Annotated[bool, typer.Option("--commit", help="Do it (without: say what would happen).")] = False,
    actor: ActorOpt = None,
) -> None:
    """Make the previous generation current again, as a new activation (open cases follow back)."""
    from sqlalchemy.orm import Session

    from geo.boundaries.generations import active_generation_id
    from geo.boundaries.planning import revert

    with database() as (engine, _), Session(engine) as session:
        if not commit:
            console.print(f"generation {active_generation_id(session)} is active; --commit restores the one "
                          "before it as a new generation and moves the open cases back")
            return
        result = revert(session, actor=_principal(actor), config=city_config(), now=datetime.now(UTC))
        session.commit()
    console.print(f"[green]✓[/] generation {result.generation} is active (restores the boundaries before "
                  f"{result.previous}); {result.moved} open case(s) moved")


@app.command("history")
def boundaries_history(
    grid: Annotated[str | None, typer.Option("--grid", help="One area's versions, lineage and successors.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="As JSON.")] = False,
) -> None:
    """Generations (status, who imported and activated them, counts), or one area's story."""
    from sqlalchemy.orm import Session

    from geo.boundaries.history import area_history, generation_history

    with database() as (engine, _), Session(engine) as session:
        payload = area_history(session, code=grid, include_draft=True) if grid else generation_history(session)
    if as_json:
        _write(None, payload if grid else {"generations": payload})
        return
    if grid:
        console.print(f"{grid} ({payload['level']}, {'current' if payload['current'] else 'retired'}):")
        for v in payload["versions"]:
            src = ", ".join(f"{d['code']} ({d['share_of_this']:.0%})" for d in v["drawn_from"])
            console.print(f"  generations {v['generation_low']}–{v['generation_high']}: {v['name']}, "
                          f"{v['area_m2']:,.0f} m², {v['households']} households"
                          + (" (estimated)" if v["estimated"] else "") + (f"; drawn from {src}" if src else ""))
        if payload["successors"]:
            console.print("  succeeded by " + ", ".join(s["code"] for s in payload["successors"]))
        return
    for g in payload:
        counts = "; ".join(f"{lvl} " + ", ".join(f"{n} {k}" for k, n in c.items()) for lvl, c in g["counts"].items())
        when = g["activated_at"] and f", activated {g['activated_at']:%Y-%m-%d %H:%M} by {g['activated_by'] or '?'}"
        sched = g["scheduled_at"] and f", scheduled for {g['scheduled_at'].isoformat()}"
        console.print(f"{g['id']:>4} {g['status']:<8} {g['description'] or ''} (by {g['created_by'] or '?'}"
                      f"{when or ''}{sched or ''}) {counts}")


@workers_app.command("assign")
def workers_assign(
    file: Annotated[Path, typer.Argument(help="CSV with columns grid_code, worker_id, role (primary, backup, lead).")],
    actor: ActorOpt = None,
) -> None:
    """Plan who answers for the draft's grids; applied when the draft is activated."""
    from sqlalchemy.orm import Session

    from geo.boundaries.assignments import AssignmentFileError
    from geo.boundaries.planning import assign_file

    with database() as (engine, _), Session(engine) as session:
        try:
            n = assign_file(session, path=file, actor=_principal(actor))
        except AssignmentFileError as exc:
            session.rollback()
            for p in exc.problems:
                err_console.print(f"[red]✗[/] {p}")
            raise fail(f"{len(exc.problems)} problem(s); nothing was changed", "fix the CSV and run it again") from None
        session.commit()
    console.print(f"{n} assignment(s) planned for the draft; they start when it is activated")
