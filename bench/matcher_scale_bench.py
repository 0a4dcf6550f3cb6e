"""GridMatcher at city, province and 40× province scale: build time, memory, raster, points/s.

    PYTHONPATH=. .venv/bin/python bench/matcher_scale_bench.py [--points N] [--cache DIR]
        [--only demo,province,x40,...]

No database: the grids come from the fixtures' generators (fixtures.city.generate_city with the
demo's spec, fixtures.province.generate_province), cached as GeoParquet in ``--cache`` so a
re-run skips the ~1 min of generation. Points come from fixtures.points.province_points (each
grid drawn by households + 1, then uniform in it), the same generator for every scenario.

Each scenario runs in its own subprocess so its peak RSS (ru_maxrss) is its own:

* ``demo`` / ``province``: the matcher as the service builds it (10 m cells, capped at
  DEFAULT_MAX_CELLS).
* ``x40-sim``: what a territory 40× the province (≈ 1.4 M km², ~2 M grids of the province's
  density) gets: at the cap its cells are √40 × the province's. Same raster size as the
  province, same grids per cell and mixed-cell share as the 40× territory: built as the province
  with ``max_cells = DEFAULT_MAX_CELLS / 40``.
* ``x4-tiled``: 4 shifted copies of the province side by side (200,000 grids, a real build)
  at the cap, to check that the simulated scenario predicts what a larger territory costs.
* ``region``: the province's grids in a 60 km square at its centre, at 10 m: one matcher of a
  per-region design (regions the demo's size), its cost per region.
* ``<scenario>+sub``: the same with ``sub_m=10`` (10 m sub-cells in mixed cells, f a power of
  two, within the default budget of sub-cells; x40-sim+sub gets 1/40 of it, as its raster).
* ``two-level-sim``: the region's grids under a 123 m coarse raster (the 40× territory's cell) with
  10 m sub-cells looked up only in mixed coarse cells: the points/s a two-level raster would give
  at 40× (see docs/README.matcher.md), against the coarse and the 10 m raster alone.
* ``sub-check``: the region at 123 m with and without sub-cells: asserts equal codes and kinds
  on random points plus every vertex and edge midpoint.
* ``province-<m>m`` / ``demo-<m>m``: its cell forced to ``m`` metres, uncapped (points/s
  against cell size: the share of points in mixed cells is what costs).

Prints one table; timings are noisy on a shared machine: compare the rows of one run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from geo.units import M_PER_DEG_LAT, M_PER_DEG_LON_EQ

HERE = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = Path("/tmp/gridmap_matcher_bench")
REGION_KM = 60.0  # a region of the per-region design: 3,600 km², about the demo city's bounding box
SCENARIOS = ("demo", "province", "x40-sim", "x4-tiled", "region", "province-20m", "province-50m", "province-120m")


def _grids(cache: Path, which: str) -> gpd.GeoDataFrame:
    """Grid rows (code, households, geometry) of the demo city or the province, cached."""
    path = cache / f"{which}.parquet"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        if which == "demo":
            from fixtures.city import CitySpec, generate_city
            frame = generate_city(CitySpec())
        else:
            from fixtures.province import generate_province
            frame = generate_province()
        frame[frame["level"] == "grid"][["code", "households", "geometry"]].to_parquet(path)
    return gpd.read_parquet(path)


def _tiled(grids: gpd.GeoDataFrame, copies: int) -> gpd.GeoDataFrame:
    """``copies`` copies of the grids side by side (columns of 2), codes prefixed by the copy."""
    minx, miny, maxx, maxy = grids.total_bounds
    w, h = (maxx - minx) * 1.01, (maxy - miny) * 1.01
    parts = []
    for k in range(copies):
        g = grids.copy()
        g["geometry"] = shapely.transform(g.geometry.to_numpy(), lambda xy, k=k: xy + [(k % 2) * w, (k // 2) * h])
        g["code"] = [f"{k:02d}{c}" for c in g["code"]]
        parts.append(g)
    return gpd.GeoDataFrame(np.concatenate([p.to_numpy() for p in parts]), columns=grids.columns,
                            geometry="geometry", crs=grids.crs)


def _region(grids: gpd.GeoDataFrame, side_km: float) -> gpd.GeoDataFrame:
    """The grids whose centroid lies in a ``side_km`` square at the province's centre: one
    region of a per-region design, sized like the demo city."""
    minx, miny, maxx, maxy = grids.total_bounds
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    hy = side_km * 500 / M_PER_DEG_LAT
    hx = side_km * 500 / (M_PER_DEG_LON_EQ * np.cos(np.radians(cy)))
    c = shapely.centroid(grids.geometry.to_numpy())
    x, y = shapely.get_x(c), shapely.get_y(c)
    return grids[(abs(x - cx) <= hx) & (abs(y - cy) <= hy)].reset_index(drop=True)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def run_two_level_sim(n_points: int, cache: Path, coarse_m: float = 123.0) -> dict:
    """What a two-level raster would match per second at the 40× territory's coarse cell, on the
    region's grids: the coarse raster answers pure coarse cells; a point in a mixed coarse cell
    looks its 10 m sub-cell up (here: the 10 m matcher's raster); only a point in a mixed sub-cell
    is tested exactly, against the *coarse* cell's candidates (as the design says). Uses the
    matchers' private arrays on purpose: it times a structure that does not exist yet."""
    from fixtures.points import province_points
    from geo.matching.matcher import _MIXED, GridMatcher

    grids = _region(_grids(cache, "province"), REGION_KM)
    codes, geoms = grids["code"].to_numpy(), grids.geometry.to_numpy()
    b = [(p.lon, p.lat) for p in province_points(n_points, 7, grids=grids)]
    lon, lat = np.concatenate([p[0] for p in b]), np.concatenate([p[1] for p in b])
    coarse = GridMatcher.from_frame(codes, geoms, cell_m=coarse_m)
    fine = GridMatcher.from_frame(codes, geoms, cell_m=10.0)

    def lin(m, x, y):
        r = m._r
        return ((y - r.y0) * r.ky).astype(np.int64) * r.nx + ((x - r.x0) * r.kx).astype(np.int64)

    def two_level(x, y):  # every point is on both rasters: they are drawn inside the grids
        lc = lin(coarse, x, y)
        out = coarse._raster[lc].astype(np.int32)
        mixed = np.flatnonzero(out == _MIXED)
        sub = fine._raster[lin(fine, x[mixed], y[mixed])].astype(np.int32)
        exact = sub == _MIXED
        sub[exact] = coarse._exact(lc[mixed[exact]], x[mixed[exact]], y[mixed[exact]])
        out[mixed] = sub
        return out, exact.sum()

    ref = coarse.match_indices(lon, lat)
    got, n_exact = two_level(lon, lat)
    assert (got == ref).all(), "two-level answers differ"
    rates = {}
    for name, fn in (("coarse", coarse.match_indices), ("fine", fine.match_indices), ("two", two_level)):
        fn(lon[:100_000], lat[:100_000])
        c0 = time.process_time()
        fn(lon, lat)
        rates[name] = round(lon.size / (time.process_time() - c0))
    return {"scenario": "two-level-sim", "grids": len(codes), "coarse_cell_m": coarse.stats["cell_m"],
            "mixed_coarse_share": round(float((coarse._raster[lin(coarse, lon, lat)] == _MIXED).mean()), 4),
            "exact_share": round(float(n_exact / lon.size), 4), "sub_raster_mb_if_int8": round(
                coarse.stats["mixed_cells"] * int(np.ceil(coarse_m / 10.0)) ** 2 / 2**20),
            "points_per_cpu_s_coarse_only": rates["coarse"], "points_per_cpu_s_fine_only": rates["fine"],
            "points_per_cpu_s_two_level": rates["two"]}


def run_sub_check(n_points: int, cache: Path) -> dict:
    """The region's grids at 123 m cells with and without sub-cells (``sub_m`` 10 and 40): the
    same codes and ``match_points`` kinds on random points plus every vertex and edge midpoint."""
    from fixtures.points import province_points
    from geo.matching.matcher import GridMatcher
    from geo.matching.rule import MatchOutcome, match_points
    from geo.models import MatchKind

    grids = _region(_grids(cache, "province"), REGION_KM)
    codes, geoms = grids["code"].to_numpy(), grids.geometry.to_numpy()
    b = [(p.lon, p.lat) for p in province_points(n_points, 11, grids=grids)]
    xy, ring = shapely.get_coordinates(shapely.get_rings(shapely.get_parts(geoms)), return_index=True)
    same = np.flatnonzero(ring[1:] == ring[:-1])
    mid = (xy[same] + xy[same + 1]) / 2
    x = np.concatenate([p[0] for p in b] + [xy[:, 0], mid[:, 0]])
    y = np.concatenate([p[1] for p in b] + [xy[:, 1], mid[:, 1]])

    def unassigned(lon, lat):
        return [MatchOutcome(MatchKind.unassigned, 1)] * len(lon)

    ref = match_points(GridMatcher.from_frame(codes, geoms, cell_m=123.0), x, y, fallback=unassigned)
    out = {"scenario": "sub-check", "points": int(x.size)}
    for sub_m in (10.0, 40.0):
        m = GridMatcher.from_frame(codes, geoms, cell_m=123.0, sub_m=sub_m)
        got = match_points(m, x, y, fallback=unassigned)
        assert (got.codes == ref.codes).all() and (got.kinds == ref.kinds).all(), f"sub_m={sub_m} differs"
        out[f"sub_m={sub_m:g}"] = f"f={m.stats['sub']}, equal"
    return out


def run_one(name: str, n_points: int, cache: Path) -> dict:
    """Build the scenario's matcher and time it on ``n_points`` points (in this process)."""
    from fixtures.points import province_points
    from geo.matching.matcher import DEFAULT_MAX_CELLS, DEFAULT_MAX_SUB_CELLS, GridMatcher

    if name == "two-level-sim":
        return run_two_level_sim(n_points, cache)
    if name == "sub-check":
        return run_sub_check(n_points, cache)

    grids = _grids(cache, "demo" if name.startswith("demo") else "province")
    kwargs: dict = {}
    if name.endswith("+sub"):  # sub-cells of 10 m in mixed cells, within the default budget
        kwargs["sub_m"] = 10.0
        name = name[: -len("+sub")]
        if name == "x40-sim":  # the budget a 40× territory gets, scaled like its raster
            kwargs["max_sub_cells"] = DEFAULT_MAX_SUB_CELLS // 40
    if name == "x40-sim":
        kwargs["max_cells"] = DEFAULT_MAX_CELLS // 40
    elif name.startswith(("province-", "demo-")):
        kwargs["cell_m"] = float(name.split("-")[1].rstrip("m"))
        kwargs["max_cells"] = 10**12
    elif name == "x4-tiled":
        grids = _tiled(grids, 4)
    elif name == "region":
        grids = _region(grids, REGION_KM)
    codes, geoms = grids["code"].to_numpy(), grids.geometry.to_numpy()
    pts = [(b.lon, b.lat) for b in province_points(n_points, 7, grids=grids)]
    lon = np.concatenate([p[0] for p in pts])
    lat = np.concatenate([p[1] for p in pts])
    del pts
    rss0 = _rss_mb()
    tracemalloc.start()
    t0, c0 = time.perf_counter(), time.process_time()
    m = GridMatcher.from_frame(codes, geoms, **kwargs)
    build_s, build_cpu = time.perf_counter() - t0, time.process_time() - c0
    np_kept, np_peak = (v / 2**20 for v in tracemalloc.get_traced_memory())
    tracemalloc.stop()
    rss_kept = _rss_mb() - rss0
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    m.match_indices_near(lon[:100_000], lat[:100_000])  # warm the caches once
    best = best_cpu = float("inf")
    for _ in range(2):
        t0, c0 = time.perf_counter(), time.process_time()
        idx, near = m.match_indices_near(lon, lat)
        best, best_cpu = min(best, time.perf_counter() - t0), min(best_cpu, time.process_time() - c0)
    return {
        "scenario": name + ("+sub" if "sub_m" in kwargs else ""), "grids": len(codes), "sub": m.stats["sub"],
        "sub_mb": m.stats["sub_mb"], "build_s": round(build_s, 2), "build_cpu_s": round(build_cpu, 2),
        "np_peak_mb": round(np_peak), "np_kept_mb": round(np_kept), "rss_kept_mb": round(rss_kept),
        "peak_rss_mb": round(peak_rss), "cells": m.stats["cells"], "cell_m": m.stats["cell_m"],
        "mixed_cells": m.stats["mixed_cells"], "near_share": round(float(near.mean()), 4),
        "unmatched": int((idx < 0).sum()), "points": int(lon.size), "points_per_s": round(lon.size / best),
        "points_per_cpu_s": round(lon.size / best_cpu),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=2_000_000, help="points matched per scenario")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the generated grids are cached")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one scenario, print JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.points, args.cache)))
        return 0
    rows = []
    for name in args.only.split(","):
        out = subprocess.run([sys.executable, __file__, "--one", name, "--points", str(args.points),
                              "--cache", str(args.cache)], check=True, capture_output=True, text=True, cwd=HERE)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    for special in ("two-level-sim", "sub-check"):
        for r in rows:
            if r["scenario"] == special:
                print(json.dumps(r))
        rows = [r for r in rows if r["scenario"] != special]
    if not rows:
        return 0
    cols = ("scenario", "grids", "sub", "sub_mb", "build_s", "build_cpu_s", "peak_rss_mb", "rss_kept_mb", "np_peak_mb", "np_kept_mb", "cells",
            "cell_m", "mixed_cells", "near_share", "points_per_s", "points_per_cpu_s")
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(f"{r[c]:,}" if isinstance(r[c], int) else str(r[c]) for c in cols))
    base = next((r for r in rows if r["scenario"] == "demo"), None)
    if base:
        for r in rows:
            print(f"{r['scenario']}: {r['points_per_s'] / base['points_per_s']:.2f}× the demo's points/s "
                  f"(CPU time: {r['points_per_cpu_s'] / base['points_per_cpu_s']:.2f}×)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
