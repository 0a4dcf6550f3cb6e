"""`gridmap reports export`: every matching report to a file, with a progress bar."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from cli.common import cli_actor, console, database, fail, make_parent, progress
from cli.maps import _window

Since = Annotated[str | None, typer.Option(help=(
    "Reported from: a date (2026-11-01: that day's start in the city's time zone) or an ISO 8601 time with "
    "an offset (2026-11-01T08:00:00+08:00); default: no bound."))]
Until = Annotated[str | None, typer.Option(help="Reported before (exclusive); same forms as --since.")]

FORMATS = ("csv", "geojsonseq", "parquet", "gpkg")


def _bbox(raw: str | None):
    from geo.boundaries.areas import BBox
    from geo.errors import InvalidInput

    if raw is None:
        return None
    try:
        values = [float(v) for v in raw.split(",")]
        if len(values) != 4:
            raise ValueError
        return BBox(*values)
    except ValueError:
        raise fail(f"--bbox {raw!r} is not 4 numbers", "give minlon,minlat,maxlon,maxlat in WGS-84 degrees") from None
    except InvalidInput as exc:
        raise fail(f"--bbox: {exc.message}", "give minlon,minlat,maxlon,maxlat in WGS-84 degrees") from None


def export_reports(
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write (replaced only once complete).")],
    fmt: Annotated[str | None, typer.Option("--format", "-f", help=(
        "csv, geojsonseq, parquet (GeoParquet) or gpkg (GeoPackage); default: from the --out suffix."))] = None,
    public: Annotated[bool, typer.Option(help=(
        "Write what the public may see (sensitive cases at their public cell and community, without text or "
        "worker; no reporter columns; --bbox tests the public location). Without it the file holds full "
        "records, personal data included: the CLI is the operator's, on the server, with the database's own "
        "rights (the export is audited). Use --public for any file that leaves the command centre."))] = False,
    area: Annotated[str | None, typer.Option(help="Only reports in this area (any hierarchy code).")] = None,
    category: Annotated[str | None, typer.Option(help=(
        "Only these: all, a group (disputes, safety, urban, other), a category key or a 2-digit code."))] = None,
    status: Annotated[str | None, typer.Option(help="Only cases in this state (registered, dispatched, ...).")] = None,
    since: Since = None,
    until: Until = None,
    bbox: Annotated[str | None, typer.Option(help="minlon,minlat,maxlon,maxlat (WGS-84 degrees).")] = None,
    overdue: Annotated[bool, typer.Option(help="Only open cases past their due time.")] = False,
    unassigned: Annotated[bool, typer.Option(help="Only cases no grid covers.")] = False,
    excel: Annotated[bool, typer.Option(help=(
        "CSV for spreadsheets: a UTF-8 byte-order mark, and free-text cells starting with = + - @ prefixed "
        "with ' so none runs as a formula."))] = False,
    actor: Annotated[str | None, typer.Option(help="Who exports, for the audit (default: the OS user).")] = None,
) -> None:
    """Export the reports a listing would match (in storage order) to CSV, a GeoJSON sequence,
    GeoParquet or a GeoPackage, in one streamed pass with flat memory."""
    from sqlalchemy.orm import Session

    from geo.access.roles import PUBLIC, sees_exact_locations
    from geo.boundaries.generations import active_generation_id
    from geo.errors import InvalidInput
    from geo.models import ReportStatus
    from geo.reports.categories import parse_category
    from geo.reports.export import Export, audit_export, count_rows, stream
    from geo.reports.queries import ReportFilter, area_prefix

    fmt = fmt or next((f for f in FORMATS if out.suffix.lower() == f".{f}"), None)
    if fmt not in FORMATS:
        raise fail(f"unknown format {fmt!r}" if fmt else f"cannot tell the format from {out.name}",
                   f"give --format {'|'.join(FORMATS)}")
    try:
        _label, categories = parse_category(category)
        state = ReportStatus(status) if status else None
    except InvalidInput as exc:
        raise fail(f"--category: {exc.message}") from None
    except ValueError:
        raise fail(f"--status {status!r} is not a state", f"use one of: {', '.join(s.value for s in ReportStatus)}") \
            from None
    start, end = _window(since, until)
    viewer = PUBLIC if public else cli_actor(holder=actor)
    make_parent(out)
    tmp = out.with_name(f".{out.stem}.partial{out.suffix}")  # GDAL wants the suffix
    try:
        with database(statement_timeout=False) as (engine, _), Session(engine) as session:
            prefix = area_prefix(session, code=area, generation=active_generation_id(session)) if area else None
            try:
                export = Export(viewer=viewer, fmt=fmt, now=datetime.now(UTC), excel=excel, filters=ReportFilter(
                    area_prefix=prefix, categories=categories, status=state, since=start, until=end, bbox=_bbox(bbox),
                    exact=sees_exact_locations(viewer), overdue=overdue, unassigned=unassigned))
            except InvalidInput as exc:
                raise fail(f"--{exc.details.get('field', 'format')}: {exc.message}") from None
            total = count_rows(session, export=export)
            audit_export(session, export=export)
            session.commit()
            with progress() as bar:
                task = bar.add_task(f"exporting {total:,} report(s) as {fmt}", total=total)

                def done(rows: int) -> None:
                    bar.update(task, completed=rows)

                if fmt == "gpkg":
                    from geo.reports.export_arrow import write_gpkg

                    tmp.unlink(missing_ok=True)
                    write_gpkg(session, export=export, path=tmp, progress=done)
                else:
                    with tmp.open("wb") as f:
                        for piece in stream(session, export=export, progress=done):
                            f.write(piece)
            session.rollback()
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    console.print(f"wrote {export.rows:,} report(s) to {out} ({'public' if public else 'full'} records)")
