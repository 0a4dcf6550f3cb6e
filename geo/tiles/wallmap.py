"""What the command centre needs when it draws the areas from vector tiles: how many grids
the generation has (the switch), and each level's open counts for its legend, without a
single geometry."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from geo.analytics.mapdata import area_codes, open_counts
from geo.boundaries.hierarchy import BELOW_CITY, AreaLevel


def grid_count(session: Session, *, generation: int) -> int:
    """The number of grids valid in ``generation`` (cached per generation until its areas change)."""
    return len(area_codes(session, generation=generation, level=AreaLevel.grid))


def level_open_counts(session: Session, *, generation: int, now: datetime,
                      public: bool = True) -> dict[str, tuple[list[int], int]]:
    """level -> (open cases of each area of the level in ``generation``, total overdue) as of
    ``now``, for every level below the city; ``public`` as in geo.analytics.mapdata.open_counts."""
    counts = open_counts(session, levels=list(BELOW_CITY), now=now, public=public)
    out = {}
    for level in BELOW_CITY:
        per = counts[level.value]
        rows = [per.get(code, (0, 0)) for code in area_codes(session, generation=generation, level=level)]
        out[level.value] = ([o for o, _ in rows], sum(d for _, d in rows))
    return out
