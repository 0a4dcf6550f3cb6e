"""The product's core rule: a report location → its grid, with snapping just outside the city.

A point belongs to the grid whose polygon covers it (boundary included); on a shared edge or
vertex the smallest code wins. Never drops a point: it is ``inside`` one grid, on an ``edge``
(several cover it), ``snapped`` to the nearest grid within the tolerance, or ``unassigned``
(queued for the command centre). Coordinates are WGS-84 lon/lat degrees (EPSG:4326).

``match_points`` is the rule for many points, given an in-memory ``GridMatcher``; the few
points no grid covers go to a fallback passed in explicitly (``database_fallback``: the same
rule in PostGIS, which finds the nearest grid). ``match_point`` and ``locate`` are the rule
for one point. Intake, batch, import, rematch, locate, dispatch and ``gridmap match`` all
call these; nothing else decides which grid a point is in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import shapely
from sqlalchemy.orm import Session

from geo.boundaries.cache import Fingerprint, generation_fingerprint
from geo.errors import OutsideJurisdiction
from geo.matching.matcher import GridMatcher
from geo.matching.postgis import covering_grids, nearest_grid, nearest_grids
from geo.models import MatchKind
from geo.units import M_PER_DEG_LAT, M_PER_DEG_LON_EQ


@dataclass(frozen=True, slots=True)
class MatchOutcome:
    """One point's match in ``generation``. ``grid_code``: the grid responsible (None when
    unassigned); ``distance_m``: metres to the grid when snapped, to the nearest grid when
    unassigned; ``nearest_code``: the nearest grid when none covers the point;
    ``covering_codes``: every grid covering the point, ascending (more than one: ``edge``)."""

    kind: MatchKind
    generation: int
    grid_code: str | None = None
    distance_m: float | None = None
    nearest_code: str | None = None
    covering_codes: tuple[str, ...] = ()


def match_location(session: Session, *, lon: float, lat: float, generation: int, snap_tolerance_m: float) -> MatchOutcome:
    """The rule for one WGS-84 point in PostGIS: covers + smallest code, else snap to the
    nearest grid within ``snap_tolerance_m`` metres, else unassigned."""
    codes = tuple(covering_grids(session, lon=lon, lat=lat, generation=generation))
    if codes:
        kind = MatchKind.inside if len(codes) == 1 else MatchKind.edge
        return MatchOutcome(kind, generation, codes[0], covering_codes=codes)
    return _snapped(nearest_grid(session, lon=lon, lat=lat, generation=generation), generation, snap_tolerance_m)


def _snapped(nearest: tuple[str, float] | None, generation: int, snap_tolerance_m: float) -> MatchOutcome:
    """A point no grid covers, given its nearest grid and metres to it: snapped to it within
    the tolerance, else unassigned (with the distance to the nearest grid)."""
    if nearest is None:
        return MatchOutcome(MatchKind.unassigned, generation)
    code, distance = nearest[0], round(nearest[1], 2)
    if nearest[1] <= snap_tolerance_m:
        return MatchOutcome(MatchKind.snapped, generation, code, distance, code)
    return MatchOutcome(MatchKind.unassigned, generation, None, distance, code)


@dataclass(frozen=True, slots=True)
class PointMatches:
    """Per point: ``codes`` (None when unassigned), ``kinds`` (MatchKind values) and
    ``distances`` in metres (to the grid when snapped, to the nearest grid when unassigned);
    ``fallbacks``: the fallback's whole answer for each point no grid covered, by position."""

    codes: np.ndarray
    kinds: np.ndarray
    distances: list[float | None]
    fallbacks: dict[int, MatchOutcome]

    @property
    def snap_distances(self) -> list[float | None]:
        """What a report stores as ``snap_distance_m``: the distance of a snapped point only.
        Only the fallback snaps, so only its few answers are looked at (not every point)."""
        out: list[float | None] = [None] * len(self.kinds)
        for k, outcome in self.fallbacks.items():
            if outcome.kind == MatchKind.snapped:
                out[k] = outcome.distance_m
        return out


# Given the points no grid covers (WGS-84 degree arrays), their outcomes in the same order.
Fallback = Callable[[np.ndarray, np.ndarray], list[MatchOutcome]]


def database_fallback(session: Session, *, generation: int, snap_tolerance_m: float) -> Fallback:
    """``match_location`` in ``generation`` as the fallback of ``match_points``, for the points
    the matcher found no grid covering: their nearest grids, in one query for them all."""
    def fallback(lon: np.ndarray, lat: np.ndarray) -> list[MatchOutcome]:
        nearest = nearest_grids(session, lon=lon, lat=lat, generation=generation)
        return [_snapped(n, generation, snap_tolerance_m) for n in nearest]

    return fallback


