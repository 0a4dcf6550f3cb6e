"""The matcher's second level: f × f sub-cells inside each mixed raster cell (f a power of two).

A point in a mixed cell then costs one more table lookup instead of an exact test, unless its
sub-cell is itself crossed by a boundary: the share of points tested exactly falls from that of
the coarse cell size to that of the sub-cell size (at the 40× territory's 123 m cells, 65 % → ~8 %;
see docs/README.matcher.md), for f² entries per mixed cell.

Why it stays exact (the coarse level's argument, once more): sub-cells are the cells of a raster
with the same origin and f× the cells per degree. f is a power of two, so a point's sub-cell
index ``floor(u * f)`` (u its coarse coordinate, the same float the coarse lookup floors) is
exactly what the build's pieces give, and it lies inside the point's coarse cell. A sub-cell is
*sub-mixed* when some grid boundary comes within slack of it (densified pieces, as the coarse
level marks); the other sub-cells form regions no boundary crosses, each classified once at a
representative point. A sub-mixed point is tested against its coarse cell's candidates and
default, which include every grid whose boundary can touch the sub-cell.

Built in bands of coarse rows, each a bounded uniform raster of sub-cells, so the build's peak
does not grow with the territory. Coordinates: the matcher's (WGS-84 lon/lat degrees).
"""

from __future__ import annotations

import numpy as np
import shapely
from scipy import ndimage

from geo.matching import raster as _m

BAND_CELLS = 40_000_000  # sub-cells per band: bounds the build's temporaries (~0.5 GB)
# One byte a sub-cell: its answer as a position in its cell's (ascending) candidate list, or:
_SUB_DEFAULT = 127  # the cell's default (a grid covering the whole cell, or none)
_SUB_MIXED = -2  # a boundary touches the sub-cell: test exactly


def sub_factor(cell_m: float, sub_m: float | None, n_mixed: int, max_sub_cells: int) -> int:
    """The power of two f with cell / f ≤ ``sub_m`` (1 when ``sub_m`` is None or ≥ the cell),
    halved until ``n_mixed`` × f² fits ``max_sub_cells``."""
    if sub_m is None or sub_m <= 0 or cell_m <= sub_m:
        return 1
    f = 1 << int(np.ceil(np.log2(cell_m / sub_m)))
    while f > 1 and n_mixed * f * f > max_sub_cells:
        f //= 2
    return min(f, 64)


