"""Reports placed by hand for the tile tests (tiny city, tests/tiny_city.py), and decoding."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import mapbox_vector_tile

from geo.access.privacy import public_cells
from geo.matching.cells import cell_of_point
from geo.models import Report, ReportSource, ReportStatus
from geo.tiles.addressing import EXTENT, TileAddress


def add_report(db, *, lon: float, lat: float, grid: str | None, generation: int | None, category: str = "30",
               status: ReportStatus = ReportStatus.registered, due_at: datetime | None = None,
               reported_at: datetime | None = None) -> Report:
    """A report stored as intake would store it (cell, public cell), without the intake path."""
    r = Report(
        id=uuid.uuid4(), category=category, source=ReportSource.citizen, description="",
        location=f"SRID=4326;POINT({lon} {lat})", h3_cell=cell_of_point(lon, lat),
        public_cell=public_cells([lon], [lat], [category])[0],
        reported_at=reported_at or datetime.now(UTC) - timedelta(hours=1), status=status,
        grid_code=grid, generation_id=generation if grid else None, due_at=due_at,
    )
    db.add(r)
    db.flush()
    return r


def decode(body: bytes) -> dict:
    """layer -> {"features": [...]} with raw tile coordinates (y down, 0..EXTENT)."""
    return mapbox_vector_tile.decode(body, default_options={"y_coord_down": True}) if body else {}


def by_code(body: bytes, layer: str) -> dict[str, dict]:
    """code -> properties of the features of ``layer``."""
    return {f["properties"]["code"]: f["properties"] for f in decode(body).get(layer, {}).get("features", [])}


def tile_pixel(tile: TileAddress, lon: float, lat: float) -> tuple[float, float]:
    """Where (lon, lat) falls in ``tile``'s coordinates (0..EXTENT, y down)."""
    import math

    n = 1 << tile.z
    fx = (lon + 180.0) / 360.0 * n
    fy = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return (fx - tile.x) * EXTENT, (fy - tile.y) * EXTENT
