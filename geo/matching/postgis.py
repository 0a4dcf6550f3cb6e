"""The point → grid rule spelled in PostGIS: the fallback of ``geo.matching.rule`` for the few
points the in-memory matcher finds no grid for (nearest grid, snapping), and the
set-based reference the matcher is tested and benchmarked against.

A point belongs to the grid whose polygon *covers* it (boundary included). When several grids
cover it (a shared edge or vertex), the grid with the smallest code wins, so there is always
exactly one answer. Coordinates are WGS-84 lon/lat degrees (EPSG:4326).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.boundaries.generations import valid_in
from geo.models import Area, AreaLevel, AreaPiece
from geo.spatial import GEOGRAPHY, point

# The pieces are only a prefilter: ST_Subdivide adds rounded vertices where it cuts an edge,
# so the exact covers test runs on the original polygon. 1e-9° (~0.1 mm) of slack makes sure
# a point on a cut edge still reaches its candidates.
_PREFILTER_DEG = 1e-9
_NEAREST_CANDIDATES = 16


def covering_grids(session: Session, *, lon: float, lat: float, generation: int) -> list[str]:
    """Codes of every grid valid in ``generation`` whose polygon covers the point, ascending."""
    pt = point(lon, lat)
    candidates = sa.select(AreaPiece.area_id).where(
        AreaPiece.level == AreaLevel.grid,
        valid_in(AreaPiece, generation),
        sa.func.ST_DWithin(AreaPiece.geom, pt, _PREFILTER_DEG),
    )
    return list(
        session.scalars(
            sa.select(Area.code)
            .where(Area.id.in_(candidates), sa.func.ST_Covers(Area.geom, pt))
            .order_by(Area.code)
        )
    )


def nearest_grid(session: Session, *, lon: float, lat: float, generation: int) -> tuple[str, float] | None:
    """The grid nearest to the point and its geodesic distance in metres, or None if no grids."""
    pt = point(lon, lat)
    # KNN on planar degrees picks candidates; the geodesic distance decides among them.
    knn = (
        sa.select(AreaPiece.code, AreaPiece.geom)
        .where(AreaPiece.level == AreaLevel.grid, valid_in(AreaPiece, generation))
        .order_by(AreaPiece.geom.op("<->")(pt))
        .limit(_NEAREST_CANDIDATES)
        .subquery()
    )
    dist = sa.func.ST_Distance(sa.cast(knn.c.geom, GEOGRAPHY), sa.cast(pt, GEOGRAPHY))
    row = session.execute(
        sa.select(knn.c.code, dist.label("distance_m")).order_by(dist, knn.c.code).limit(1)
    ).one_or_none()
    return None if row is None else (row.code, float(row.distance_m))


def smallest_covering_query(points, *, key, lon, lat, generation: int):
    """``SELECT key, min(code of a grid covering (lon, lat)) FROM points GROUP BY key``.

    The locate rule for many points in one statement (NULL where no grid covers a point):
    the reference the in-memory matcher is checked and benchmarked against. ``points`` is
    any selectable; ``key``, ``lon``, ``lat`` are its columns (WGS-84 degrees).
    """
    pt = point(lon, lat)
    return (
        sa.select(key, sa.func.min(Area.code))
        .select_from(points)
        .outerjoin(Area, sa.and_(
            Area.level == AreaLevel.grid, valid_in(Area, generation), sa.func.ST_Covers(Area.geom, pt),
        ))
        .group_by(key)
    )
