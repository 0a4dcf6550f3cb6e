"""gridmap batch on Dask: match throughput on the province, equality on the demo city.

    PYTHONPATH=. .venv/bin/python bench/batch_bench.py province [--points 20000000] [--workers 1,2]
    PYTHONPATH=. .venv/bin/python bench/batch_bench.py demo [--url postgresql+psycopg://…/gridmap_batch_demo]

province: the 50,000-grid province in gridmap_province (read only; `make province`). Writes
--points synthetic points (fixtures.points.province_points) as an archive of ~1 M-row monthly
parts under --archive (reused when it already holds that many), then times
  * the baseline: match_points over every point at once in this process (read, match);
  * for each worker count, a LocalCluster (processes, one thread each, 2 GiB each): shipping
    the matcher, the match stage (read parts → each worker loading the matcher and running
    match_points, results written pending) and end to end (plus the client's fallback pass
    and the results renamed into place as GeoParquet), points/s, the
    speed-up over the first worker count, and each worker's peak RSS (getrusage maxrss).
demo: a database with the demo city loaded (never gridmap itself by default): archives its
reports with gridmap reports archive's writer (incremental), then prints OK/DIFF counts of
batch match against the stored grid codes (reports matched in the active generation) and the
single-machine matcher, and of batch aggregate (per grid and per H3 res 8) against PostGIS.
"""

from __future__ import annotations

import argparse
import pickle
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from distributed import wait
from sqlalchemy.orm import Session

from geo.archive.layout import ArchiveMeta, read_meta, write_meta, write_month
from geo.archive.writer import archive_reports
from geo.batch.aggregate import aggregate_archive, equal_counts, postgis_counts
from geo.batch.engine import archive_parts, batch_client, peak_memory, read_points, ready, ship
from geo.batch.match import match_archive, result_tables, single_machine
from geo.cityconfig import load_city_config
from geo.matching.matcher import matcher_for
from geo.matching.rule import database_fallback, match_points

PROVINCE_URL = "postgresql+psycopg://gridmap:gridmap@127.0.0.1:5432/gridmap_province"
DEMO_URL = "postgresql+psycopg://gridmap:gridmap@127.0.0.1:5432/gridmap_batch_demo"
PART_ROWS = 1_000_000
GiB = 2**30


def province_archive(session: Session, root: Path, n: int, seed: int = 15) -> None:
    """``n`` province points as an archive of PART_ROWS-row months (reused when complete)."""
    meta = read_meta(root) if root.exists() else None
    if meta is not None and sum(meta.months.values()) == n:
        print(f"archive: reusing {root} ({n:,} points)")
        return
    from fixtures.points import province_points
    from geo.boundaries.export import level_frame
    from geo.boundaries.generations import active_generation_id
    from geo.models import AreaLevel

    shutil.rmtree(root, ignore_errors=True)
    t = time.perf_counter()
    grids = level_frame(session, generation=active_generation_id(session), level=AreaLevel.grid)
    months = {}
    for i, batch in enumerate(province_points(n, seed, grids=grids, batch=PART_ROWS)):
        month = f"{2010 + i // 12:04d}-{i % 12 + 1:02d}"
        lo = i * PART_ROWS
        frame = pd.DataFrame({
            "id": [f"00000000-0000-4000-8000-{k:012x}" for k in range(lo, lo + len(batch.lon))],
            "category": "30", "status": "closed", "source": "citizen",
            "reported_at": pd.Timestamp(f"{month}-15T02:00:00Z"), "h3_cell": 0, "change_seq": 0,
            "lon": batch.lon, "lat": batch.lat,
        })
        months[month] = write_month(root, month, frame)
    write_meta(root, ArchiveMeta(timezone="Asia/Shanghai", months=months))
    print(f"archive: wrote {n:,} points in {len(months)} parts to {root} in {time.perf_counter() - t:.0f} s")


def bench_province(args) -> None:
    engine = sa.create_engine(args.url or PROVINCE_URL)
    root = Path(args.archive or f"/work/scratch/batch_province_{args.points}")
    out = root.parent / (root.name + "_out")
    snap = load_city_config().snap_tolerance_m
    with Session(engine) as session:
        session.execute(sa.text("SET TRANSACTION READ ONLY"))
        province_archive(session, root, args.points)
        parts = archive_parts(root)
        t = time.perf_counter()
        cache = Path(args.matcher_cache) if args.matcher_cache else None
        if cache is not None and cache.exists():  # a dev shortcut: the province is read only
            with open(cache, "rb") as f:
                gen, matcher = pickle.load(f)
        else:
            gen, matcher = matcher_for(session)
            if cache is not None:
                with open(cache, "wb") as f:
                    pickle.dump((gen, matcher), f, protocol=pickle.HIGHEST_PROTOCOL)
        ready(matcher)
        print(f"matcher: {len(matcher.codes):,} grids, ready in {time.perf_counter() - t:.1f} s, {matcher.stats}")

        # Baseline: one process, match_points over every point at once.
        t = time.perf_counter()
        coords = [read_points(p, ["id"])[1:] for p in parts]
        lon, lat = np.concatenate([c[0] for c in coords]), np.concatenate([c[1] for c in coords])
        read_s = time.perf_counter() - t
        del coords
        t = time.perf_counter()
        base = match_points(matcher, lon, lat, fallback=database_fallback(session, generation=gen,
                                                                          snap_tolerance_m=snap))
        base_s = time.perf_counter() - t
        n = len(lon)
        base_codes = base.codes
        del lon, lat, base
        print(f"single process: read {read_s:.1f} s, match_points {base_s:.1f} s = {n / base_s:,.0f} points/s")

        first = None
        for w in args.workers:
            with batch_client(workers=w, memory_limit=args.memory_limit) as client:
                wait(client.submit(int, 0))  # the cluster is up
                t = time.perf_counter()
                with ship(matcher):
                    ship_s = time.perf_counter() - t  # pickling to the file the workers load
                t = time.perf_counter()
                stages = {}
                rows = match_archive(client, session, parts=parts, matcher=matcher, generation=gen,
                                     snap_tolerance_m=snap, out=out,
                                     progress=lambda step: stages.__setitem__(step, time.perf_counter() - t))
                match_s = stages["match"]  # the last part matched (and written pending)
                e2e_s = time.perf_counter() - t
                mem = peak_memory(client)
            codes = np.concatenate([tb.column("grid_code").to_numpy(zero_copy_only=False)
                                    for tb in result_tables(out, rows)])
            diff = int((codes != base_codes).sum())
            rate = n / match_s
            first = first or rate
            print(f"{w} worker(s): writing the matcher for the workers {ship_s:.1f} s; match (incl. loading it) {match_s:.1f} s = {rate:,.0f} points/s "
                  f"({rate / first:.2f}x of {args.workers[0]}, {base_s / match_s:.2f}x the single process); "
                  f"end to end {e2e_s:.1f} s = {n / e2e_s:,.0f} points/s; peak RSS per worker "
                  f"{', '.join(f'{m / GiB:.2f}' for m in mem.values())} GiB; "
                  f"{'OK' if diff == 0 else 'DIFF'} vs single process ({diff:,} differ)")
        shutil.rmtree(out, ignore_errors=True)


