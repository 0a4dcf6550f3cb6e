"""`gridmap reports import|export|rematch|escalate`: bulk work on reports, with progress bars."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from cli.common import city_config, console, database, fail, progress
from cli.report_archive import archive_reports
from cli.report_export import export_reports

app = typer.Typer(help="Reports: bulk import and export, re-matching after boundary changes, escalation.",
                  no_args_is_help=True)
app.command("export")(export_reports)
app.command("archive")(archive_reports)

def _rejects_writer(out: Path, *, crs: str):
    """Appends rejected rows to ``out`` as they can be fixed and imported again: ``row`` (the
    CSV line, or the feature's position from 1), ``reason``, then the row itself with the id
    it was given (so a re-import cannot store a row twice) and the crs its coordinates are
    in. Written slice by slice: memory flat however many rows are rejected."""
    import csv

    state: dict = {}

    def write(columns: list[str], rows: list[tuple[int, str, dict]]) -> None:
        if "writer" not in state:
            names = [c for c in columns if c not in ("row", "reason")]
            names += [c for c in ("id", "crs") if c not in names]
            state["names"], state["file"] = names, out.open("w", encoding="utf-8", newline="")
            state["writer"] = csv.writer(state["file"])
            state["writer"].writerow(["row", "reason", *names])
        for line, why, row in rows:
            given = row.get("crs")
            row = {**row, "crs": given if given is not None and given == given and given != "" else crs}
            state["writer"].writerow([line, why, *("" if row.get(c) is None else row[c] for c in state["names"])])

    def close() -> None:
        if "file" in state:
            state["file"].close()

    return write, close


@app.command("import")
def import_reports(
    file: Annotated[Path, typer.Argument(help="CSV, GeoJSON/GPKG or (Geo)Parquet of reports.")],
    crs: Annotated[str | None, typer.Option(help="crs of lon/lat when the file does not say (default wgs84).")] = None,
    source: Annotated[str, typer.Option(help="source for rows without one.")] = "hotline_12345",
    earliest: Annotated[datetime | None, typer.Option(
        formats=["%Y-%m-%d"],
        help="Accept reports dated from this day on (city time); default: the city's earliest_report_date "
             "(2000-01-01). Not before 1900-01-01.")] = None,
) -> None:
    """Register every row as a report (same rules as the API). Rows without an id get one
    derived from the file's content and row number, so importing a file twice adds nothing.

    Rejected rows are written next to the file as <name>.rejected.csv: the row as you count
    it (in a CSV the line it starts on, the header being line 1; in other files the
    feature's position from 1), the reason, and the row itself with the id and crs it was
    read with, so it can be fixed and imported again. Exits with 1 when any row was rejected
    (the others are stored). The file is read in slices (memory flat in its size), each
    slice registered and committed on its own: an interrupted import is resumed by running
    it again."""
    from sqlalchemy.orm import Session

    from geo.reports.bulk import import_slice
    from geo.reports.import_files import (
        ImportFileError, MissingColumns, csv_line_starts, file_digest, open_slices, row_id, row_input,
    )

    if not file.exists():
        raise fail(f"{file} does not exist")
    hint = "give a CSV with lon,lat columns, a GeoJSON/GPKG or a (Geo)Parquet"
    try:
        file_crs, total, slices = open_slices(file, crs=crs)
    except MissingColumns as exc:
        raise fail(f"{file} {exc}", "required: category, reported_at and a location") from None
    except ImportFileError as exc:
        raise fail(f"cannot read {file}: {exc}", hint) from None
    config = city_config()
    floor = None
    if earliest is not None:
        if earliest.year < 1900:
            raise fail("--earliest must not be before 1900-01-01", "older times cannot be read back reliably")
        floor = earliest.replace(tzinfo=config.tz)
    digest = file_digest(file)
    lines = csv_line_starts(file) if file.suffix.lower() == ".csv" else None
    out = file.with_name(file.stem + ".rejected.csv")
    write_rejects, close_rejects = _rejects_writer(out, crs=file_crs)
    totals = {"created": 0, "replayed": 0, "rejected": 0, "rows": 0}
    try:
        with database() as (engine, _), progress() as bar:
            task = bar.add_task(f"importing {file.name}", total=total)  # a CSV's count is known at its end
            for part in _read_slices(slices, hint=hint, file=file):
                items, rejected = [], {}
                for i, row in enumerate(part.rows, part.start):
                    try:
                        rid = row_id(row, index=i, digest=digest)
                        row["id"] = str(rid)  # the id it was given travels with a rejected row
                        items.append((i, row_input(row, crs=file_crs, source=source, rid=rid)))
                    except (KeyError, TypeError, ValueError) as exc:
                        rejected[i] = str(exc)
                with Session(engine) as session:
                    result = import_slice(session, items=items, config=config, now=datetime.now(UTC), earliest=floor)
                    session.commit()
                rejected.update(result.rejected)
                totals["created"] += result.created
                totals["replayed"] += result.replayed
                totals["rejected"] += len(rejected)
                totals["rows"] += len(part.rows)
                starts = [next(lines, None) for _ in part.rows] if lines is not None else None
                write_rejects(part.columns, [
                    (starts[i - part.start] if starts else i + 1, rejected[i], part.rows[i - part.start])
                    for i in sorted(rejected)])
                bar.advance(task, len(part.rows))
            bar.update(task, total=totals["rows"])
    finally:
        close_rejects()
    console.print(f"created {totals['created']:,}, already there {totals['replayed']:,}, rejected {totals['rejected']:,}")
    if totals["rejected"]:
        raise fail(f"{totals['rejected']:,} of {totals['rows']:,} row(s) rejected (the others were stored); "
                   f"each with its reason in {out}",
                   f"fix those rows and import {out.name} (rows already stored are not stored twice)")


def _read_slices(slices, *, hint: str, file: Path):
    from geo.reports.import_files import ImportFileError

    try:
        yield from slices
    except ImportFileError as exc:
        raise fail(f"cannot read {file} past the rows stored so far: {exc}",
                   f"fix the file and import it again (rows already stored are not stored twice); {hint}") from None


@app.command("rematch")
def rematch(
    include_closed: Annotated[bool, typer.Option(help=(
        "Also restate closed cases under today's boundaries (`gridmap reports restate`): their current grid, "
        "kept apart from the grid they were handled under, which never changes."))] = False,
    dry_run: Annotated[bool, typer.Option(help="Count what would change grid; store nothing.")] = False,
) -> None:
    """Re-match the open cases to the active generation's grids (activation does this itself)."""
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from geo.matching.matcher import matcher_for
    from geo.models import OPEN_STATUSES, Report
    from geo.reports.rematch import apply_rematch, plan_rematch

    config = city_config()
    with database() as (engine, _), progress() as bar:
        with Session(engine) as session:
            generation, matcher = matcher_for(session)
            total = session.scalar(sa.select(sa.func.count()).select_from(Report).where(Report.status.in_(OPEN_STATUSES)))
        task = bar.add_task(f"re-matching open cases to generation {generation}", total=total)
        after, examined, moved = None, 0, 0
        while True:
            with Session(engine) as session:
                plan = plan_rematch(session, matcher=matcher, generation=generation, config=config, after=after)
                if not dry_run:
                    apply_rematch(session, plan=plan, now=datetime.now(UTC))
                    session.commit()
            if plan.last_id is None:
                break
            after, examined, moved = plan.last_id, examined + len(plan.reports), moved + len(plan.moves)
            bar.advance(task, len(plan.reports))
    if dry_run:
        console.print(f"dry run: of {examined:,} open case(s), {moved:,} would change grid in generation "
                      f"{generation}; nothing was stored (run without --dry-run to apply)")
    else:
        console.print(f"{examined:,} open case(s) re-matched to generation {generation}; {moved:,} changed grid")
    if include_closed and not dry_run:
        restate()


@app.command("restate")
def restate() -> None:
    """Every report's grid under today's boundaries (current_grid_code), for statistics of all
    history; the grid a case was handled under is kept as it was."""
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from geo.matching.matcher import matcher_for
    from geo.models import Report
    from geo.reports.restate import restate_chunk

    config = city_config()
    with database() as (engine, _), progress() as bar:
        with Session(engine) as session:
            generation, matcher = matcher_for(session)
            total = session.scalar(sa.select(sa.func.count()).select_from(Report))
        task = bar.add_task(f"restating reports under generation {generation}", total=total)
        after, examined, changed = None, 0, 0
        while True:
            with Session(engine) as session:
                chunk = restate_chunk(session, matcher=matcher, generation=generation, config=config, after=after)
                session.commit()
            if chunk.last_id is None:
                break
            after, examined, changed = chunk.last_id, examined + chunk.examined, changed + chunk.changed
            bar.advance(task, chunk.examined)
    console.print(f"{examined:,} report(s) restated under generation {generation}; {changed:,} written "
                  "(the grid each case was handled under is unchanged)")


@app.command("escalate")
def escalate() -> None:
    """Escalate every overdue open case one level now (the server also does this every minute)."""
    from sqlalchemy.orm import Session

    from geo.reports.workflow import escalate_overdue

    with database() as (engine, _), Session(engine) as session:
        run = escalate_overdue(session, config=city_config(), now=datetime.now(UTC))
        session.commit()
    console.print(f"escalated {run.moved:,} overdue case(s)")
    if run.failed:
        raise fail(f"{len(run.failed):,} overdue case(s) could not be escalated (the others were): "
                   + ", ".join(map(str, run.failed[:5])) + (" …" if len(run.failed) > 5 else ""),
                   "the log names each error; fix those rows and run `gridmap reports escalate` again")
