"""Each report's H3 cell, stored as an integer, and its coarser parents computed in SQL.

A report's WGS-84 point is indexed once, at resolution ``CELL_RES`` (≈ 0.015 km² hexagons,
66 m edges), when it is stored. The maps then group reports by the cell's parent at whatever
resolution they show, two integer operations per row in PostgreSQL, instead of projecting
every point again on every page build: over 1 M reports that is 0.4 s instead of 1.2 s.

H3 bit layout (h3geo.org/docs/library/index/cell): bits 52–55 hold the resolution, then
fifteen 3-bit digits, the one for resolution r at bits 3·(15−r)…3·(15−r)+2; the digits finer
than the cell's resolution are all ones (7). So a parent at resolution r is the cell with the
resolution field set to r and every digit below r set to 7. Bit 63 is always 0, so every
cell fits a signed bigint.
"""

from __future__ import annotations

import h3.api.basic_int as h3i
import numpy as np
import sqlalchemy as sa

CELL_RES = 10
_RES_SHIFT = 52
_RES_MASK = 0xF << _RES_SHIFT


def cells_of_points(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """The ``CELL_RES`` H3 cell (int64) of each WGS-84 point (degrees). About 0.8 µs a point:
    h3 has no vectorised call, so this loops in Python."""
    latlng = h3i.latlng_to_cell
    return np.fromiter(
        (latlng(y, x, CELL_RES) for x, y in zip(np.asarray(lon, float).tolist(), np.asarray(lat, float).tolist())),
        dtype=np.int64, count=len(lon),
    )


def cell_of_point(lon: float, lat: float) -> int:
    """The ``CELL_RES`` H3 cell of one WGS-84 point (degrees), as an integer."""
    return h3i.latlng_to_cell(lat, lon, CELL_RES)


def _parent_constants(res: int) -> tuple[int, int]:
    if not 0 <= res <= CELL_RES:
        raise ValueError(f"a parent resolution is between 0 and {CELL_RES}, not {res}")
    below = (1 << (3 * (15 - res))) - 1
    keep = ~(_RES_MASK | below)  # negative as a Python int: the same 64 bits as a signed bigint
    return keep, (res << _RES_SHIFT) | below


def parent_expr(cell: sa.ColumnElement, res: int) -> sa.ColumnElement:
    """SQL: the parent at ``res`` (≤ CELL_RES) of a ``CELL_RES`` cell column (bigint)."""
    keep, add = _parent_constants(res)
    # Inline constants (our own ints), not bind parameters: the same expression in SELECT and
    # GROUP BY must be textually equal for PostgreSQL to match them.
    return cell.op("&")(sa.literal_column(str(keep), sa.BigInteger)).op("|")(sa.literal_column(str(add), sa.BigInteger))


def parents(cells: np.ndarray, res: int) -> np.ndarray:
    """numpy: the parents at ``res`` of an int64 array of cells of resolution ≥ ``res``."""
    keep, add = _parent_constants(res)
    return (np.asarray(cells, dtype=np.int64) & np.int64(keep)) | np.int64(add)


def to_strings(cells: np.ndarray) -> list[str]:
    """Cells as H3's usual hexadecimal strings (what ``h3.latlng_to_cell`` returns)."""
    return [format(c, "x") for c in np.asarray(cells, dtype=np.int64).tolist()]
