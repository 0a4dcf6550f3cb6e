"""`gridmap match`: add the responsible grid to every point of a Parquet or CSV file, streamed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from cli.common import city_config, console, database, fail, make_parent, progress

GRID_COLUMN = "grid_code"
KIND_COLUMN = "match_kind"
SNAP_COLUMN = "snap_distance_m"


def _open_batches(path: Path, chunk_size: int):
    """(schema, total rows or None, iterator of RecordBatches) for Parquet/GeoParquet or CSV.

    Raises OSError or pyarrow.ArrowInvalid when the file is missing or not readable as such.
    """
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    if path.suffix.lower() in (".csv", ".txt"):
        # Streaming CSV reader: blocks of ~16 MB rather than exact rows, memory stays bounded.
        reader = pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=16 << 20))
        return reader.schema, None, iter(reader)
    pf = pq.ParquetFile(path)
    return pf.schema_arrow, pf.metadata.num_rows, pf.iter_batches(batch_size=chunk_size)


def _geometry(schema) -> tuple[str, object] | None:
    """(column, crs) of a GeoParquet file's primary geometry, from its ``geo`` metadata; None
    for plain Parquet and CSV. Raises ValueError for encodings other than WKB."""
    import json

    raw = (schema.metadata or {}).get(b"geo")
    if not raw:
        return None
    geo = json.loads(raw)
    name = geo.get("primary_column")
    column = geo.get("columns", {}).get(name, {})
    if name not in schema.names:
        return None
    if column.get("encoding", "WKB").upper() != "WKB":
        raise ValueError(f"geometry column {name!r} is {column['encoding']}-encoded; write it as WKB "
                         "(geopandas: to_parquet(..., geometry_encoding='WKB'))")
    return name, column.get("crs") or "OGC:CRS84"  # GeoParquet: no crs (or null) means CRS84


def _point_coords(batch, column: str, transformer):
    """lon/lat (WGS-84) of a WKB point column; null or empty geometries give NaN (no grid).
    Raises ValueError for a geometry that is not a point."""
    import numpy as np
    import shapely

    geoms = shapely.from_wkb(batch.column(column).to_numpy(zero_copy_only=False))
    kinds = shapely.get_type_id(geoms)
    bad = (kinds != 0) & (kinds != -1)  # -1: missing
    if bad.any():
        raise ValueError(f"{column} holds {geoms[bad][0].geom_type} geometries; match needs points")
    x, y = shapely.get_x(geoms), shapely.get_y(geoms)
    if transformer is not None:
        x, y = transformer.transform(x, y)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def _coords(batch, name: str):
    """A lon/lat column as float64 numpy (nulls → NaN, which match no grid)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    col = pc.cast(batch.column(name), pa.float64())
    return np.asarray(col.fill_null(float("nan")).to_numpy(zero_copy_only=False), dtype=np.float64)


