"""Reading a file of reports for ``gridmap reports import`` in slices, memory flat in its size.

CSV through pyarrow's streaming reader (every column as text, the empty and NA spellings
pandas treats as missing), (Geo)Parquet by row groups, GeoJSON/GPKG through pyogrio's Arrow
stream. Each slice is a list of row dicts with ``lon``/``lat`` (a geometry becomes its x/y)
and the crs the file's coordinates are in. ``row_input`` turns a row into a ``ReportInput``
with the id it is stored under: its own, or one derived from the file's content and the
row's position, so the same file imported twice stores nothing the second time.
"""

from __future__ import annotations

import csv
import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from geo.models import ReportSource
from geo.reports.intake import ReportInput

# Ids of rows without one: uuid5(IMPORT_NAMESPACE, "<sha256 of the file>:<row index>").
IMPORT_NAMESPACE = uuid.UUID("1d9c7a58-6a0e-4a53-8f0b-9d3f0e2b4c61")
REQUIRED = frozenset({"category", "reported_at", "lon", "lat"})
_BLOCK_BYTES = 4 << 20  # a CSV slice: ~4 MB of text (≈ 40,000 rows of a hotline export)
_ROWS = 40_000  # a Parquet / GeoJSON slice


@dataclass
class Slice:
    """Rows ``start`` … ``start + len(rows) - 1`` of the file (0-based), in file order."""

    start: int
    rows: list[dict]
    columns: list[str]


class ImportFileError(Exception):
    """The file cannot be read as reports (the message says why)."""


class MissingColumns(ImportFileError):
    """The file lacks required columns (the message names them)."""


def file_digest(path: Path) -> str:
    """sha256 (hex) of the file's bytes, read in blocks (a multi-GB file is never held)."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def open_slices(path: Path, *, crs: str | None) -> tuple[str, int | None, Iterator[Slice]]:
    """The crs of the file's coordinates (``crs`` if given, else the file's own, else wgs84),
    how many rows it has (None for a CSV: known only once read) and its rows in slices. Raises ImportFileError when the file cannot be opened or lacks
    the required columns; a slice that cannot be parsed raises it while iterating."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            columns, it = _csv(path)
            file_crs, total = None, None
        elif suffix == ".parquet":
            columns, file_crs, total, it = _parquet(path)
        else:
            columns, file_crs, total, it = _ogr(path)
    except ImportFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader error means the same to the user
        raise ImportFileError(str(exc)) from exc
    missing = REQUIRED - set(columns)
    if missing:
        raise MissingColumns(f"lacks column(s) {', '.join(sorted(missing))}")
    return crs or file_crs or "wgs84", total, _guarded(it)


def _guarded(it: Iterator[Slice]) -> Iterator[Slice]:
    try:
        yield from it
    except Exception as exc:  # noqa: BLE001
        raise ImportFileError(str(exc)) from exc


def _csv(path: Path) -> tuple[list[str], Iterator[Slice]]:
    import pyarrow as pa
    import pyarrow.csv as pcsv
    from pandas._libs.parsers import STR_NA_VALUES  # what pandas reads as missing (the old reader)

    with path.open(encoding="utf-8", newline="") as f:
        header = next(csv.reader(f), [])
    if not header:
        raise ImportFileError("is empty")
    reader = pcsv.open_csv(
        path, read_options=pcsv.ReadOptions(block_size=_BLOCK_BYTES),
        parse_options=pcsv.ParseOptions(newlines_in_values=True),
        convert_options=pcsv.ConvertOptions(column_types={c: pa.string() for c in header},
                                            null_values=sorted(STR_NA_VALUES), strings_can_be_null=True))
    columns = reader.schema.names

    def slices() -> Iterator[Slice]:
        start = 0
        for batch in reader:
            rows = batch.to_pylist()
            yield Slice(start, rows, columns)
            start += len(rows)

    return columns, slices()


def _epsg_name(epsg: int | None) -> str:
    return "wgs84" if epsg in (None, 4326) else f"EPSG:{epsg}"