def build_subcells(geoms: np.ndarray, tree: shapely.STRtree, r, mixed_cells: np.ndarray, f: int,
                   cand: np.ndarray, ptr: np.ndarray, default: np.ndarray) -> np.ndarray:
    """Per mixed cell (in ``mixed_cells`` order) its f × f sub-cells, row-major, int8: the
    smallest grid covering the sub-cell as a position in the cell's candidates (``cand``
    from ``ptr[slot]``), _SUB_DEFAULT for the cell's ``default``, _SUB_MIXED when a boundary
    touches it (or the answer has no short code, which only costs an exact test)."""
    fine = _m._Raster(r.x0, r.y0, r.kx * f, r.ky * f, r.nx * f, r.ny * f)  # never allocated whole
    rings, owner = _m._rings(geoms)
    ring_rows = (shapely.bounds(rings)[:, [1, 3]] - r.y0) * r.ky  # ring extent in coarse rows
    out = np.empty(len(mixed_cells) * f * f, dtype=np.int8)
    cy, cx = np.divmod(mixed_cells, r.nx)
    rows_per_band = max(1, BAND_CELLS // (fine.nx * f))
    sub_y, sub_x = np.divmod(np.arange(f * f), f)
    for r0 in range(0, r.ny, rows_per_band):
        r1 = min(r0 + rows_per_band, r.ny)
        in_band = np.flatnonzero((cy >= r0) & (cy < r1))
        if not len(in_band):
            continue
        values = _band(geoms, tree, fine, rings, owner, ring_rows, r0 * f, (r1 - r0) * f, f)
        # Sub-cell (a, b) of coarse cell (cx, cy) is band cell (cx·f + a, (cy - r0)·f + b).
        rows = (cy[in_band, None] - r0) * f + sub_y
        cols = cx[in_band, None] * f + sub_x
        out.reshape(-1, f * f)[in_band] = _encode(values[rows * fine.nx + cols], in_band, cand, ptr, default)
    return out


def _encode(values: np.ndarray, slots: np.ndarray, cand, ptr, default) -> np.ndarray:
    """(cells, f²) grid indexes / -1 / _MIXED of the mixed cells ``slots`` → int8 codes."""
    out = np.full(values.shape, _SUB_MIXED, dtype=np.int8)
    dflt = np.where(default[slots] == _m._NONE, -1, default[slots])
    out[values == dflt[:, None]] = _SUB_DEFAULT
    start, count = ptr[slots], ptr[slots + 1] - ptr[slots]
    for k in range(min(int(count.max()), _SUB_DEFAULT - 1)):
        grid = np.full(len(slots), _m._MIXED, dtype=np.int64)  # matches no answer
        has = count > k
        grid[has] = cand[start[has] + k]
        out[(values == grid[:, None]) & (values >= 0)] = k
    return out


def lookup(sub: np.ndarray, f: int, slot: np.ndarray, su: np.ndarray, sv: np.ndarray, cand, ptr, default
           ) -> np.ndarray:
    """Answers of sub-cells (column ``su``, row ``sv`` of mixed cell ``slot``): grid index, -1,
    or _MIXED where the point needs the exact test."""
    code = sub[slot * (f * f) + sv * f + su].astype(np.int64)
    out = np.full(len(code), _m._MIXED, dtype=np.int32)
    d = code == _SUB_DEFAULT
    out[d] = np.where(default[slot[d]] == _m._NONE, -1, default[slot[d]])
    c = (code >= 0) & ~d
    out[c] = cand[ptr[slot[c]] + code[c]]
    return out


def _band(geoms, tree, fine, rings, owner, ring_rows, j0: int, n_rows: int, f: int) -> np.ndarray:
    """The uniform sub-cell raster of fine rows [j0, j0 + n_rows) (flattened): grid index,
    -1, or _MIXED."""
    lo, hi = j0 / f - 1, (j0 + n_rows) / f + 1  # a coarse row of margin: slack never reaches further
    sel = np.flatnonzero((ring_rows[:, 1] >= lo) & (ring_rows[:, 0] <= hi))
    pure = np.ones(fine.nx * n_rows, dtype=bool)
    if len(sel):
        ua, va, ub, vb, _ = _m._pieces(rings[sel], owner[sel], fine)
        # Shifting by an integer is exact, so floor() gives the same rows as the global raster.
        va, vb = va - j0, vb - j0
        keep = (np.maximum(va, vb) >= -1) & (np.minimum(va, vb) <= n_rows + 1)
        band = _m._Raster(fine.x0, fine.y0, fine.kx, fine.ky, fine.nx, n_rows)
        pieces = (ua[keep], va[keep], ub[keep], vb[keep], np.zeros(int(keep.sum()), dtype=np.int64))
        cells = _m._touched_cells(pieces, band, _m._SLACK, 1)
        pure[cells[(cells >= 0) & (cells < band.size)]] = False
    labels, n_labels = ndimage.label(pure.reshape(n_rows, fine.nx))
    flat = labels.ravel()
    starts = np.flatnonzero(np.r_[True, flat[1:] != flat[:-1]])
    lab, at = np.unique(flat[starts], return_index=True)
    rep = starts[at][lab > 0]
    iy, ix = np.divmod(rep, fine.nx)
    lut = np.full(n_labels + 1, _m._MIXED, dtype=np.int32)
    lut[lab[lab > 0]] = _m._min_index(tree, fine.x0 + (ix + 0.5) / fine.kx, fine.y0 + (j0 + iy + 0.5) / fine.ky)
    return lut[flat]
