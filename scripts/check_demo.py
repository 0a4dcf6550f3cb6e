"""Acceptance checks on the loaded full demo city (run after `make demo` loaded it):

counts per level, exact tiling, ≥ 1 M reports, locate == shapely (covers + smallest code) on
random and shared-vertex points, and every grid reachable through API paging.

    .venv/bin/python scripts/check_demo.py [--points 2000]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import shapely
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.app import create_app
from geo.boundaries.export import read_areas_frame
from geo.boundaries.generations import active_generation_id
from geo.boundaries.topology import check_hierarchy
from geo.db import make_engine
from geo.errors import OutsideJurisdiction
from geo.matching.rule import locate
from geo.models import AreaLevel, Report
from geo.settings import DatabaseSettings

EXPECTED = {"city": 1, "district": 4, "street": 48, "community": 538, "grid": 4642}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=2000)
    args = parser.parse_args()
    engine = make_engine(DatabaseSettings(), statement_timeout=False)
    failures: list[str] = []
    with Session(engine) as db:
        gid = active_generation_id(db)
        t = time.perf_counter()
        report = check_hierarchy(db, generation=gid)
        print(f"topology ({time.perf_counter() - t:.1f} s): counts {report.counts}")
        if report.counts != EXPECTED:
            failures.append(f"counts {report.counts} != {EXPECTED}")
        failures += report.problems
        n_reports = db.scalar(sa.select(sa.func.count()).select_from(Report))
        print(f"reports: {n_reports:,}")
        if n_reports < 1_000_000:
            failures.append(f"only {n_reports:,} reports")

        frame = read_areas_frame(db, generation=gid, level=AreaLevel.grid)
        codes = np.asarray(frame["code"])
        geoms = np.asarray(frame.geometry)
        tree = shapely.STRtree(geoms)
        rng = np.random.default_rng(1)
        minx, miny, maxx, maxy = shapely.total_bounds(geoms)
        random_pts = np.column_stack([rng.uniform(minx, maxx, args.points), rng.uniform(miny, maxy, args.points)])
        coords = np.vstack([shapely.get_coordinates(g) for g in geoms])
        vertex_pts = coords[rng.choice(len(coords), size=args.points, replace=False)]
        for label, pts in (("random", random_pts), ("vertex", vertex_pts)):
            bad = edge = 0
            t = time.perf_counter()
            for x, y in pts:
                pt = shapely.Point(x, y)
                hits = [codes[i] for i in tree.query(pt, predicate="covered_by")]
                want = min(hits) if hits else None
                try:
                    m = locate(db, lon=float(x), lat=float(y))
                    got, edge = m.grid_code, edge + (m.kind == "edge")
                except OutsideJurisdiction:
                    got = None
                bad += got != want
            rate = len(pts) / (time.perf_counter() - t)
            print(f"locate vs shapely on {len(pts)} {label} points: {bad} mismatches, {edge} edge ties, {rate:.0f} lookups/s")
            if bad:
                failures.append(f"{bad} {label} mismatches")

    with TestClient(create_app(engine=engine)) as client:
        seen, url = [], "/api/v1/grids?limit=1000"
        while url:
            body = client.get(url).json()
            seen += [f["id"] for f in body["features"]]
            url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    print(f"API paging: {len(seen):,} grids, {len(set(seen)):,} distinct")
    if len(set(seen)) != EXPECTED["grid"] or len(seen) != len(set(seen)):
        failures.append("paging did not return every grid exactly once")

    engine.dispose()
    for f in failures:
        print(f"FAIL {f}")
    print("all demo checks passed" if not failures else f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
