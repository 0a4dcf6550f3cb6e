"""The vector tile of report hexagons: H3 cells with their report counts over a window, one
MVT layer per category group (geo.reports.categories.GROUPS), the resolution chosen by zoom
(geo.tiles.addressing.hex_resolution). Never a report's point.

Public tiles follow the embed's rules (geo.analytics.analysis.public_hexes): each report
counts in its public cell (``reports.public_cell`` for a sensitive case,
geo.analytics.mapdata.report_cell), cells with fewer than ``min_count`` reports are dropped,
and a group holding a sensitive category is aggregated no finer than
geo.access.privacy.PUBLIC_SENSITIVE_MAX_RES. Staff tiles with exact locations count every
report at its own cell, at the zoom's resolution, and drop nothing.

Counts are aggregated over the whole window once per minute (at the zoom's resolution, the
public cells included: one scan of the covering index) and each tile takes the cells whose
centres lie within reach of it; ST_AsMVTGeom drops those that do not meet the tile. So a
hexagon shows the same number on both sides of a tile seam, and a tile costs no scan.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

import h3
import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from geo.access.privacy import PUBLIC_SENSITIVE_MAX_RES
from geo.analytics.hotspots import cell_polygon
from geo.analytics.mapdata import cell_counts
from geo.matching import cells as h3cells
from geo.models import SRID
from geo.reports.categories import BY_CODE, CATALOGUE, SENSITIVE_CATEGORIES
from geo.reports.queries import ReportFilter
from geo.tiles.addressing import BUFFER, EXTENT, TileAddress, hex_resolution
from geo.tiles.areas import as_mvt, mvt_geometry, no_jit
from geo.tiles.layers import HEX_GROUPS

# Groups holding a sensitive category (disputes; "other" has public security and special populations).
COARSE_GROUPS = frozenset(c.group for c in CATALOGUE if c.code in SENSITIVE_CATEGORIES)
PUBLIC_MIN_COUNT = 5  # never below the embed's floor


def group_resolutions(z: int, *, public: bool) -> dict[str, int]:
    """The H3 resolution of each group's hexagons at zoom ``z``."""
    res = hex_resolution(z)
    return {g: min(res, PUBLIC_SENSITIVE_MAX_RES) if public and g in COARSE_GROUPS else res for g in HEX_GROUPS}


@dataclass(frozen=True, slots=True)
class GroupCells:
    """One group's hexagons: H3 cells (int64), their counts and centres (degrees)."""

    cells: np.ndarray
    n: np.ndarray
    lon: np.ndarray
    lat: np.ndarray


