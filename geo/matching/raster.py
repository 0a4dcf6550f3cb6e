"""The lookup raster's geometry and its boundary marking, shared by GridMatcher and its sub-cells.

Cells are in degrees of WGS-84 lon/lat (EPSG:4326); see geo.matching.matcher for why a cell
no boundary crosses can be answered without an exact test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from geo.units import M_PER_DEG_LAT, M_PER_DEG_LON_EQ

_PIECE = 0.45  # densify spacing as a fraction of a cell (must stay < 0.5)
_SLACK = 1e-3  # marking slack as a fraction of a cell: absorbs rounding (~1e-12 cell)
_CAND_SLACK = 2e-3
_OVERLAP_SLACK = 0.05  # larger slack for overlay-computed overlap boundaries
_MIXED = -2
_NONE = np.iinfo(np.int32).max


@dataclass(frozen=True)
class _Raster:
    """Cell geometry in degrees: cell ``(ix, iy)`` holds x with floor((x - x0) * kx) == ix."""

    x0: float
    y0: float
    kx: float  # cells per degree of longitude
    ky: float
    nx: int
    ny: int

    @classmethod
    def around(cls, bounds, cell_m: float, max_cells: int) -> _Raster:
        minx, miny, maxx, maxy = (float(v) for v in bounds)
        lat = min(max((miny + maxy) / 2, -85.0), 85.0)
        dx = cell_m / (M_PER_DEG_LON_EQ * np.cos(np.radians(lat)))
        dy = cell_m / M_PER_DEG_LAT
        n = ((maxx - minx) / dx + 5) * ((maxy - miny) / dy + 5)
        if n > max_cells:  # coarser cells keep the raster bounded; exactness does not depend on size
            dx, dy = dx * np.sqrt(n / max_cells), dy * np.sqrt(n / max_cells)
        # Two cells of margin: slack-expanded boundary pieces never fall off the raster.
        x0, y0 = minx - 2 * dx, miny - 2 * dy
        nx = int(np.ceil((maxx - x0) / dx)) + 3
        ny = int(np.ceil((maxy - y0) / dy)) + 3
        return cls(x0, y0, 1.0 / dx, 1.0 / dy, nx, ny)

    @property
    def size(self) -> int:
        return self.nx * self.ny

    def centres(self, lin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        iy, ix = np.divmod(lin, self.nx)
        return self.x0 + (ix + 0.5) / self.kx, self.y0 + (iy + 0.5) / self.ky


def _rings(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every ring (exterior and holes) of every polygon part, with the index of its geometry."""
    parts, part_owner = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    return rings, part_owner[ring_part]


def _pieces(rings: np.ndarray, owner: np.ndarray, r: _Raster) -> tuple[np.ndarray, ...]:
    """Rings densified to pieces shorter than half a cell, in cell units: (ua, va, ub, vb, owner)."""
    dense = shapely.segmentize(rings, _PIECE * min(1 / r.kx, 1 / r.ky))
    xy, ring_of = shapely.get_coordinates(dense, return_index=True)
    # Same formula as the lookup, so a coordinate lands in the same cell in both.
    u = (xy[:, 0] - r.x0) * r.kx
    v = (xy[:, 1] - r.y0) * r.ky
    same = ring_of[1:] == ring_of[:-1]
    return u[:-1][same], v[:-1][same], u[1:][same], v[1:][same], owner[ring_of[:-1][same]].astype(np.int64)


def _touched_cells(pieces: tuple[np.ndarray, ...], r: _Raster, slack: float, n_slots: int) -> np.ndarray:
    """Sorted unique keys ``cell * n_slots + owner`` of cells a piece comes within ``slack`` cells of.

    A cell is hit when the piece meets the cell grown by ``slack`` on every side: the pieces'
    bounding boxes give at most 2×2 cells, and a separating-axis test on the piece's line drops
    the corner cell a diagonal piece passes by. Rounding (~1e-12 cell) is far below ``slack``.
    """
    ua, va, ub, vb, who = pieces
    i0 = np.floor(np.minimum(ua, ub) - slack).astype(np.int64)
    i1 = np.floor(np.maximum(ua, ub) + slack).astype(np.int64)
    j0 = np.floor(np.minimum(va, vb) - slack).astype(np.int64)
    j1 = np.floor(np.maximum(va, vb) + slack).astype(np.int64)
    du, dv = ub - ua, vb - va
    corner = (i0 != i1) & (j0 != j1)
    keys = []
    for i in (i0, i1):
        for j in (j0, j1):
            hit = ~corner
            # Line side of the grown cell's four corners: the line misses the box when all agree.
            cu, cv = i[corner], j[corner]
            side = [du[corner] * (cv + ey - va[corner]) - dv[corner] * (cu + ex - ua[corner])
                    for ex in (-slack, 1 + slack) for ey in (-slack, 1 + slack)]
            lo = np.minimum(np.minimum(side[0], side[1]), np.minimum(side[2], side[3]))
            hi = np.maximum(np.maximum(side[0], side[1]), np.maximum(side[2], side[3]))
            hit[corner] = (lo <= 0) & (hi >= 0)
            k = (j[hit] * r.nx + i[hit]) * n_slots + who[hit]
            # Consecutive pieces mostly hit the same cells: dropping repeats first makes unique() cheap.
            keys.append(k[np.r_[True, k[1:] != k[:-1]]])
    return _sorted_unique(np.concatenate(keys))


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    """np.unique for int64 by sort + diff (numpy 2's hash-based unique is ~10× slower here)."""
    a.sort()
    return a[np.r_[True, a[1:] != a[:-1]]] if a.size else a


def _min_index(tree: shapely.STRtree, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Smallest geometry index covering each point (exact, boundary included), -1 for none."""
    pt, hit = tree.query(shapely.points(x, y), predicate="intersects")
    best = np.full(len(x), _NONE, dtype=np.int64)
    np.minimum.at(best, pt, hit)
    return np.where(best == _NONE, -1, best).astype(np.int32)