def near_fallback(matcher: GridMatcher, fallback: Fallback, *, generation: int, snap_tolerance_m: float) -> Fallback:
    """``fallback`` for the points that could snap; a point farther than ``snap_tolerance_m``
    metres outside the box of the matcher's grids is unassigned without asking (its distance
    to the nearest grid is then not measured). For files of points far outside the city."""
    minx, miny, maxx, maxy = shapely.total_bounds(matcher.geoms)
    dlat = snap_tolerance_m / M_PER_DEG_LAT
    # Longitude degrees shrink towards the poles: the margin at the box's widest latitude.
    dlon = snap_tolerance_m / (M_PER_DEG_LON_EQ * max(np.cos(np.radians(max(abs(miny), abs(maxy)) + dlat)), 1e-6))

    def near(lon: np.ndarray, lat: np.ndarray) -> list[MatchOutcome]:
        out = [MatchOutcome(MatchKind.unassigned, generation)] * len(lon)
        inside = (lon >= minx - dlon) & (lon <= maxx + dlon) & (lat >= miny - dlat) & (lat <= maxy + dlat)
        for k, outcome in _ask(fallback, lon, lat, inside):
            out[k] = outcome
        return out

    return near


def _ask(fallback: Fallback, lon: np.ndarray, lat: np.ndarray, where: np.ndarray) -> list[tuple[int, MatchOutcome]]:
    """(position, outcome) for the points ``where`` is True, from one call of ``fallback``."""
    ask = np.flatnonzero(where)
    return list(zip(ask.tolist(), fallback(lon[ask], lat[ask]))) if ask.size else []


def match_points(matcher: GridMatcher, lon: np.ndarray, lat: np.ndarray, *, fallback: Fallback) -> PointMatches:
    """Match WGS-84 points (degrees) to the matcher's grids: exactly ``ST_Covers`` + smallest
    code, ``edge`` where more than one grid covers the point; the points no grid covers are
    given to ``fallback`` together (snap or unassigned); a point without finite coordinates
    (a missing value in a file) is unassigned without asking. Vectorised; pure but for the fallback."""
    idx, near = matcher.match_indices_near(lon, lat)
    miss = idx < 0
    codes = matcher.codes[np.maximum(idx, 0)]
    codes[miss] = None
    kinds = np.full(len(idx), MatchKind.inside.value, dtype=object)
    kinds[miss] = MatchKind.unassigned.value
    distances: list[float | None] = [None] * len(lon)
    # A point in a raster cell no boundary crosses is inside its grid's interior: not an edge.
    hit = np.flatnonzero(~miss & near)
    if hit.size:
        # Only a point on its grid's boundary can be covered by another grid too.
        on_edge = hit[matcher.on_boundary(idx[hit], lon[hit], lat[hit])]
        if on_edge.size:
            pt_i, _ = matcher.tree.query(shapely.points(lon[on_edge], lat[on_edge]), predicate="intersects")
            counts = np.bincount(pt_i, minlength=on_edge.size)
            kinds[on_edge[counts > 1]] = MatchKind.edge.value
    fallbacks = {}
    for k, outcome in _ask(fallback, lon, lat, miss & np.isfinite(lon) & np.isfinite(lat)):
        fallbacks[k] = outcome
        codes[k], kinds[k], distances[k] = outcome.grid_code, outcome.kind.value, outcome.distance_m
    return PointMatches(codes, kinds, distances, fallbacks)


def match_point(matcher: GridMatcher, *, lon: float, lat: float, generation: int, fallback: Fallback) -> MatchOutcome:
    """``match_points`` for one point, with every covering grid listed."""
    m = match_points(matcher, np.array([lon], dtype=float), np.array([lat], dtype=float), fallback=fallback)
    if 0 in m.fallbacks:
        return m.fallbacks[0]
    return MatchOutcome(MatchKind(m.kinds[0]), generation, m.codes[0], covering_codes=matcher.covering_codes(lon, lat))


def locate(session: Session, *, lon: float, lat: float, generation: int | None = None,
           fingerprint: Fingerprint | None = None) -> MatchOutcome:
    """The one grid covering (lon, lat) in ``generation`` (default: the active one), from the
    cached matcher: ``inside`` or ``edge``, no snapping. ``fingerprint``: the generation's,
    already read in this transaction.

    Raises OutsideJurisdiction (details: ``nearest_grid``, ``distance_m``) when no grid covers
    the point, GenerationNotFound / NoActiveGeneration for a bad generation.
    """
    fingerprint = fingerprint or generation_fingerprint(session, generation=generation)
    gid = fingerprint.generation
    matcher = GridMatcher.from_session(session, generation=gid, fingerprint=fingerprint)
    match = match_point(matcher, lon=lon, lat=lat, generation=gid,
                        fallback=database_fallback(session, generation=gid, snap_tolerance_m=0.0))
    if match.kind in (MatchKind.inside, MatchKind.edge):
        return match
    details: dict[str, object] = {"generation": gid}
    if match.nearest_code is not None:
        details.update(nearest_grid=match.nearest_code, distance_m=round(match.distance_m, 1))
    raise OutsideJurisdiction("no grid covers this point: it is outside the jurisdiction", **details)
