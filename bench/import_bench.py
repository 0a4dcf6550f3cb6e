"""Bulk import throughput: `gridmap reports import FILE` against a plain COPY of the same rows.

    GRIDMAP_DATABASE_URL=... .venv/bin/python bench/import_bench.py [--rows 200000] [--small-rows 50000]

Needs the demo city loaded (`gridmap demo load`). Writes CSVs of reports at random points
of the city's box (most inside a grid, some on the edge of the city to snap or stay
unassigned) and measures, each import in its own process (its peak RSS from wait4):
1. the import of the small file, then of the large one (reports/s; peak RSS of each: flat
   memory means the two are close);
2. the second import of the large file (adds nothing; every row "already there");
3. the ceiling: the stored rows of the large import COPYed (binary) into an unindexed
   copy of the reports table, the cost of writing the bytes alone;
4. the old path for reference: ``submit_batch`` in chunks of 5,000 on a slice of the rows.
Then deletes every report it created and vacuums, so the demo data is left as it was.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geo.db import make_engine  # noqa: E402
from geo.models import Report  # noqa: E402
from geo.reports.categories import BY_CODE, SUB_BY_CODE  # noqa: E402
from geo.reports.maintenance import purge_reports, vacuum_reports  # noqa: E402
from geo.settings import DatabaseSettings  # noqa: E402

MARK = "import-bench"
ROOT = Path(__file__).resolve().parent.parent


def sample_points(engine, n: int, *, seed: int) -> np.ndarray:
    """``n`` (lon, lat) of the demo's own reports (where a city's reports are), jittered by up
    to ±50 m: the ones at the city's edge then snap or stay unassigned, as in a real export."""
    with engine.connect() as conn:
        conn.execute(sa.select(sa.func.setseed(0.5)))
        pts = np.array(conn.execute(sa.select(sa.func.ST_X(Report.location), sa.func.ST_Y(Report.location))
                                    .order_by(sa.func.random()).limit(n)).all(), dtype=float)
    rng = np.random.default_rng(seed)
    pts = pts[rng.integers(0, len(pts), n)] + rng.uniform(-0.0005, 0.0005, (n, 2))
    return pts


def write_csv(path: Path, n: int, *, points: np.ndarray, seed: int) -> None:
    """``n`` reports at ``points`` ((n, 2) lon/lat degrees), random categories and times."""
    rng = np.random.default_rng(seed)
    cats = sorted(BY_CODE)
    subs = {c: [s for s in SUB_BY_CODE if s.startswith(c)] for c in cats}
    cat = rng.choice(cats, n)
    sub = [rng.choice(subs[c]) if subs[c] and rng.random() < 0.7 else "" for c in cat]
    base = datetime.now(UTC) - timedelta(days=30)
    when = [(base + timedelta(seconds=int(s))).isoformat() for s in rng.integers(0, 29 * 86400, n)]
    pd.DataFrame({
        "category": cat, "subcategory": sub, "description": [f"{MARK} {i}" for i in range(n)],
        "lon": points[:n, 0].round(7), "lat": points[:n, 1].round(7),
        "reported_at": when, "reporter_phone": ["1380000%04d" % (i % 10000) for i in range(n)],
    }).to_csv(path, index=False)


def run_import(path: Path) -> tuple[float, int, str]:
    """Seconds, peak RSS (MB) and the summary line of one `gridmap reports import` process."""
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "reports", "import", str(path)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - t
    summary = next((line for line in out.splitlines() if line.startswith("created")), out[-500:])
    return seconds, usage.ru_maxrss // 1024, summary


def copy_ceiling(engine, ids_where) -> tuple[int, float]:
    """Rows and seconds of a binary COPY of the stored rows into an unindexed copy of reports."""
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        cur = raw.cursor()
        cur.execute("CREATE TEMPORARY TABLE bench_copy (LIKE reports INCLUDING DEFAULTS) ON COMMIT DROP")
        buf = io.BytesIO()
        # SELECT *: the table's own column order, which its LIKE copy has.
        select = (sa.select(sa.text("*")).select_from(Report.__table__).where(ids_where)
                  .compile(conn, compile_kwargs={"literal_binds": True}))
        with cur.copy(f"COPY ({select}) TO STDOUT (FORMAT binary)") as cp:
            for block in cp:
                buf.write(block)
        t = time.perf_counter()
        with cur.copy("COPY bench_copy FROM STDIN (FORMAT binary)") as cp:
            cp.write(buf.getvalue())
        seconds = time.perf_counter() - t
        rows = cur.execute("SELECT count(*) FROM bench_copy").fetchone()[0]
    return rows, seconds


