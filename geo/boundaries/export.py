"""Areas of one level as a GeoDataFrame: what the planners' workflow reads (``level_frame``)
and what file export writes (``read_areas_frame``)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.boundaries.generations import valid_in
from geo.models import Area, AreaLevel

COLUMNS = ("code", "level", "name", "kind", "parent_code", "households", "population", "estimated")
EXPORTED = ("code", "name", "level", "kind", "parent_code", "households", "population")


def level_frame(session: Session, *, generation: int, level: AreaLevel) -> gpd.GeoDataFrame:
    """Areas of ``level`` valid in ``generation``: ``id``, ``generation_low``, ``COLUMNS`` and
    their geometry (EPSG:4326), ordered by code."""
    rows = session.execute(
        sa.select(Area.id, Area.generation_low, *(getattr(Area, c) for c in COLUMNS), sa.func.ST_AsBinary(Area.geom))
        .where(Area.level == level, valid_in(Area, generation)).order_by(Area.code)
    ).all()
    cols = ["id", "generation_low", *COLUMNS]
    data = {c: [getattr(r[i], "value", r[i]) for r in rows] for i, c in enumerate(cols)}
    geoms = shapely.from_wkb([bytes(r[-1]) for r in rows]) if rows else np.array([], dtype=object)
    return gpd.GeoDataFrame(data, geometry=list(geoms), crs=4326)


def read_areas_frame(session: Session, *, generation: int, level: AreaLevel) -> gpd.GeoDataFrame:
    """Areas of ``level`` valid in ``generation`` with the attributes a file carries
    (``EXPORTED``) and ``generation``; EPSG:4326, ordered by code."""
    frame = level_frame(session, generation=generation, level=level)[[*EXPORTED, "geometry"]]
    frame["generation"] = generation
    return frame
