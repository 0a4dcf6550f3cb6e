"""Point → grid: the territorial-responsibility rule.

A point belongs to the grid whose polygon *covers* it (boundary included). When several grids
cover it (a shared edge or vertex), the grid with the smallest code wins, so there is always
exactly one answer. Coordinates are WGS-84 lon/lat degrees (EPSG:4326).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.boundaries.generations import resolve_generation, valid_in
from geo.errors import OutsideJurisdiction
from geo.models import Area, AreaLevel, AreaPiece
from geo.spatial import GEOGRAPHY, point

# The pieces are only a prefilter: ST_Subdivide adds rounded vertices where it cuts an edge,
# so the exact covers test runs on the original polygon. 1e-9° (~0.1 mm) of slack makes sure
# a point on a cut edge still reaches its candidates.
_PREFILTER_DEG = 1e-9
_NEAREST_CANDIDATES = 16


@dataclass(frozen=True, slots=True)
class Match:
    grid_code: str
    generation: int
    covering_codes: tuple[str, ...]

    @property
    def kind(self) -> str:
        """``inside`` for one covering grid, ``edge`` when the smallest-code rule decided."""
        return "inside" if len(self.covering_codes) == 1 else "edge"


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


def locate(session: Session, *, lon: float, lat: float, generation: int | None = None) -> Match:
    """The one grid responsible for (lon, lat) in ``generation`` (default: the active one).

    Raises OutsideJurisdiction (details: ``nearest_grid``, ``distance_m``) when no grid covers
    the point, GenerationNotFound / NoActiveGeneration for a bad generation.
    """
    gid = resolve_generation(session, generation=generation)
    codes = covering_grids(session, lon=lon, lat=lat, generation=gid)
    if codes:
        return Match(grid_code=codes[0], generation=gid, covering_codes=tuple(codes))
    nearest = nearest_grid(session, lon=lon, lat=lat, generation=gid)
    details: dict[str, object] = {"generation": gid}
    if nearest is not None:
        details.update(nearest_grid=nearest[0], distance_m=round(nearest[1], 1))
    raise OutsideJurisdiction("no grid covers this point: it is outside the jurisdiction", **details)


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