def old_path(engine, path: Path, rows: int) -> float:
    """Reports/s of submit_batch in chunks of 5,000 (what the import did before) on ``rows`` rows."""
    import uuid

    from sqlalchemy.orm import Session

    from geo.cityconfig import load_city_config
    from geo.reports.import_files import open_slices, row_input
    from geo.reports.registration import submit_batch

    config = load_city_config(None)
    crs, _, slices = open_slices(path, crs=None)
    records = next(slices).rows[:rows]
    items = [(i, row_input({**r, "description": r["description"] + " old"}, crs=crs, source="hotline_12345",
                           rid=uuid.uuid4())) for i, r in enumerate(records)]
    t = time.perf_counter()
    for start in range(0, len(items), 5000):
        with Session(engine) as session:
            submit_batch(session, items=items[start:start + 5000], config=config, now=datetime.now(UTC),
                         duplicates=False)
            session.commit()
    return len(items) / (time.perf_counter() - t)


def phases(engine, path: Path, rows: int) -> dict[str, float]:
    """µs per report of each step of ``import_slice`` on ``rows`` rows, in one transaction
    rolled back: where the time goes (the indexed INSERT is the database's share)."""
    import uuid

    from sqlalchemy.orm import Session

    from geo.boundaries.generations import hold_intake_lock
    from geo.cityconfig import load_city_config
    from geo.matching.matcher import matcher_for
    from geo.reports import bulk
    from geo.reports.import_files import open_slices, row_input
    from geo.reports.planning import plan_reports
    from geo.reports.registration import accept_items, place_reports

    config, now, clock = load_city_config(None), datetime.now(UTC), time.perf_counter
    crs, _, slices = open_slices(path, crs=None)
    records = next(slices).rows[:rows]
    took: dict[str, float] = {}
    with Session(engine) as session:
        matcher_for(session)  # built once per process; not part of a slice
        t = clock()
        items = [(i, row_input(r, crs=crs, source="hotline_12345", rid=uuid.uuid4())) for i, r in enumerate(records)]
        took["read rows"], t = clock() - t, clock()
        accepted = accept_items(items, config=config, now=now, earliest=None, outcomes={})
        took["validate+convert"], t = clock() - t, clock()
        hold_intake_lock(session)
        generation, matcher = matcher_for(session)
        placement = place_reports(session, accepted, generation=generation, matcher=matcher, config=config, now=now)
        took["match+route"], t = clock() - t, clock()
        plan = plan_reports(accepted, placement=placement, config=config, now=now)
        took["plan"], t = clock() - t, clock()
        bulk._stage(session)
        bulk._copy(session, plan.rows, plan.events)
        took["COPY to staging"], t = clock() - t, clock()
        session.connection().execute(bulk._insert_statement()).all()
        took["INSERT reports+trail"] = clock() - t
        session.rollback()
    return {k: v / len(records) * 1e6 for k, v in took.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--small-rows", type=int, default=50_000)
    parser.add_argument("--old-rows", type=int, default=20_000, help="rows through the old path (0: skip)")
    parser.add_argument("--phase-rows", type=int, default=20_000, help="rows of the per-step breakdown (0: skip)")
    args = parser.parse_args()
    engine = make_engine(DatabaseSettings(), statement_timeout=False)  # the clean-up deletes 100,000s
    with engine.connect() as conn:
        before = conn.scalar(sa.select(sa.func.count()).select_from(Report))
    print(f"demo city: {before:,} reports stored")
    points = sample_points(engine, max(args.rows, args.small_rows), seed=3)
    mark = Report.description.startswith(MARK)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            small, large = Path(tmp) / "small.csv", Path(tmp) / "large.csv"
            write_csv(small, args.small_rows, points=points[::-1], seed=1)
            write_csv(large, args.rows, points=points, seed=2)
            print(f"files: {args.small_rows:,} rows ({small.stat().st_size / 1e6:.1f} MB), "
                  f"{args.rows:,} rows ({large.stat().st_size / 1e6:.1f} MB)")
            for name, path, n in (("small", small, args.small_rows), ("large", large, args.rows)):
                seconds, rss, summary = run_import(path)
                print(f"import {name:5}: {n / seconds:10,.0f} reports/s ({seconds:.1f} s), peak RSS {rss:,} MB; {summary}")
            seconds, rss, summary = run_import(large)
            print(f"re-import   : {args.rows / seconds:10,.0f} rows/s ({seconds:.1f} s), peak RSS {rss:,} MB; {summary}")
            rows, copy_s = copy_ceiling(engine, Report.description.startswith(MARK + " "))
            print(f"COPY ceiling: {rows / copy_s:10,.0f} rows/s ({rows:,} rows in {copy_s:.1f} s, unindexed table)")
            if args.phase_rows:
                split = phases(engine, large, args.phase_rows)
                print("per step, µs/report: " + ", ".join(f"{k} {v:,.0f}" for k, v in split.items())
                      + f" (total {sum(split.values()):,.0f})")
            if args.old_rows:
                print(f"old path    : {old_path(engine, large, args.old_rows):10,.0f} reports/s "
                      f"(submit_batch × 5,000, {args.old_rows:,} rows)")
    finally:
        with engine.begin() as conn:
            gone = purge_reports(conn, where=mark)
        vacuum_reports(engine)
        print(f"cleaned up {gone:,} benchmark report(s)")


if __name__ == "__main__":
    main()
