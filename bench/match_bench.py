"""Point → grid matching: geopandas.sjoin vs GridMatcher vs a PostGIS join, on the demo city.

    .venv/bin/python bench/match_bench.py [--points-10m N]

Takes the demo reports' locations (ST_X/ST_Y, WGS-84) from GRIDMAP_DATABASE_URL, times the
three methods, checks they agree on every point, then streams 10 M points through
`gridmap match` in a subprocess and prints its peak resident memory (ru_maxrss).
"""

from __future__ import annotations

import argparse
import io
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.boundaries.export import read_areas_frame
from geo.boundaries.generations import active_generation_id
from geo.db import make_engine
from geo.matching.postgis import smallest_covering_query
from geo.matching.matcher import GridMatcher
from geo.models import AreaLevel, Report
from geo.settings import DatabaseSettings

NOT_LOADED = "the demo city is not loaded: run `make demo` (or `gridmap demo load`) first"


def load_points(session: Session) -> tuple[np.ndarray, np.ndarray]:
    rows = session.execute(sa.select(sa.func.ST_X(Report.location), sa.func.ST_Y(Report.location))).all()
    xy = np.asarray(rows, dtype=np.float64).reshape(-1, 2)
    return xy[:, 0].copy(), xy[:, 1].copy()


def by_sjoin(grids: gpd.GeoDataFrame, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=grids.crs)
    joined = gpd.sjoin(pts, grids[["code", "geometry"]], predicate="intersects", how="left")
    best = joined.groupby(level=0)["code"].min()  # several grids on a shared edge: smallest code
    return best.reindex(range(len(x))).to_numpy(dtype=object)


def by_postgis(engine: sa.Engine, x: np.ndarray, y: np.ndarray, generation: int) -> tuple[np.ndarray, float, float]:
    """(codes, seconds to COPY the points in, seconds for the single ST_Covers join)."""
    pts = sa.Table(
        "bench_points", sa.MetaData(),
        sa.Column("i", sa.Integer, primary_key=True), sa.Column("lon", sa.Float(53)), sa.Column("lat", sa.Float(53)),
        prefixes=["TEMPORARY"],
    )
    with engine.begin() as conn:
        t0 = time.perf_counter()
        pts.create(conn)
        buf = io.BytesIO()
        np.savetxt(buf, np.column_stack([np.arange(len(x)), x, y]), fmt=["%d", "%.17g", "%.17g"], delimiter="\t")
        with conn.connection.driver_connection.cursor() as cur, cur.copy("COPY bench_points (i, lon, lat) FROM STDIN") as cp:
            cp.write(buf.getvalue())
        conn.execute(sa.text("ANALYZE bench_points"))
        t_copy = time.perf_counter() - t0
        query = smallest_covering_query(pts, key=pts.c.i, lon=pts.c.lon, lat=pts.c.lat, generation=generation)
        t0 = time.perf_counter()
        out = np.full(len(x), None, dtype=object)
        for i, code in conn.execute(query):
            out[i] = code
        t_join = time.perf_counter() - t0
    return out, t_copy, t_join


def streamed_peak_rss(x: np.ndarray, y: np.ndarray, n: int, workdir: Path) -> tuple[float, float]:
    """Write ``n`` jittered copies of the points to Parquet, run `gridmap match` on it in a
    subprocess; returns (its peak RSS in MiB, wall seconds)."""
    src, out = workdir / "points_10m.parquet", workdir / "matched_10m.parquet"
    rng = np.random.default_rng(1)
    schema = pa.schema([("lon", pa.float64()), ("lat", pa.float64())])
    with pq.ParquetWriter(src, schema) as writer:
        for start in range(0, n, len(x)):
            k = min(len(x), n - start)
            jitter = rng.normal(0, 1e-4, (2, k))  # ~10 m: new points, same density as the reports
            writer.write_table(pa.table({"lon": x[:k] + jitter[0], "lat": y[:k] + jitter[1]}, schema=schema))
    cmd = [sys.executable, "-m", "cli.main", "match", "--in", str(src), "--out", str(out)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    assert pq.ParquetFile(out).metadata.num_rows == n
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, wall  # KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points-10m", type=int, default=10_000_000, help="points for the memory run (0: skip)")
    args = parser.parse_args()
    engine = make_engine(DatabaseSettings(), statement_timeout=False)
    with Session(engine) as session:
        try:
            gid = active_generation_id(session)
            n_reports = session.scalar(sa.select(sa.func.count()).select_from(Report))
        except Exception:  # no schema, no generation: either way nothing to benchmark
            n_reports = 0
        if not n_reports:
            print(NOT_LOADED)
            return 1
        x, y = load_points(session)
        grids = read_areas_frame(session, generation=gid, level=AreaLevel.grid)
        t0 = time.perf_counter()
        matcher = GridMatcher.from_session(session, generation=gid)
        t_build = time.perf_counter() - t0
    n = len(x)
    print(f"{n:,} report locations × {len(grids):,} grids (generation {gid})")
    print(f"GridMatcher build: {t_build:.2f} s  {matcher.stats}")

    t0 = time.perf_counter()
    ref = by_sjoin(grids, x, y)
    t_sjoin = time.perf_counter() - t0
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        ours = matcher.match(x, y)
        times.append(time.perf_counter() - t0)
    t_ours = min(times)
    pg, t_copy, t_join = by_postgis(engine, x, y, gid)

    print(f"geopandas.sjoin  {n / t_sjoin:>13,.0f} points/s  ({t_sjoin:.2f} s)")
    print(f"GridMatcher      {n / t_ours:>13,.0f} points/s  ({t_ours:.3f} s, best of 3)")
    print(f"PostGIS join     {n / t_join:>13,.0f} points/s  ({t_join:.2f} s; + {t_copy:.2f} s COPY in: "
          f"{n / (t_join + t_copy):,.0f} points/s)")
    print(f"ratio GridMatcher / sjoin   {t_sjoin / t_ours:6.1f}×")
    print(f"ratio GridMatcher / PostGIS {t_join / t_ours:6.1f}×  ({(t_join + t_copy) / t_ours:.1f}× with COPY)")
    agree_sjoin, agree_pg = int((ours == ref).sum()), int((ours == pg).sum())
    print(f"agreement: sjoin {agree_sjoin:,}/{n:,}, PostGIS {agree_pg:,}/{n:,}, "
          f"outside every grid {int((ours == None).sum()):,}")  # noqa: E711
    ok = agree_sjoin == n and agree_pg == n
    if args.points_10m:
        with tempfile.TemporaryDirectory() as tmp:
            rss, wall = streamed_peak_rss(x, y, args.points_10m, Path(tmp))
        print(f"`gridmap match` on {args.points_10m:,} points streamed in 1 M chunks: "
              f"peak RSS {rss:,.0f} MiB, {wall:.1f} s wall (incl. start-up, build, Parquet I/O)")
        ok = ok and rss < 2048
    engine.dispose()
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