def _with_points(rows: list[dict], wkb: list, geometry: str) -> list[dict]:
    import shapely

    geoms = shapely.from_wkb(wkb)
    xs, ys = shapely.get_x(geoms).tolist(), shapely.get_y(geoms).tolist()
    for row, x, y in zip(rows, xs, ys):
        row.pop(geometry, None)
        row["lon"], row["lat"] = x, y
    return rows


def _parquet(path: Path) -> tuple[list[str], str | None, int, Iterator[Slice]]:
    import pyarrow.parquet as pq
    from pyproj import CRS

    pf = pq.ParquetFile(path)
    meta = (pf.schema_arrow.metadata or {}).get(b"geo")
    names = pf.schema_arrow.names
    if meta is None:
        geometry, file_crs, columns = None, None, names
    else:
        geo = json.loads(meta)
        geometry = geo["primary_column"]
        given = geo["columns"][geometry].get("crs")
        file_crs = _epsg_name(CRS.from_user_input(given).to_epsg() if given else None)
        columns = [c for c in names if c != geometry] + ["lon", "lat"]

    def slices() -> Iterator[Slice]:
        start = 0
        for batch in pf.iter_batches(batch_size=_ROWS):
            rows = batch.to_pylist()
            if geometry is not None:
                rows = _with_points(rows, batch.column(geometry).to_pylist(), geometry)
            yield Slice(start, rows, columns)
            start += len(rows)

    return columns, file_crs, pf.metadata.num_rows, slices()


def _ogr(path: Path) -> tuple[list[str], str | None, int | None, Iterator[Slice]]:
    import pyogrio
    from pyproj import CRS

    info = pyogrio.read_info(path)
    file_crs = _epsg_name(CRS.from_user_input(info["crs"]).to_epsg() if info.get("crs") else None)
    columns = [*info["fields"].tolist(), "lon", "lat"]

    def slices() -> Iterator[Slice]:
        start = 0
        with pyogrio.open_arrow(path, batch_size=_ROWS, use_pyarrow=True) as (meta, reader):
            geometry = meta.get("geometry_name") or next(
                (f.name for f in reader.schema if (f.metadata or {}).get(b"ARROW:extension:name") == b"geoarrow.wkb"),
                "wkb_geometry")
            for batch in reader:
                rows = _with_points(batch.to_pylist(), batch.column(geometry).to_pylist(), geometry)
                yield Slice(start, rows, columns)
                start += len(rows)

    features = info.get("features")
    return columns, file_crs, features if features is not None and features >= 0 else None, slices()


def csv_line_starts(path: Path) -> Iterator[int]:
    """The line each record of a CSV starts on (the header is line 1), after the header, as
    the reader counts records: a quoted field may span lines, blank lines hold no record."""
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        previous, header = 0, True
        for record in reader:
            if record:
                if not header:
                    yield previous + 1
                header = False
            previous = reader.line_num


def _text(row: dict, key: str) -> str | None:
    value = row.get(key)
    return None if value is None or value != value else str(value)


def _number(value) -> float:
    # A missing coordinate is NaN: the input rule then names it ("must be a finite number").
    return float("nan") if value is None else float(value)


def row_id(row: dict, *, index: int, digest: str) -> uuid.UUID:
    """The row's own id, or the content-derived one. Raises ValueError for a bad id."""
    given = row.get("id")
    if given is None or given != given or given == "":
        return uuid.uuid5(IMPORT_NAMESPACE, f"{digest}:{index}")
    try:
        return uuid.UUID(str(given))
    except ValueError:
        raise ValueError(f"id: {given!r} is not a UUID") from None


def row_input(row: dict, *, crs: str, source: str, rid: uuid.UUID) -> ReportInput:
    """The row as a report in ``crs`` unless it names its own. Raises KeyError, TypeError or
    ValueError for a row that cannot be read (a bad time, source or number)."""
    return ReportInput(
        id=rid, category=str(row["category"]).zfill(2), subcategory=_text(row, "subcategory"),
        description=_text(row, "description") or "", source=ReportSource(_text(row, "source") or source),
        x=_number(row["lon"]), y=_number(row["lat"]), crs=_text(row, "crs") or crs,
        reported_at=datetime.fromisoformat(str(row["reported_at"])),
        reporter_name=_text(row, "reporter_name"), reporter_phone=_text(row, "reporter_phone"),
    )
