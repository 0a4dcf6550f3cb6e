"""Areas as a GeoDataFrame, for file export (GeoJSON, GeoPackage via pyogrio)."""

from __future__ import annotations

import geopandas as gpd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.boundaries.generations import valid_in
from geo.models import Area, AreaLevel


def read_areas_frame(session: Session, *, generation: int, level: AreaLevel) -> gpd.GeoDataFrame:
    """Areas of ``level`` valid in ``generation`` with their attributes; EPSG:4326, ordered by code."""
    query = (
        sa.select(
            Area.code, Area.name, Area.level, Area.kind, Area.parent_code, Area.households,
            Area.population, Area.geom,
        )
        .where(Area.level == level, valid_in(Area, generation))
        .order_by(Area.code)
    )
    frame = gpd.read_postgis(query, session.connection(), geom_col="geom", crs="EPSG:4326")
    frame["generation"] = generation
    for col in ("level", "kind"):
        frame[col] = frame[col].map(lambda v: getattr(v, "value", v))
    return frame.rename_geometry("geometry")
