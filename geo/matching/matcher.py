"""Vectorised point → grid matching for millions of points, equal to PostGIS ``ST_Covers``.

The rule is geo.matching.postgis's: a point belongs to the grid whose polygon covers it (boundary
included); when several do, the smallest code wins. ``GridMatcher`` answers it for numpy
arrays of WGS-84 lon/lat degrees (EPSG:4326) with one table lookup for most points.

How it stays exact:

* A uniform lookup raster (≈ 10 m cells) spans the grids' bounding box. A cell is *mixed*
  when the boundary of some grid touches its closed extent: every ring is densified at
  < half a cell and the bounding box of each short piece (plus a little slack) is marked, so
  no boundary can cross an unmarked cell.
* Unmarked (*pure*) cells form connected regions that no boundary crosses, so every point of
  a region is covered by the same grids. Each region is classified once, exactly, with
  shapely at one representative point.
* With ``sub_m``, a mixed cell holds f × f sub-cells classified alike (geo.matching.subcells).
* A point in a mixed (sub-)cell is tested exactly (``shapely.intersects_xy``: for a point,
  intersects == covers) against the grids whose boundary touches that cell. A grid that
  covers the whole cell without its boundary touching it can only matter where grids overlap
  (the generated city has ~1e-6 m² slivers); such grids are found at build time from the
  boundaries of the pairwise overlaps and stored per cell as a default answer.

Indices are positions in ``codes`` (sorted ascending), so the smallest index is the smallest code.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
import sqlalchemy as sa
from scipy import ndimage
from sqlalchemy.orm import Session

from geo.boundaries.cache import Fingerprint, GenerationCache, generation_fingerprint
from geo.boundaries.generations import valid_in
from geo.matching import subcells
from geo.matching.raster import (
    _CAND_SLACK, _MIXED, _NONE, _OVERLAP_SLACK, _SLACK, _Raster, _min_index, _pieces, _rings, _sorted_unique, _touched_cells,
)
from geo.models import Area, AreaLevel
from geo.units import M_PER_DEG_LAT

DEFAULT_CELL_M = 10.0
# One-off passes over a few thousand points (a planner's diff, an activation) build a coarse
# raster: the answers are the same (the raster only indexes; mixed cells test exactly), the
# build is ~10× faster (0.5 s instead of 5.7 s for the demo city).
PLANNING_CELL_M = 100.0
DEFAULT_MAX_CELLS = 120_000_000  # ≈ 240 MB of int16 raster; the cell grows beyond this
# Sub-cells (geo.matching.subcells) with ``sub_m``: at most this many (1 byte each), then coarser.
DEFAULT_MAX_SUB_CELLS = 500_000_000
CHUNK = 1_000_000  # points per internal step: bounds the temporaries of one call
class GridMatcher:
    """Point → grid lookup equal to ``ST_Covers`` + smallest code, for arrays of WGS-84 points.

    Build with ``from_session`` (the grids of one generation) or ``from_frame``; a matcher is
    immutable and thread-safe for reads. Memory ≈ 2 bytes per raster cell (≤ ~240 MB by
    default; 4 beyond 32,766 grids) plus the per-mixed-cell candidate lists, plus with ``sub_m``
    (metres) 1 byte per sub-cell of the mixed cells (≤ ``max_sub_cells``): fewer exact tests.
    """

    def __init__(self, codes: Sequence[str], geoms: Sequence, *, cell_m: float = DEFAULT_CELL_M,
                 max_cells: int = DEFAULT_MAX_CELLS, sub_m: float | None = None,
                 max_sub_cells: int = DEFAULT_MAX_SUB_CELLS) -> None:
        codes_arr = np.asarray([str(c) for c in codes], dtype=object)
        geoms_arr = np.asarray(geoms, dtype=object)
        if len(codes_arr) != len(geoms_arr):
            raise ValueError(f"{len(codes_arr)} codes but {len(geoms_arr)} geometries")
        if len(codes_arr) == 0:
            raise ValueError("no grids to match against")
        if len(set(codes_arr)) != len(codes_arr):
            raise ValueError("grid codes must be unique")
        types = shapely.get_type_id(geoms_arr)
        if not np.isin(types, (3, 6)).all() or shapely.is_empty(geoms_arr).any():
            raise ValueError("every grid geometry must be a non-empty Polygon or MultiPolygon")
        order = np.argsort(codes_arr.astype(str), kind="stable")
        self.codes: np.ndarray = codes_arr[order]
        self.geoms: np.ndarray = geoms_arr[order].copy()
        shapely.prepare(self.geoms)  # in place: intersects_xy then uses the indexed locator
        self._boundaries = shapely.boundary(self.geoms)
        shapely.prepare(self._boundaries)
        self._build(cell_m, max_cells)
        self._build_sub(sub_m, max_sub_cells)

    @classmethod
    def from_frame(cls, codes: Sequence[str], geoms: Sequence, **kwargs) -> GridMatcher:
        """Matcher over explicit grids: codes and shapely (Multi)Polygons in EPSG:4326 degrees.
        Raises ValueError for mismatched lengths, duplicate codes, empty or non-polygon geometry."""
        return cls(codes, geoms, **kwargs)

    @classmethod
    def from_session(cls, session: Session, *, generation: int, fingerprint: Fingerprint | None = None,
                     **kwargs) -> GridMatcher:
        """Matcher over the grids valid in ``generation``, cached in-process until the
        generation's areas change (geo.boundaries.cache: in-place edits included).
        Raises ValueError when the generation has no grids, GenerationNotFound without it."""

        def build() -> GridMatcher:
            rows = session.execute(
                sa.select(Area.code, sa.func.ST_AsBinary(Area.geom))
                .where(Area.level == AreaLevel.grid, valid_in(Area, generation))
                .order_by(Area.code)
            ).all()
            if not rows:
                raise ValueError(f"generation {generation} has no grids")
            return cls([r[0] for r in rows], shapely.from_wkb([bytes(r[1]) for r in rows]), **kwargs)

        return _MATCHERS.get(session, generation=generation, build=build, key=tuple(sorted(kwargs.items())),
                             fingerprint=fingerprint)

    # -- build ------------------------------------------------------------------------------

    def _build(self, cell_m: float, max_cells: int) -> None:
        n = len(self.geoms)
        r = self._r = _Raster.around(shapely.total_bounds(self.geoms), cell_m, max_cells)
        pieces = _pieces(*_rings(self.geoms), r)
        near = _touched_cells(pieces, r, _SLACK, n)
        mixed = _sorted_unique(near // n)
        # Candidates use twice the slack: a grid left out of a mixed cell's list then has its
        # boundary clear of everything that made the cell mixed (see _overlap_defaults).
        keys = _touched_cells(pieces, r, _CAND_SLACK, n)
        del pieces, near
        at = np.minimum(np.searchsorted(mixed, keys // n), len(mixed) - 1)
        keys = keys[mixed[at] == keys // n]
        cells, cand = np.divmod(keys, np.int64(n))
        first = np.flatnonzero(np.r_[True, cells[1:] != cells[:-1]])
        self._mixed_cells = cells[first]  # sorted linear cell ids
        self._ptr = np.r_[first, len(cells)].astype(np.int64)
        self._cand = cand.astype(np.int32)
        self._keys = keys
        self.tree = shapely.STRtree(self.geoms)  # also for callers: which grids touch a point

        pure = np.ones(r.size, dtype=bool)
        pure[self._mixed_cells] = False
        labels, n_labels = ndimage.label(pure.reshape(r.ny, r.nx))
        del pure
        flat = labels.ravel()
        # First cell of each region: its run starts, then the first run per label.
        starts = np.flatnonzero(np.r_[True, flat[1:] != flat[:-1]])
        lab, at = np.unique(flat[starts], return_index=True)
        rep = starts[at][lab > 0]
        lut = np.full(n_labels + 1, _MIXED, dtype=np.int32)
        lut[lab[lab > 0]] = _min_index(self.tree, *r.centres(rep))
        dtype = np.int16 if n < np.iinfo(np.int16).max else np.int32
        self._raster = lut.astype(dtype)[flat]
        del labels, flat
        self._default = self._overlap_defaults(n)
        del self._keys  # only the overlap pass needs the (cell, grid) keys
        self.stats = {
            "cells": r.size, "mixed_cells": len(self._mixed_cells), "regions": int(n_labels),
            "cell_m": round(M_PER_DEG_LAT / r.ky, 3), "raster_mb": round(self._raster.nbytes / 2**20, 1),
        }

    def _build_sub(self, sub_m: float | None, max_sub_cells: int) -> None:
        self._f = subcells.sub_factor(self.stats["cell_m"], sub_m, len(self._mixed_cells), max_sub_cells)
        self._sub = None
        if self._f > 1:
            self._sub = subcells.build_subcells(self.geoms, self.tree, self._r, self._mixed_cells, self._f,
                                                self._cand, self._ptr, self._default)
        self.stats.update(sub=self._f, sub_mb=round(self._sub.nbytes / 2**20, 1) if self._sub is not None else 0.0)

    def _overlap_defaults(self, n: int) -> np.ndarray:
        """Per mixed cell: the smallest grid covering the whole cell without touching it, else _NONE.

        Such a grid G needs another grid B whose boundary runs through G's interior, so the
        cell touches the boundary of the overlap B ∩ G: only those cells are tested.
        """
        default = np.full(len(self._mixed_cells), _NONE, dtype=np.int32)
        i, j = self.tree.query(self.geoms, predicate="intersects")
        keep = i < j
        i, j = i[keep], j[keep]
        inner = shapely.relate_pattern(self.geoms[i], self.geoms[j], "T********")
        i, j = i[inner], j[inner]
        if not len(i):
            return default
        try:
            overlap = shapely.intersection(self.geoms[i], self.geoms[j])
            parts, pair = shapely.get_parts(overlap, return_index=True)
            poly = shapely.get_type_id(parts) == 3
            rings, ring_part = shapely.get_rings(parts[poly], return_index=True)
            pair_of_ring = pair[poly][ring_part]
        except shapely.errors.GEOSException:  # overlay failed: test both whole boundaries instead
            rings, ring_owner = _rings(np.concatenate([self.geoms[i], self.geoms[j]]))
            pair_of_ring = np.tile(np.arange(len(i)), 2)[ring_owner]
        if not len(rings):
            return default
        keys = _touched_cells(_pieces(rings, pair_of_ring, self._r), self._r, _OVERLAP_SLACK, len(i))
        cells, pair_id = np.divmod(keys, np.int64(len(i)))
        cells = np.concatenate([cells, cells])
        grid = np.concatenate([i[pair_id], j[pair_id]]).astype(np.int64)
        slot = np.searchsorted(self._mixed_cells, cells)
        slot_ok = slot < len(self._mixed_cells)
        is_mixed = np.zeros(len(cells), dtype=bool)
        is_mixed[slot_ok] = self._mixed_cells[slot[slot_ok]] == cells[slot_ok]
        want = cells * n + grid
        pos = np.minimum(np.searchsorted(self._keys, want), len(self._keys) - 1)
        todo = is_mixed & (self._keys[pos] != want)  # mixed, and grid's boundary misses the cell
        cells, grid, slot = cells[todo], grid[todo], slot[todo]
        # The grid's boundary misses the closed cell, so its centre decides for the whole cell.
        inside = shapely.intersects_xy(self.geoms[grid], *self._r.centres(cells))
        np.minimum.at(default, slot[inside], grid[inside].astype(np.int32))
        return default

    # -- lookup -----------------------------------------------------------------------------

    def match_indices(self, lon, lat) -> np.ndarray:
        """Index into ``codes`` of the grid covering each (lon, lat) (smallest code on ties), -1 for none.

        ``lon``/``lat`` are array-likes of WGS-84 degrees of equal length; NaN → -1.
        """
        return self.match_indices_near(lon, lat)[0]

    def match_indices_near(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        """``match_indices`` and, per point, whether it lies in a raster cell some grid boundary
        crosses: only such a point can be on a boundary (the rule's ``edge`` test needs no more)."""
        x = np.asarray(lon, dtype=np.float64).ravel()
        y = np.asarray(lat, dtype=np.float64).ravel()
        if x.shape != y.shape:
            raise ValueError(f"lon has {x.size} values but lat has {y.size}")
        out = np.empty(x.size, dtype=np.int32)
        near = np.zeros(x.size, dtype=bool)
        for s in range(0, x.size, CHUNK):
            out[s:s + CHUNK] = self._match_chunk(x[s:s + CHUNK], y[s:s + CHUNK], near[s:s + CHUNK])
        return out, near

    def match(self, lon, lat) -> np.ndarray:
        """Grid code covering each point (object array), None where no grid covers it."""
        idx = self.match_indices(lon, lat)
        out = np.full(idx.size, None, dtype=object)
        hit = idx >= 0
        out[hit] = self.codes[idx[hit]]
        return out

    def on_boundary(self, idx: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Per point: whether it lies on the boundary of grid ``idx`` (indexes into ``codes``)."""
        return shapely.intersects_xy(self._boundaries[idx], lon, lat)

    def covering_codes(self, lon: float, lat: float) -> tuple[str, ...]:
        """Codes of every grid covering the WGS-84 point (boundary included), ascending: the
        first is ``match``'s answer, more than one is a shared edge or vertex."""
        hits = self.tree.query(shapely.Point(lon, lat), predicate="intersects")
        return tuple(self.codes[np.sort(hits)])

    def _match_chunk(self, x: np.ndarray, y: np.ndarray, near: np.ndarray) -> np.ndarray:
        r = self._r
        out = np.full(x.size, -1, dtype=np.int32)
        fx = (x - r.x0) * r.kx
        fy = (y - r.y0) * r.ky
        # Off the raster means outside every grid's bounding box (NaN compares False, so too).
        on = np.flatnonzero((fx >= 0) & (fx < r.nx) & (fy >= 0) & (fy < r.ny))
        lin = fy[on].astype(np.int64) * r.nx + fx[on].astype(np.int64)
        val = self._raster[lin].astype(np.int32)
        mixed = np.flatnonzero(val == _MIXED)
        if mixed.size and self._sub is not None:
            # The sub-cell of a point: floor(u * f), exact for f a power of two (subcells' docstring).
            f = self._f
            su = np.floor(fx[on[mixed]] * f).astype(np.int64) - lin[mixed] % r.nx * f
            sv = np.floor(fy[on[mixed]] * f).astype(np.int64) - lin[mixed] // r.nx * f
            slot = np.searchsorted(self._mixed_cells, lin[mixed])
            val[mixed] = subcells.lookup(self._sub, f, slot, su, sv, self._cand, self._ptr, self._default)
            mixed = mixed[val[mixed] == _MIXED]
        if mixed.size:
            val[mixed] = self._exact(lin[mixed], x[on[mixed]], y[on[mixed]])
            near[on[mixed]] = True
        out[on] = val
        return out

    def _exact(self, lin: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Exact answers for points in mixed cells: their cell's candidates, then its default."""
        slot = np.searchsorted(self._mixed_cells, lin)
        start = self._ptr[slot]
        count = self._ptr[slot + 1] - start
        offsets = np.cumsum(count) - count
        total = int(count.sum())
        point = np.repeat(np.arange(lin.size), count)
        pos = np.arange(total) - np.repeat(offsets, count) + np.repeat(start, count)
        cand = self._cand[pos]
        hit = shapely.intersects_xy(self.geoms[cand], x[point], y[point])
        best = np.minimum.reduceat(np.where(hit, cand, _NONE), offsets)  # every mixed cell has ≥ 1
        best = np.minimum(best, self._default[slot])
        return np.where(best == _NONE, -1, best).astype(np.int32)


# Two: the active generation's and one more (a draft being previewed, or the one a
# rematch comes from); a matcher of the demo city is ~100 MB.
_MATCHERS: GenerationCache[GridMatcher] = GenerationCache(size=2)


def matcher_for(session: Session, *, generation: int | None = None) -> tuple[int, GridMatcher]:
    """(generation, its matcher): ``generation``, or the active one when ``None``, with one
    read of the database when the matcher is already built.
    Raises NoActiveGeneration / GenerationNotFound, ValueError when it has no grids."""
    fingerprint = generation_fingerprint(session, generation=generation)
    gid = fingerprint.generation
    return gid, GridMatcher.from_session(session, generation=gid, fingerprint=fingerprint)
