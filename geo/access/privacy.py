"""What the public may see of locations, computed one way everywhere.

A sensitive case (disputes, public security, special populations) is shown publicly at the
centre of its cell on a fixed 0.005° lattice (about 555 m north–south, 420 m east–west at
Panjin's latitude), never at its point, and in its community, never its grid (an urban grid
can be smaller than the cell); its worker is not named. The cell is deterministic: the same case always
shows the same cell, so no number of queries averages it down (fresh noise would). Every
public filter and number on reports (bbox filters, the embed's hexagon counts) is computed
from this public location, so bisecting a filter locates a sensitive case to its cell and
no further.

A grid worker's position is public only as the centre of its cell on the same kind of
lattice; public distances are measured to that centre and rounded to 100 m, and the public
ranking of the nearest workers uses them too (ranking by the exact position would leak it
through the order in which workers swap places).
"""

from __future__ import annotations

import math

import sqlalchemy as sa

from geo.boundaries.hierarchy import CODE_LENGTH, AreaLevel
from geo.reports.categories import SENSITIVE_CATEGORIES

PUBLIC_CELL_DEG = 0.005
WORKER_CELL_DEG = 0.005
DISTANCE_STEP_M = 100.0
# Half the lattice's diagonal at 45°N, rounded up: how far a public point may be from the case.
PUBLIC_PRECISION_M = 400


def coarse_point(lon: float, lat: float, *, deg: float = PUBLIC_CELL_DEG) -> tuple[float, float]:
    """The centre of the lattice cell holding (lon, lat), degrees. Computed exactly like
    PostGIS ``ST_SnapToGrid(geom, deg)`` (round half to even of x / deg, times deg)."""
    return round(round(lon / deg) * deg, 7), round(round(lat / deg) * deg, 7)


def coarse_points(lon, lat, *, deg: float = PUBLIC_CELL_DEG):
    """numpy: ``coarse_point`` of each point (the same arithmetic)."""
    import numpy as np

    return (np.round(np.round(np.asarray(lon, dtype=float) / deg) * deg, 7),
            np.round(np.round(np.asarray(lat, dtype=float) / deg) * deg, 7))


def public_cells(lon, lat, categories) -> list[int | None]:
    """Per report: the H3 cell (geo.matching.cells.CELL_RES) of its public location when it is
    sensitive, else None (its public cell is its own cell). Stored as ``reports.public_cell``
    so every public aggregate groups by what the public may see, in SQL."""
    import numpy as np

    from geo.matching.cells import cells_of_points

    sens = np.fromiter((c in SENSITIVE_CATEGORIES for c in categories), dtype=bool, count=len(categories))
    out: list[int | None] = [None] * len(categories)
    if sens.any():
        clon, clat = coarse_points(np.asarray(lon)[sens], np.asarray(lat)[sens])
        for k, cell in zip(np.flatnonzero(sens).tolist(), cells_of_points(clon, clat).tolist()):
            out[k] = cell
    return out


def coarse_expr(geom, *, deg: float = PUBLIC_CELL_DEG):
    """SQL: ``geom`` snapped to its lattice cell's centre (see ``coarse_point``). The degree is
    inlined, not bound: expression indexes on the cell (migration 0012) match only a constant."""
    return sa.func.ST_SnapToGrid(geom, sa.literal(deg, literal_execute=True))


def is_sensitive(category: str) -> bool:
    """Whether reports of ``category`` are shown publicly only at their public location."""
    return category in SENSITIVE_CATEGORIES


def sensitive_expr(category_col):
    """SQL: ``is_sensitive`` of a category column."""
    return category_col.in_(sorted(SENSITIVE_CATEGORIES))


def public_bbox_condition(category_col, location_col, envelope, *, deg: float = PUBLIC_CELL_DEG):
    """SQL: the report's *public* location lies in ``envelope``: its point, or for a
    sensitive case its cell's centre. The first term (the envelope grown by half a cell)
    lets the spatial index cut first; it admits nothing the exact test would not."""
    grown = sa.func.ST_Expand(envelope, deg)
    sensitive = sensitive_expr(category_col)
    return sa.and_(
        sa.func.ST_Intersects(location_col, grown),
        sa.or_(
            sa.and_(sa.not_(sensitive), sa.func.ST_Intersects(location_col, envelope)),
            sa.and_(sensitive, sa.func.ST_Intersects(coarse_expr(location_col, deg=deg), envelope)),
        ),
    )


# The finest H3 resolution at which public hexagons may count sensitive cases: res 8 cells
# (≈ 0.74 km²) are larger than the 0.005° lattice cell (≈ 0.23 km²) a case is coarsened to,
# so a zoomed-in public map never draws a hexagon around one lattice cell of disputes.
PUBLIC_SENSITIVE_MAX_RES = 8

PUBLIC_CODE_LENGTH = CODE_LENGTH[AreaLevel.community]  # a sensitive case's area, publicly: never its grid


def below_public_area(code_length: int) -> bool:
    """Whether an area with codes of ``code_length`` lies below a sensitive case's public
    area (a grid): public filters and counts per such area leave sensitive cases out."""
    return code_length > PUBLIC_CODE_LENGTH


def public_code(code: str | None) -> str | None:
    """An area code as the public sees it for a sensitive case (grids → their community)."""
    return code[:PUBLIC_CODE_LENGTH] if code else code


def public_code_expr(code_col):
    """SQL: ``public_code`` of a code column."""
    return sa.func.left(code_col, PUBLIC_CODE_LENGTH)


def public_place(lon: float, lat: float, code: str | None) -> tuple[float, float, str | None]:
    """Where the public sees a sensitive case at (lon, lat) in area ``code``: its cell's
    centre, and its community."""
    return (*coarse_point(lon, lat), public_code(code))


def public_area_condition(category_col, code_col, prefix: str):
    """SQL: "in area ``prefix``" as the public may ask it: below community level (a grid) it
    does not match sensitive cases, whose public area is their community."""
    cond = code_col.startswith(prefix, autoescape=True)
    if below_public_area(len(prefix)):
        cond = sa.and_(cond, sa.not_(sensitive_expr(category_col)))
    return cond


def public_distance(metres: float) -> float:
    """A public distance: rounded to the nearest ``DISTANCE_STEP_M``."""
    return float(DISTANCE_STEP_M * math.floor(metres / DISTANCE_STEP_M + 0.5))
