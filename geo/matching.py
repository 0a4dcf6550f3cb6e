"""Matching one report location to its grid, with snapping for points just outside the city.

Never drops a point: it is ``inside`` one grid, on an ``edge`` (smallest code won), ``snapped``
to the nearest grid within the tolerance, or ``unassigned`` (queued for the command centre).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from geo.locate import covering_grids, nearest_grid
from geo.models import MatchKind


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
