"""`gridmap reports import|export|rematch|escalate`: bulk work on reports, with progress bars."""

from __future__ import annotations

import hashlib
import uuid
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

IMPORT_NAMESPACE = uuid.UUID("1d9c7a58-6a0e-4a53-8f0b-9d3f0e2b4c61")
CHUNK = 5_000


def _read(path: Path, crs: str | None):
    """The file as a pandas DataFrame with lon/lat columns and the crs they are in."""
    import geopandas as gpd
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame = pd.read_csv(path, dtype={"category": str, "subcategory": str, "id": str})
    elif suffix == ".parquet":
        try:
            frame = gpd.read_parquet(path)
        except ValueError:  # plain Parquet without geo metadata
            frame = pd.read_parquet(path)
    else:
        frame = gpd.read_file(path, engine="pyogrio")
    if isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame:
        epsg = frame.crs.to_epsg() if frame.crs is not None else 4326
        frame = pd.DataFrame(frame.assign(lon=frame.geometry.x, lat=frame.geometry.y).drop(columns=frame.geometry.name))
        crs = crs or ("wgs84" if epsg == 4326 else f"EPSG:{epsg}")
    return frame, crs or "wgs84"


def _row_input(row: dict, *, crs: str, source: str, rid: uuid.UUID):
    from geo.models import ReportSource
    from geo.reports.intake import ReportInput

    def text(key):
        value = row.get(key)
        return None if value is None or value != value else str(value)

    reported_at = datetime.fromisoformat(str(row["reported_at"]))
    return ReportInput(
        id=rid, category=str(row["category"]).zfill(2), subcategory=text("subcategory"),
        description=text("description") or "", source=ReportSource(text("source") or source),
        x=float(row["lon"]), y=float(row["lat"]), crs=text("crs") or crs, reported_at=reported_at,
        reporter_name=text("reporter_name"), reporter_phone=text("reporter_phone"),
    )


def _csv_lines(path: Path) -> list[int]:
    """The line each record of a CSV starts on (the header is line 1), as pandas reads the
    records: a quoted field may span lines, and blank lines hold no record."""
    import csv

    starts, previous = [], 0
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        for record in reader:
            if record:
                starts.append(previous + 1)
            previous = reader.line_num
    return starts[1:]  # after the header


def _write_rejected(out: Path, frame, rejected: dict[int, str], *, used_ids: dict[int, str], crs: str,
                    lines: list[int] | None) -> None:
    """The rejected rows, as they can be fixed and imported again: ``row`` (the CSV line, or
    the feature's position from 1), ``reason``, then the row itself with the id it was given
    (so a re-import cannot store a row twice) and the crs its coordinates are in."""
    import pandas as pd

    index = sorted(rejected)
    rows = frame.iloc[index].drop(columns=["row", "reason"], errors="ignore").reset_index(drop=True)
    rows["id"] = [used_ids.get(i, rows["id"].iloc[k] if "id" in rows else None) for k, i in enumerate(index)]
    given = rows["crs"] if "crs" in rows else pd.Series([None] * len(rows))
    rows["crs"] = given.where(given.notna() & (given.astype(str) != ""), crs)
    head = pd.DataFrame({"row": [lines[i] if lines else i + 1 for i in index], "reason": [rejected[i] for i in index]})
    head.join(rows).to_csv(out, index=False)


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
    (the others are stored)."""
    from sqlalchemy.orm import Session

    from geo.reports.registration import submit_batch

    if not file.exists():
        raise fail(f"{file} does not exist")
    try:
        frame, file_crs = _read(file, crs)
    except Exception as exc:  # noqa: BLE001 - any reader error means the same thing to the user
        raise fail(f"cannot read {file}: {exc}", "give a CSV with lon,lat columns, a GeoJSON/GPKG or a (Geo)Parquet")
    missing = {"category", "reported_at", "lon", "lat"} - set(frame.columns)
    if missing:
        raise fail(f"{file} lacks column(s) {', '.join(sorted(missing))}", "required: category, reported_at and a location")
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    config = city_config()
    floor = None
    if earliest is not None:
        if earliest.year < 1900:
            raise fail("--earliest must not be before 1900-01-01", "older times cannot be read back reliably")
        floor = earliest.replace(tzinfo=config.tz)
    rejected: dict[int, str] = {}  # record index -> reason
    used_ids: dict[int, str] = {}
    totals = {"created": 0, "replayed": 0, "rejected": 0}
    records = frame.to_dict("records")
    with database() as (engine, _), progress() as bar:
        task = bar.add_task(f"importing {file.name}", total=len(records))
        for start in range(0, len(records), CHUNK):
            items = []
            for i, row in enumerate(records[start:start + CHUNK], start):
                given = row.get("id")
                try:
                    try:
                        rid = uuid.UUID(str(given)) if given == given and given else \
                            uuid.uuid5(IMPORT_NAMESPACE, f"{digest}:{i}")
                    except ValueError:
                        raise ValueError(f"id: {given!r} is not a UUID") from None
                    used_ids[i] = str(rid)
                    items.append((i, _row_input(row, crs=file_crs, source=source, rid=rid)))
                except (KeyError, TypeError, ValueError) as exc:
                    rejected[i] = str(exc)
            with Session(engine) as session:
                outcomes = submit_batch(session, items=items, config=config, now=datetime.now(UTC), duplicates=False,
                                        earliest=floor)
                session.commit()
            for o in outcomes:
                if o.error is not None:
                    field = o.error.details.get("field", "")
                    rejected[o.index] = f"{field}: {o.error.message}" if field else o.error.message
                else:
                    totals["created" if o.created else "replayed"] += 1
            bar.advance(task, min(CHUNK, len(records) - start))
    totals["rejected"] = len(rejected)
    console.print(f"created {totals['created']:,}, already there {totals['replayed']:,}, rejected {totals['rejected']:,}")
    if rejected:
        out = file.with_name(file.stem + ".rejected.csv")
        _write_rejected(out, frame, rejected, used_ids=used_ids, crs=file_crs,
                        lines=_csv_lines(file) if file.suffix.lower() == ".csv" else None)
        raise fail(f"{len(rejected):,} of {len(records):,} row(s) rejected (the others were stored); "
                   f"each with its reason in {out}",
                   f"fix those rows and import {out.name} (rows already stored are not stored twice)")


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
