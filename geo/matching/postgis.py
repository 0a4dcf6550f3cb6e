"""The point → grid rule spelled in PostGIS: the fallback of ``geo.matching.rule`` for the few
points the in-memory matcher finds no grid for (nearest grid, snapping), and the
set-based reference the matcher is tested and benchmarked against.

A point belongs to the grid whose polygon *covers* it (boundary included). When several grids
cover it (a shared edge or vertex), the grid with the smallest code wins, so there is always
exactly one answer. Coordinates are WGS-84 lon/lat degrees (EPSG:4326).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
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
    return nearest_grids(session, lon=[lon], lat=[lat], generation=generation)[0]


def nearest_grids(session: Session, *, lon: Sequence[float], lat: Sequence[float],
                  generation: int) -> list[tuple[str, float] | None]:
    """Per point: the nearest grid valid in ``generation`` and its geodesic distance in metres
    (None if there are no grids), in one statement however many points."""
    if len(lon) == 0:
        return []
    pts = (sa.func.unnest(sa.cast(sa.bindparam("lons", list(map(float, lon))), ARRAY(sa.Float(53))),
                          sa.cast(sa.bindparam("lats", list(map(float, lat))), ARRAY(sa.Float(53))))
           .table_valued("lon", "lat", with_ordinality="k").render_derived(name="pts"))
    pt = point(pts.c.lon, pts.c.lat)
    # KNN on planar degrees picks candidates; the geodesic distance decides among them.
    knn = (
        sa.select(AreaPiece.code, AreaPiece.geom)
        .where(AreaPiece.level == AreaLevel.grid, valid_in(AreaPiece, generation))
        .order_by(AreaPiece.geom.op("<->")(pt))
        .limit(_NEAREST_CANDIDATES)
        .lateral("knn")
    )
    dist = sa.func.ST_Distance(sa.cast(knn.c.geom, GEOGRAPHY), sa.cast(pt, GEOGRAPHY))
    best = sa.select(knn.c.code, dist.label("distance_m")).order_by(dist, knn.c.code).limit(1).lateral("best")
    rows = session.execute(sa.select(pts.c.k, best.c.code, best.c.distance_m).select_from(pts.join(best, sa.true())))
    out: list[tuple[str, float] | None] = [None] * len(lon)
    for k, code, metres in rows:
        out[k - 1] = (code, float(metres))
    return out


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
