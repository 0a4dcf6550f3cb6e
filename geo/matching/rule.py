"""The product's core rule: a report location → its grid, with snapping just outside the city.

Never drops a point: it is ``inside`` one grid, on an ``edge`` (several cover it: the smallest
code won), ``snapped`` to the nearest grid within the tolerance, or ``unassigned`` (queued for
the command centre). ``match_points`` is the rule for many points (intake, batch, import,
rematch); ``match_location`` the same rule for one point in PostGIS, and the fallback
``match_points`` asks for the few points no grid covers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import shapely
from sqlalchemy.orm import Session

from geo.matching.locate import covering_grids, nearest_grid
from geo.models import MatchKind

if TYPE_CHECKING:
    from geo.matching.matcher import GridMatcher


@dataclass(frozen=True, slots=True)
class MatchOutcome:
    kind: MatchKind
    generation: int
    grid_code: str | None = None
    distance_m: float | None = None  # to the grid when snapped, to the nearest grid when unassigned


def match_location(session: Session, *, lon: float, lat: float, generation: int, snap_tolerance_m: float) -> MatchOutcome:
    """Grid for a WGS-84 point in ``generation``: covers + smallest code, else snap, else unassigned."""
    codes = covering_grids(session, lon=lon, lat=lat, generation=generation)
    if codes:
        kind = MatchKind.inside if len(codes) == 1 else MatchKind.edge
        return MatchOutcome(kind=kind, generation=generation, grid_code=codes[0])
    nearest = nearest_grid(session, lon=lon, lat=lat, generation=generation)
    if nearest is not None and nearest[1] <= snap_tolerance_m:
        return MatchOutcome(MatchKind.snapped, generation, nearest[0], round(nearest[1], 2))
    return MatchOutcome(MatchKind.unassigned, generation, None, None if nearest is None else round(nearest[1], 2))


@dataclass(frozen=True, slots=True)
class PointMatches:
    """Per point: ``codes`` (None when unassigned), ``kinds`` (MatchKind values) and
    ``distances`` in metres (to the grid when snapped, to the nearest grid when unassigned)."""

    codes: np.ndarray
    kinds: np.ndarray
    distances: list[float | None]

    @property
    def snap_distances(self) -> list[float | None]:
        """What a report stores as ``snap_distance_m``: the distance of a snapped point only."""
        return [d if k == MatchKind.snapped.value else None for k, d in zip(self.kinds, self.distances)]


Fallback = Callable[[float, float], MatchOutcome]


def database_fallback(session: Session, *, generation: int, snap_tolerance_m: float) -> Fallback:
    """``match_location`` in ``generation`` as the fallback of ``match_points``."""
    return lambda lon, lat: match_location(session, lon=lon, lat=lat, generation=generation,
                                           snap_tolerance_m=snap_tolerance_m)


def match_points(matcher: GridMatcher, lon: np.ndarray, lat: np.ndarray, *, fallback: Fallback) -> PointMatches:
    """Match WGS-84 points (degrees) to the matcher's grids: exactly ``ST_Covers`` + smallest
    code, ``edge`` where more than one grid covers the point; the points no grid covers are
    given to ``fallback`` one by one (snap or unassigned). Vectorised; pure but for the fallback."""
    idx = matcher.match_indices(lon, lat)
    codes = np.where(idx >= 0, matcher.codes[np.maximum(idx, 0)], None)
    kinds = np.where(idx >= 0, MatchKind.inside.value, MatchKind.unassigned.value).astype(object)
    distances: list[float | None] = [None] * len(lon)
    hit = np.flatnonzero(idx >= 0)
    if hit.size:
        # Only a point on its grid's boundary can be covered by another grid too.
        on_edge = hit[shapely.touches(matcher.geoms[idx[hit]], shapely.points(lon[hit], lat[hit]))]
        if on_edge.size:
            pt_i, _ = matcher.tree.query(shapely.points(lon[on_edge], lat[on_edge]), predicate="intersects")
            counts = np.bincount(pt_i, minlength=on_edge.size)
            kinds[on_edge[counts > 1]] = MatchKind.edge.value
    for k in np.flatnonzero(idx < 0):
        outcome = fallback(float(lon[k]), float(lat[k]))
        codes[k], kinds[k], distances[k] = outcome.grid_code, outcome.kind.value, outcome.distance_m
    return PointMatches(codes, kinds, distances)