class WindowCache:
    """The last few windows' aggregates (:func:`window_cells`), per minute; owned by a tile cache."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._items: OrderedDict[tuple, dict[str, GroupCells]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> dict[str, GroupCells] | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key: tuple, value: dict[str, GroupCells]) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def window_cells(session: Session, *, z: int, since: datetime, until: datetime, public: bool = True,
                 min_count: int = PUBLIC_MIN_COUNT, minute: object = None,
                 windows: WindowCache | None = None) -> dict[str, GroupCells]:
    """group -> the hexagons of zoom ``z`` with their report counts over [since, until) (see
    the module docstring for the public rules), kept in ``windows`` per ``minute`` (any
    hashable: the caller's clock) so a wall of tiles costs one scan a minute. Raises
    ValueError for a public ``min_count`` under 5."""
    if public and min_count < PUBLIC_MIN_COUNT:
        raise ValueError("the public suppression threshold is never below 5 reports")
    resolutions = group_resolutions(z, public=public)
    key = (public, tuple(sorted(resolutions.items())), since, until, min_count, minute)
    if windows is not None and (hit := windows.get(key)) is not None:
        return hit
    out = _aggregate(session, resolutions, since=since, until=until, public=public,
                     floor=min_count if public else 1)
    if windows is not None:
        windows.put(key, out)
    return out


def _aggregate(session: Session, resolutions: dict[str, int], *, since: datetime, until: datetime, public: bool,
               floor: int) -> dict[str, GroupCells]:
    fine = max(resolutions.values())
    no_jit(session)
    # Page costs of cached data: the window's scan then reads the covering index only.
    session.execute(sa.select(sa.func.set_config("random_page_cost", "1.1", True)))
    found = cell_counts(session, ReportFilter(since=since, until=until), res=fine, by_category=True, public=public)
    group_of = {int(code): c.group for code, c in BY_CODE.items()}
    groups = found["category"].map(group_of).fillna("other").to_numpy()
    cells_all, n_all = found["cell"].to_numpy(np.int64), found["n"].to_numpy(np.int64)
    out: dict[str, GroupCells] = {}
    for group in HEX_GROUPS:
        mask = groups == group
        cells = cells_all[mask]
        if resolutions[group] != fine:  # a parent's parent is the parent: the public cells stay the rule
            cells = h3cells.parents(cells, resolutions[group])
        uniq, inverse = np.unique(cells, return_inverse=True)
        n = np.bincount(inverse, weights=n_all[mask], minlength=len(uniq)).astype(np.int64)
        keep = n >= floor
        uniq, n = uniq[keep], n[keep]
        centres = [h3.cell_to_latlng(format(c, "x")) for c in uniq.tolist()]
        out[group] = GroupCells(uniq, n, np.array([c[1] for c in centres], dtype=float),
                                np.array([c[0] for c in centres], dtype=float))
    return out


def cells_near(cells: GroupCells, tile: TileAddress, res: int) -> GroupCells:
    """The cells of ``cells`` (of resolution ``res``) whose centres lie within a cell's reach
    of ``tile`` grown by its buffer: every cell that may meet the tile, and a few more."""
    minlon, minlat, maxlon, maxlat = tile.bounds(margin=BUFFER / EXTENT)
    reach_km = 1.5 * h3.average_hexagon_edge_length(res, "km")
    dlat = reach_km / 110.57
    dlon = reach_km / (111.32 * max(math.cos(math.radians(max(abs(minlat), abs(maxlat)))), 0.01))
    m = ((cells.lon >= minlon - dlon) & (cells.lon <= maxlon + dlon)
         & (cells.lat >= minlat - dlat) & (cells.lat <= maxlat + dlat))
    return GroupCells(cells.cells[m], cells.n[m], cells.lon[m], cells.lat[m])


def _wkt(cell: str) -> str:
    return "POLYGON((" + ",".join(f"{lon} {lat}" for lon, lat in cell_polygon(cell, decimals=6)) + "))"


def hexagon_tile(session: Session, *, tile: TileAddress, since: datetime, until: datetime, public: bool = True,
                 min_count: int = PUBLIC_MIN_COUNT, minute: object = None,
                 windows: WindowCache | None = None) -> bytes:
    """The MVT bytes of the report hexagons meeting ``tile``: one layer per group that has
    any (properties cell, n, resolution); b"" when there are none. ``minute``, ``windows``:
    see :func:`window_cells`."""
    parts = []
    resolutions = group_resolutions(tile.z, public=public)
    groups = window_cells(session, z=tile.z, since=since, until=until, public=public, min_count=min_count,
                          minute=minute, windows=windows)
    for group, all_cells in groups.items():
        near = cells_near(all_cells, tile, resolutions[group])
        if not len(near.cells):
            continue
        names = [format(c, "x") for c in near.cells.tolist()]
        rows = sa.func.unnest(
            sa.bindparam("cells", names, type_=ARRAY(sa.Text)),
            sa.bindparam("counts", near.n.tolist(), type_=ARRAY(sa.Integer)),
            sa.bindparam("resolutions", [resolutions[group]] * len(names), type_=ARRAY(sa.Integer)),
            sa.bindparam("shapes", [_wkt(c) for c in names], type_=ARRAY(sa.Text)),
        ).table_valued("cell", "n", "resolution", "shape").render_derived(name="hexes")
        features = sa.select(rows.c.cell, rows.c.n, rows.c.resolution, mvt_geometry(
            sa.func.ST_GeomFromText(rows.c.shape, SRID), tile).label("geom")).subquery("features")
        parts.append(bytes(session.execute(as_mvt(features, group)).scalar_one()))
    # MVT layers are repeated fields of one message: tiles of distinct layers concatenate.
    return b"".join(parts)