def match(
    in_path: Annotated[Path, typer.Option("--in", help=(
        "Points: Parquet or CSV with lon, lat columns (WGS-84 degrees), or GeoParquet with point geometries "
        "(in any crs its metadata names)."))],
    out: Annotated[Path, typer.Option("--out", help=(
        "Parquet file to write: the input columns + grid_code, match_kind and snap_distance_m."))],
    generation: Annotated[int | None, typer.Option(help="Boundary generation (default: active).")] = None,
    chunk_size: Annotated[int, typer.Option(min=1, help="Rows read, matched and written at a time.")] = 1_000_000,
    snap_tolerance: Annotated[float | None, typer.Option(min=0, help=(
        "Metres: a point this close outside every grid is snapped to the nearest one, as intake does "
        "(default: the city configuration's snap_tolerance_m; 0: grid_code only where a grid covers the point)."))] = None,
) -> None:
    """Match every point to its grid with intake's rule, streamed.

    grid_code: the grid covering the point (smallest code on shared edges), or the nearest grid
    within the snap tolerance; null otherwise. match_kind: inside, edge (on a shared edge),
    snapped or unassigned (also for missing coordinates). snap_distance_m: metres to the grid,
    for snapped points only.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sqlalchemy.orm import Session

    from geo.boundaries.generations import resolve_generation
    from geo.matching.matcher import GridMatcher
    from geo.matching.rule import database_fallback, match_points, near_fallback
    from geo.models import MatchKind

    try:
        schema, total, batches = _open_batches(in_path, chunk_size)
    except (OSError, pa.ArrowInvalid) as exc:
        raise fail(
            f"cannot read {in_path}: {str(exc).strip().splitlines()[0]}",
            "give an existing Parquet/GeoParquet (.parquet) or CSV (.csv) file with lon and lat columns",
        ) from None
    missing = [c for c in ("lon", "lat") if c not in schema.names]
    try:
        geometry = _geometry(schema) if missing else None
    except ValueError as exc:
        raise fail(f"cannot read {in_path}: {exc}") from None
    if missing and geometry is None:
        raise fail(
            f"{in_path} has no {' or '.join(missing)} column (columns: {', '.join(schema.names) or 'none'})",
            "add WGS-84 degree columns named lon and lat (convert GCJ-02/BD-09 or projected data first), "
            "or give a GeoParquet file with point geometries",
        )
    transformer = None
    if geometry is not None:
        from pyproj import CRS, Transformer
        from pyproj.exceptions import CRSError

        try:
            crs = CRS.from_user_input(geometry[1])
        except CRSError as exc:
            raise fail(f"cannot read the crs of {in_path}: {exc}", "write the file with a known crs (EPSG:4326)") from None
        if not crs.equals(CRS.from_user_input("OGC:CRS84"), ignore_axis_order=True):
            transformer = Transformer.from_crs(crs, "OGC:CRS84", always_xy=True)
    taken = [c for c in (GRID_COLUMN, KIND_COLUMN, SNAP_COLUMN) if c in schema.names]
    if taken:
        raise fail(f"{in_path} already has a {', '.join(taken)} column", f"drop or rename {', '.join(taken)} first")
    tolerance = city_config().snap_tolerance_m if snap_tolerance is None else snap_tolerance

    out_schema = schema.append(pa.field(GRID_COLUMN, pa.string())).append(pa.field(KIND_COLUMN, pa.string())) \
        .append(pa.field(SNAP_COLUMN, pa.float64()))
    tmp = out.with_name(f".{out.name}.partial")
    make_parent(out)
    rows = matched = snapped = 0
    try:
        with database() as (engine, _), Session(engine) as session:
            gid = resolve_generation(session, generation=generation)
            with console.status(f"building the grid lookup for generation {gid}..."):
                try:
                    matcher = GridMatcher.from_session(session, generation=gid)
                except ValueError as exc:
                    raise fail(str(exc), "load boundaries first: `gridmap demo load`") from None
            # Points no grid covers: the nearest grid from PostGIS, unless too far out to snap.
            fallback = near_fallback(matcher, database_fallback(session, generation=gid, snap_tolerance_m=tolerance),
                                     generation=gid, snap_tolerance_m=tolerance)
            with progress() as bar, pq.ParquetWriter(tmp, out_schema) as writer:
                task = bar.add_task(f"matching (generation {gid})", total=total)
                for batch in batches:
                    if geometry is not None:
                        lon, lat = _point_coords(batch, geometry[0], transformer)
                    else:
                        lon, lat = _coords(batch, "lon"), _coords(batch, "lat")
                    m = match_points(matcher, lon, lat, fallback=fallback)
                    session.rollback()  # read-only: no snapshot held across batches
                    writer.write_batch(pa.RecordBatch.from_arrays([
                        *batch.columns, pa.array(m.codes, type=pa.string()), pa.array(m.kinds, type=pa.string()),
                        pa.array(m.snap_distances, type=pa.float64()),
                    ], schema=out_schema))
                    rows += batch.num_rows
                    matched += int((m.kinds != MatchKind.unassigned.value).sum())
                    snapped += int((m.kinds == MatchKind.snapped.value).sum())
                    bar.update(task, advance=batch.num_rows)
        os.replace(tmp, out)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
        raise fail(
            f"cannot process {in_path}: {str(exc).strip().splitlines()[0]}",
            "lon and lat must be numeric columns of WGS-84 degrees, or the geometry a column of points",
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    console.print(
        f"matched {matched:,} of {rows:,} points to grids of generation {gid} "
        f"({snapped:,} snapped within {tolerance:g} m, {rows - matched:,} unassigned); wrote {out}"
    )