def bench_demo(args) -> None:
    engine = sa.create_engine(args.url or DEMO_URL)
    root = Path(args.archive or "/work/scratch/batch_demo_archive")
    config = load_city_config()
    with Session(engine) as session:
        # The real writer (gridmap reports archive): up to date with the database, incrementally.
        t = time.perf_counter()
        run = archive_reports(engine, out=root, config=config)
        print(f"archive: {run.rows:,} reports rewritten in {len(run.written)} months in {time.perf_counter() - t:.0f} s "
              f"(watermark {run.watermark_after:,})")
        parts = archive_parts(root)
        gen, matcher = matcher_for(session)
        with batch_client(workers=args.workers[-1], memory_limit=args.memory_limit) as client:
            t = time.perf_counter()
            out = root.parent / (root.name + "_out")
            rows = match_archive(client, session, parts=parts, matcher=matcher, generation=gen,
                                 snap_tolerance_m=config.snap_tolerance_m, out=out)
            batch = pd.concat([tb.to_pandas() for tb in result_tables(out, rows)], ignore_index=True)
            shutil.rmtree(out)
            print(f"batch match: {len(batch):,} reports in {time.perf_counter() - t:.1f} s")
            t = time.perf_counter()
            counts = {res: aggregate_archive(client, parts=parts, zone=config.timezone, res=res) for res in (None, 8)}
            print(f"batch aggregate (per grid, per H3 res 8): {time.perf_counter() - t:.1f} s")
        cols = ["id", "grid_code", "match_kind", "snap_distance_m"]
        single = single_machine(session, parts=parts, matcher=matcher, generation=gen,
                                snap_tolerance_m=config.snap_tolerance_m).to_pandas()[cols]
        a = batch[cols].set_index("id").sort_index()
        b = single.set_index("id").sort_index()
        same = ((a == b) | (a.isna() & b.isna())).all(axis=1)
        print(f"batch vs single-machine match_points: OK {int(same.sum()):,} DIFF {int((~same).sum()):,}")
        stored = pd.DataFrame(session.execute(sa.select(
            sa.cast(sa.column("id"), sa.String), sa.column("grid_code"), sa.cast(sa.column("match_kind"), sa.String))
            .select_from(sa.table("reports")).where(sa.column("generation_id") == gen)).all(),
            columns=["id", "grid_code", "match_kind"]).set_index("id")
        joined = a.join(stored, suffixes=("", "_stored"), how="inner")
        same = ((joined.grid_code == joined.grid_code_stored) | (joined.grid_code.isna() & joined.grid_code_stored.isna()))
        print(f"batch vs stored grid codes (reports matched in generation {gen}): OK {int(same.sum()):,} "
              f"DIFF {int((~same).sum()):,}")
        for res, frame in counts.items():
            t = time.perf_counter()
            ok, diff = equal_counts(frame, postgis_counts(session, zone=config.timezone, res=res), res)
            print(f"batch aggregate vs PostGIS ({'per grid' if res is None else f'H3 res {res}'}, "
                  f"{time.perf_counter() - t:.1f} s in SQL): OK {ok:,} DIFF {diff:,}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["province", "demo"])
    p.add_argument("--points", type=int, default=20_000_000, help="province: synthetic points (default 20 M)")
    p.add_argument("--workers", default="1,2", help="worker counts to time, comma-separated")
    p.add_argument("--memory-limit", default="2GiB")
    p.add_argument("--archive", help="archive folder (default under /work/scratch)")
    p.add_argument("--matcher-cache", help="province: reuse the matcher pickled at this path (built and saved when absent)")
    p.add_argument("--url", help="database URL (province: gridmap_province, demo: gridmap_batch_demo)")
    args = p.parse_args()
    args.workers = [int(w) for w in args.workers.split(",")]
    (bench_province if args.what == "province" else bench_demo)(args)


if __name__ == "__main__":
    main()
