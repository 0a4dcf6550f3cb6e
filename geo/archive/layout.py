"""Where and how the reports archive is laid out on disk: GeoParquet, one directory a month.

``DIR/reports/month=YYYY-MM/part-0.parquet`` (hive-style; the month of ``reported_at`` in
the city's time zone) holds that month's reports, one row each, geometry = the WGS-84 point
(EPSG:4326). ``DIR/archive.json`` holds the format, the city's time zone and the change
watermark (``reports.change_seq``) the archive is complete up to. A month is always written
whole, to a temporary file renamed into place, so a reader sees the old month or the new
one, never half of either.

No personal data is archived (reporter name, phone, description, photos); exact locations
are, because the batch jobs match them: an archive is staff data, like the database.
Pure: no database access here (``geo.archive.writer`` reads the database).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd

FORMAT = 1
REPORTS = "reports"
META = "archive.json"
PART = "part-0.parquet"
_MONTH = re.compile(r"^month=(\d{4}-\d{2})$")

# Column name -> pandas dtype, in file order (the geometry column comes last).
COLUMNS: dict[str, str] = {
    "id": "string",
    "category": "string",
    "subcategory": "string",
    "source": "string",
    "status": "string",
    "reported_at": "datetime64[us, UTC]",
    "resolved_at": "datetime64[us, UTC]",
    "closed_at": "datetime64[us, UTC]",
    "grid_code": "string",
    "generation_id": "Int32",
    "match_kind": "string",
    "h3_cell": "int64",
    "public_cell": "Int64",  # set for sensitive cases (geo.access.privacy)
    "change_seq": "int64",
}
GEOMETRY = "geometry"


@dataclass
class ArchiveMeta:
    """``archive.json``: ``watermark`` is the highest ``reports.change_seq`` every change up
    to which is in the files (0: nothing archived yet); ``months``: rows per month written;
    ``city``: the city's name (CityConfig.name); ``source``: which database and which
    sequence of change numbers the watermark counts in (geo.archive.writer.source_of; ""
    unknown, in archives written before these were kept)."""

    timezone: str
    watermark: int = 0
    format: int = FORMAT
    months: dict[str, int] = field(default_factory=dict)
    city: str = ""
    source: str = ""


def read_meta(root: Path) -> ArchiveMeta | None:
    """The archive's metadata, or None when ``root`` holds no archive yet.

    Raises ValueError for an archive of another format."""
    path = Path(root) / META
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != FORMAT:
        raise ValueError(f"{path}: archive format {data.get('format')!r}, this gridmap reads {FORMAT}")
    return ArchiveMeta(**data)


def write_meta(root: Path, meta: ArchiveMeta) -> None:
    """Write ``archive.json`` atomically (after the months it describes)."""
    path = Path(root) / META
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(asdict(meta), indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def month_dir(root: Path, month: str) -> Path:
    """The directory of one month (``YYYY-MM``)."""
    return Path(root) / REPORTS / f"month={month}"


def months(root: Path) -> list[str]:
    """The months present in the archive, ascending."""
    base = Path(root) / REPORTS
    if not base.exists():
        return []
    return sorted(m.group(1) for p in base.iterdir() if p.is_dir() and (m := _MONTH.match(p.name)))


def conform(frame: pd.DataFrame) -> gpd.GeoDataFrame:
    """``frame`` (the COLUMNS plus a geometry column or lon/lat columns) in the archive's
    column order and types, as a GeoDataFrame in EPSG:4326."""
    if GEOMETRY not in frame:
        geom = gpd.points_from_xy(frame["lon"], frame["lat"], crs="EPSG:4326")
    else:
        geom = frame[GEOMETRY]
    out = pd.DataFrame({name: frame[name].astype(dtype) if name in frame else pd.Series(pd.NA, index=frame.index, dtype=dtype)
                        for name, dtype in COLUMNS.items()}, index=frame.index)
    return gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(geom, index=frame.index, crs="EPSG:4326"))


def write_month(root: Path, month: str, frame: pd.DataFrame) -> int:
    """Replace one month with ``frame`` (see ``conform``); an empty frame removes the month.
    Returns the rows written."""
    target = month_dir(root, month)
    path = target / PART
    if frame.empty:
        if path.exists():
            path.unlink()
            target.rmdir()
        return 0
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / (PART + ".tmp")
    conform(frame).reset_index(drop=True).to_parquet(tmp, index=False, compression="zstd",
                                                     schema_version="1.0.0", write_covering_bbox=False)
    os.replace(tmp, path)
    return len(frame)


def read_month(root: Path, month: str) -> gpd.GeoDataFrame:
    """One month of the archive (empty frame with the archive's columns when absent)."""
    path = month_dir(root, month) / PART
    if not path.exists():
        return conform(pd.DataFrame({"lon": [], "lat": []}))
    return gpd.read_parquet(path)


def month_paths(root: Path) -> list[Path]:
    """The part file of every month, in month order (what the batch engine reads)."""
    return [month_dir(root, m) / PART for m in months(root)]
