"""H3 hexagon aggregation and Getis-Ord Gi* hot-spot statistics (numpy/scipy, no SQL).

Inputs are already aggregated counts (see ``geo.analytics.mapdata``), never raw reports, so the cost
depends on the number of cells, not on the number of reports. Coordinates are WGS-84 degrees.

Gi* (Getis & Ord 1992; Ord & Getis 1995) with binary weights that include the cell itself:

    Gi* = (Σj wij xj − x̄ Σj wij) / (S √((n Σj wij² − (Σj wij)²) / (n − 1)))

where x̄ and S are the mean and standard deviation of all n cells of the study area (zeros
included: an empty hexagon is evidence too). Gi* is a z-score; two-sided p-values give the
90/95/99 % classes. With ``fdr=True`` (the default, as ArcGIS's "FDR correction") the
Benjamini-Hochberg procedure is applied per confidence level, so testing thousands of cells
does not paint ~10 % of a uniform city "significant" by chance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from math import cos, radians

import h3
import numpy as np
from scipy import sparse
from scipy.stats import norm

# (confidence, two-sided alpha); checked from the strictest so each cell gets its best class.
CONFIDENCE_LEVELS: tuple[tuple[int, float], ...] = ((99, 0.01), (95, 0.05), (90, 0.10))
MIN_RES, MAX_RES = 5, 10


def choose_resolution(bounds: Sequence[float], *, max_cells: int) -> int:
    """The finest H3 resolution whose hexagons over ``bounds`` (minlon, minlat, maxlon, maxlat,
    degrees) number at most ``max_cells``; clamped to [5, 10] (≈ 250 km² … 0.015 km² cells)."""
    minlon, minlat, maxlon, maxlat = bounds
    mid = radians((minlat + maxlat) / 2)
    # Equirectangular approximation of the box area (km²): fine at city scale.
    area_km2 = max((maxlon - minlon) * 111.32 * cos(mid), 0.01) * max((maxlat - minlat) * 110.57, 0.01)
    for res in range(MAX_RES, MIN_RES - 1, -1):
        if area_km2 / h3.average_hexagon_area(res, "km^2") <= max_cells:
            return res
    return MIN_RES


def study_cells(geometry: dict | None, *, res: int, extra: Sequence[str] = ()) -> list[str]:
    """Cells whose centres fall in ``geometry`` (a GeoJSON Polygon/MultiPolygon dict, WGS-84)
    plus ``extra`` (cells that have data just outside), sorted for determinism."""
    cells = set(extra)
    if geometry is not None:
        cells.update(h3.geo_to_cells(geometry, res))
    return sorted(cells)


def hex_neighbours(cells: Sequence[str], *, k: int = 1) -> list[np.ndarray]:
    """For each cell, the indexes (into ``cells``) of cells within ``k`` rings, itself included."""
    return _hex_neighbours(tuple(cells), k)


@lru_cache(maxsize=64)
def _hex_neighbours(cells: tuple[str, ...], k: int) -> list[np.ndarray]:
    # The study area of a city is the same set of cells request after request.
    index = {c: i for i, c in enumerate(cells)}
    return [
        np.fromiter((index[n] for n in h3.grid_disk(c, k) if n in index), dtype=np.int64) for c in cells
    ]


@dataclass(frozen=True, slots=True)
class GiResult:
    """Per-cell Gi* z-score, two-sided p-value and class: +3/+2/+1 hot spot at 99/95/90 %,
    -1/-2/-3 cold spot, 0 not significant."""

    z: np.ndarray
    p: np.ndarray
    klass: np.ndarray

    @property
    def n_significant(self) -> int:
        return int(np.count_nonzero(self.klass))


def gi_star(values: np.ndarray, neighbours: Sequence[np.ndarray], *, fdr: bool = True) -> GiResult:
    """Getis-Ord Gi* of ``values`` with binary weights: ``neighbours[i]`` lists the indexes j with
    wij = 1 (including i itself). See the module docstring for the formula."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n < 3:
        zeros = np.zeros(n)
        return GiResult(zeros, np.ones(n), np.zeros(n, dtype=np.int8))
    rows = np.repeat(np.arange(n), [len(nb) for nb in neighbours])
    cols = np.concatenate(neighbours) if n else np.array([], dtype=np.int64)
    w = sparse.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(n, n))
    xbar = x.mean()
    s = np.sqrt(max((x**2).mean() - xbar**2, 0.0))
    wsum = np.asarray(w.sum(axis=1)).ravel()  # binary weights: Σ wij² == Σ wij
    if s == 0:  # a constant field has no hot spots (and Gi* would divide by zero)
        z = np.zeros(n)
    else:
        den = s * np.sqrt(np.clip((n * wsum - wsum**2) / (n - 1), 1e-12, None))
        z = (w @ x - xbar * wsum) / den
    p = 2 * norm.sf(np.abs(z))
    klass = np.zeros(n, dtype=np.int8)
    for confidence, alpha in reversed(CONFIDENCE_LEVELS):  # 90 first, overwritten by stricter
        cutoff = _bh_cutoff(p, alpha) if fdr else alpha
        sig = p <= cutoff
        klass[sig] = np.sign(z[sig]).astype(np.int8) * {90: 1, 95: 2, 99: 3}[confidence]
    return GiResult(z=z, p=p, klass=klass)


def _bh_cutoff(p: np.ndarray, alpha: float) -> float:
    """Benjamini-Hochberg: the largest p(k) with p(k) <= k/m * alpha (-1 when none qualifies)."""
    m = len(p)
    ordered = np.sort(p)
    ok = ordered <= alpha * np.arange(1, m + 1) / m
    return float(ordered[np.nonzero(ok)[0][-1]]) if ok.any() else -1.0


KLASS_LABELS = {
    3: "hot spot, 99 % confidence", 2: "hot spot, 95 % confidence", 1: "hot spot, 90 % confidence",
    0: "not significant",
    -1: "cold spot, 90 % confidence", -2: "cold spot, 95 % confidence", -3: "cold spot, 99 % confidence",
}


def cell_polygon(cell: str, *, decimals: int = 5) -> list[list[float]]:
    """The closed GeoJSON ring (lon, lat) of an H3 cell, rounded to ``decimals`` (5 ≈ 1 m)."""
    return [list(p) for p in _ring(cell, decimals)]


@lru_cache(maxsize=200_000)
def _ring(cell: str, decimals: int) -> tuple[tuple[float, float], ...]:
    ring = [(round(lng, decimals), round(lat, decimals)) for lat, lng in h3.cell_to_boundary(cell)]
    return (*ring, ring[0])


@lru_cache(maxsize=200_000)
def cell_centre(cell: str, *, decimals: int = 5) -> tuple[float, float]:
    """(lat, lon) of the cell centre, rounded."""
    lat, lng = h3.cell_to_latlng(cell)
    return round(lat, decimals), round(lng, decimals)
