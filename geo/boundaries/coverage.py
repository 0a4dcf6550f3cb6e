"""Boundary levels as true coverages at the precision they are published (pure, no database).

A level (all grids, all communities, …) is stored as a *coverage*: polygons that share
vertices exactly along every common edge, with no overlaps and no gaps, every coordinate on
the fixed precision grid of ``PRECISION_DEG`` (1e-7°, about 1 cm). The API publishes
coordinates with ``DECIMALS`` (7) decimals, so what a client downloads *is* what is stored,
and a client matching a point with covers + smallest code gets the same grid as ``/locate``,
on shared edges and vertices too.

Tolerances (degrees; at Panjin's latitude 1e-7° ≈ 1.1 cm north–south, 0.84 cm east–west):

- ``SNAP_DEG`` 5e-7° (≈ 5 cm): vertices closer than this are drawing noise and merge.
- ``GAP_WIDTH_DEG`` 2e-6° (≈ 0.2 m): gaps narrower than this are closed silently.
- ``NOISE_M2`` 1 m² and ``NOISE_WIDTH_M`` 0.2 m: an overlap or gap larger than 1 m² *and*
  wider than 0.2 m on average (2·area / perimeter) is a planner's mistake, reported, never
  cleaned away silently; a thinner sliver is drawing noise (5 cm of snapping along a 500 m
  edge is 25 m², 5 cm wide).

Coordinates are WGS-84 lon/lat (EPSG:4326).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import MultiPolygon

from geo.units import M_PER_DEG_LAT, M_PER_DEG_LON_EQ

PRECISION_DEG = 1e-7
DECIMALS = 7
SCALE = 10**DECIMALS  # k / SCALE is the double nearest the decimal k·1e-7: what parsing "…" yields
SNAP_DEG = 5e-7
GAP_WIDTH_DEG = 2e-6
NOISE_M2 = 1.0
NOISE_WIDTH_M = 0.2


class CoverageError(ValueError):
    """A set of polygons could not be made a valid coverage (reported with what failed)."""


def to_precision(geoms):
    """``geoms`` (a geometry or an array) with every coordinate rounded to ``PRECISION_DEG``.

    Rounds as ``rint(x·1e7) / 1e7``: that quotient is the double a JSON parser reads back
    from the 7-decimal text, so the stored and the published coordinates are bit-identical.
    (``shapely.set_precision`` is not used: it keeps a precision model on the geometry and
    then skips re-rounding.)
    """
    return shapely.transform(geoms, lambda xy: np.rint(xy * SCALE) / SCALE)


def as_multipolygon(geom) -> MultiPolygon:
    """The polygonal parts of ``geom`` (any geometry) as one MultiPolygon."""
    kind = shapely.get_type_id(geom)
    if kind == 6:  # already one
        return geom
    if kind == 3 and not geom.is_empty:
        return shapely.multipolygons([geom])
    polys: list = []
    for part in shapely.get_parts(geom):
        if part.geom_type == "Polygon" and not part.is_empty:
            polys.append(part)
        elif part.geom_type in ("MultiPolygon", "GeometryCollection"):
            polys.extend(as_multipolygon(part).geoms)
    return MultiPolygon(polys)


def planar_m2(geoms) -> np.ndarray:
    """Area in m² of lon/lat polygons, scaled at each one's own latitude (planar: slivers
    along shared edges must not pick up the bow of geodesic edges)."""
    geoms = np.asarray(geoms, dtype=object)
    out = np.zeros(len(geoms))
    live = ~shapely.is_empty(geoms)
    if live.any():
        lat = shapely.get_coordinates(shapely.point_on_surface(geoms[live]))[:, 1]
        out[live] = shapely.area(geoms[live]) * M_PER_DEG_LAT * M_PER_DEG_LON_EQ * np.cos(np.radians(lat))
    return out


def significant(geoms, *, min_m2: float = NOISE_M2) -> np.ndarray:
    """Per polygon: larger than ``min_m2`` m² and wider on average than ``NOISE_WIDTH_M``."""
    geoms = np.asarray(geoms, dtype=object)
    m2 = planar_m2(geoms)
    out = np.zeros(len(geoms), dtype=bool)
    live = m2 > min_m2
    if live.any():
        lat = shapely.get_coordinates(shapely.point_on_surface(geoms[live]))[:, 1]
        metres_per_deg = np.sqrt(M_PER_DEG_LAT * M_PER_DEG_LON_EQ * np.cos(np.radians(lat)))
        perimeter_m = shapely.length(geoms[live]) * metres_per_deg
        out[live] = 2 * m2[live] / np.maximum(perimeter_m, 1e-9) > NOISE_WIDTH_M
    return out


def is_valid_coverage(geoms) -> bool:
    """True when ``geoms`` is a valid coverage: vertex-exact shared edges, no overlaps, every
    polygon valid (GEOS ``CoverageValidator``, with no gap-width test)."""
    geoms = np.asarray(geoms, dtype=object)
    return bool(shapely.is_valid(geoms).all() and shapely.coverage_is_valid(geoms))


def clean_coverage(geoms) -> tuple[np.ndarray, int]:
    """Make ``geoms`` (polygons meant to tile without gaps or overlaps) a valid coverage at
    ``PRECISION_DEG``: rounded, vertices within ``SNAP_DEG`` merged, every edge noded against
    its neighbours, overlaps given to the neighbour sharing the longest border, gaps narrower
    than ``GAP_WIDTH_DEG`` closed. Larger overlaps and gaps must be found before
    (``overlaps``, ``gaps``); this merges them silently.

    Returns (MultiPolygons in input order, how many of them changed beyond rounding).
    Raises CoverageError when a polygon vanishes or the result is still not valid.
    """
    src = to_precision(np.asarray(geoms, dtype=object))
    if is_valid_coverage(src):
        return np.array([as_multipolygon(g) for g in src], dtype=object), 0
    out = src
    for snap in (SNAP_DEG, 2 * SNAP_DEG):
        out = to_precision(shapely.coverage_clean(shapely.make_valid(src), gap_width=GAP_WIDTH_DEG,
                                                  snapping_distance=snap))
        if is_valid_coverage(out):
            break
    else:
        raise CoverageError("the polygons could not be noded into a valid coverage")
    empty = np.flatnonzero(shapely.is_empty(out))
    if len(empty):
        raise CoverageError(f"{len(empty)} polygon(s) vanished while cleaning (first index {empty[0]})")
    out = np.array([as_multipolygon(g) for g in out], dtype=object)
    before = np.array([as_multipolygon(g) for g in src], dtype=object)
    changed = int((~shapely.equals_exact(shapely.normalize(out), shapely.normalize(before), 0)).sum())
    return out, changed


def union_coverage(geoms, *, valid: bool | None = None):
    """The union of polygons meant to be a coverage: GEOS's coverage union when they are one
    (fast, and it keeps the children's vertices, so the parent level is vertex-exact with its
    neighbours), else the overlay union on the precision grid (a broken drawing's parent).
    ``valid``: already known (a subset of a valid coverage is one); None: tested here."""
    geoms = np.asarray(geoms, dtype=object)
    if valid if valid is not None else is_valid_coverage(geoms):
        return as_multipolygon(shapely.coverage_union_all(geoms))
    merged = shapely.union_all(geoms, grid_size=PRECISION_DEG)
    return as_multipolygon(shapely.make_valid(to_precision(merged)))


@dataclass(frozen=True)
class Overlap:
    a: int  # indexes into the input
    b: int
    m2: float
    where: object  # the overlapping region (lon/lat polygon)


def overlaps(geoms, *, min_m2: float = NOISE_M2) -> list[Overlap]:
    """Pairs of polygons whose interiors overlap by more than noise (``significant``)."""
    geoms = np.asarray(geoms, dtype=object)
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    if not len(left):
        return []
    inter = shapely.intersection(geoms[left], geoms[right])
    some = shapely.area(inter) > 0  # neighbours meet in lines: only true overlaps have area
    left, right = left[some], right[some]
    inter = np.array([as_multipolygon(g) for g in inter[some]], dtype=object)
    if not len(inter):
        return []
    keep = significant(inter, min_m2=min_m2)
    m2 = planar_m2(inter)
    return [Overlap(int(a), int(b), float(m), g) for a, b, m, g, k in zip(left, right, m2, inter, keep) if k]


def gaps(geoms, frame, *, min_m2: float = NOISE_M2) -> list:
    """The parts of ``frame`` (the parent's polygon) that no polygon of ``geoms`` covers and
    that are more than noise (``significant``)."""
    rest = shapely.difference(frame, union_coverage(geoms))
    if shapely.area(rest) == 0:
        return []
    parts = shapely.get_parts(as_multipolygon(rest))
    return list(parts[significant(parts, min_m2=min_m2)]) if len(parts) else []


def outside_all(geoms, frames, *, min_m2: float = NOISE_M2) -> list:
    """For pairs (child, its parent) given as two arrays: the parts of each child outside its
    parent that are more than noise (``significant``), as one MultiPolygon, else None."""
    rest = shapely.difference(np.asarray(geoms, dtype=object), np.asarray(frames, dtype=object))
    some = np.flatnonzero(shapely.area(rest) > 0)
    out: list = [None] * len(rest)
    for i in some:
        parts = shapely.get_parts(as_multipolygon(rest[i]))
        keep = parts[significant(parts, min_m2=min_m2)]
        if len(keep):
            out[i] = as_multipolygon(shapely.union_all(keep))
    return out


def unmatched_edges(geoms) -> np.ndarray:
    """Per polygon, the edges that do not match a neighbour's (T-junctions, slivers), as
    linework; empty where the polygon's edges are all vertex-exact."""
    return shapely.coverage_invalid_edges(to_precision(np.asarray(geoms, dtype=object)))
