"""The serving database as history grows: the same requests on 1 M and on 20 M reports.

    .venv/bin/python bench/history_bench.py [--rounds 4] [--runs 15]

`make bench-history` makes the two databases first (gridmap_history_1m: the demo city;
gridmap_history_20m: the demo city and 19 copies of its two years further back, bench/history_load.py)
and runs this. Both are served in this one process by two apps (api.app.create_app, one engine each),
alternating 1 M, 20 M, 1 M, 20 M ... each round so the shared machine's noise falls on both.
Measured per database, median over rounds of each round's median:
- single intake: POST /api/v1/reports through the app (a new id, a point where the demo has reports);
- the 12-week hot-spot page and the command centre, built and rendered as bench/maps_bench.py does;
- the listings: GET /api/v1/reports newest first, the open cases, one category in one district
  over the last 12 weeks, and the next page through the `next` link.
Prints each figure at 1 M and 20 M, the ratio and the 1.25x bar. Removes the reports it filed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from api.app import create_app  # noqa: E402
from api.settings import ApiSettings  # noqa: E402
from geo.analytics.analysis import analyse_hotspots, command_center_data  # noqa: E402
from geo.boundaries.generations import active_generation_id  # noqa: E402
from geo.cityconfig import load_city_config  # noqa: E402
from geo.db import make_engine  # noqa: E402
from geo.models import Report  # noqa: E402
from geo.reports.maintenance import purge_reports, vacuum_reports  # noqa: E402
from geo.runtime import settle_heap  # noqa: E402
from geo.settings import DatabaseSettings  # noqa: E402
from maps.base import render  # noqa: E402
from maps.command_center import LiveSources, build_command_center  # noqa: E402
from maps.hotspots import build_hotspots  # noqa: E402
from maps.settings import MapSettings  # noqa: E402

BAR = 1.25
MARK = "bench-history"  # the description of every report this script files
TOKEN = "bench-history-staff"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BASE = "postgresql+psycopg://gridmap:gridmap@127.0.0.1:5432/"


class Served:
    """One database: its engine, an in-process app over it and the figures' callables."""

    def __init__(self, name: str, url: str, points: list[tuple[float, float]]):
        self.name, self.points, self.i = name, points, 0
        self.engine = make_engine(DatabaseSettings(url=url), statement_timeout=False)
        self.app = create_app(engine=self.engine, api_settings=ApiSettings(
            staff_tokens=TOKEN, escalation_interval_s=0, token_cache_s=300))
        self.client = TestClient(self.app).__enter__()
        self.settings = MapSettings()
        with Session(self.engine) as s:
            self.reports = s.scalar(sa.select(sa.func.count()).select_from(Report))
            self.gid = active_generation_id(s)
            self.district = s.scalar(sa.select(sa.func.substr(Report.grid_code, 1, 9)).where(
                Report.grid_code.is_not(None)).order_by(Report.reported_at.desc()).limit(1))
        self.zone = load_city_config().timezone

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self.engine.dispose()

    def intake(self) -> None:
        lon, lat = self.points[self.i % len(self.points)]
        self.i += 1
        body = {"id": str(uuid.uuid4()), "category": "30", "subcategory": "3001", "description": MARK,
                "source": "citizen", "location": {"lon": lon, "lat": lat},
                "reported_at": datetime.now(UTC).isoformat()}
        r = self.client.post("/api/v1/reports", json=body, headers=AUTH)
        assert r.status_code == 201, r.text

    def hotspots(self) -> None:
        with Session(self.engine) as s:
            a = analyse_hotspots(s, generation=self.gid, label="all", categories=None,
                                 max_cells=self.settings.hex_max_cells, zone=self.zone)
            render(build_hotspots(a, settings=self.settings))

    def command_center(self) -> None:
        with Session(self.engine) as s:
            d = command_center_data(s, generation=self.gid, now=datetime.now(UTC))
            render(build_command_center(areas=d.areas, heat=d.heat, live=LiveSources("/r", "/w"), bounds=d.bounds,
                                        settings=self.settings))

    def listing(self, query: str) -> dict:
        r = self.client.get(f"/api/v1/reports?{query}", headers=AUTH)
        assert r.status_code == 200, r.text
        return r.json()

    def listing_next(self) -> None:
        first = self.listing("limit=50")
        r = self.client.get(first["next"], headers=AUTH)
        assert r.status_code == 200, r.text

    def cleanup(self) -> int:
        with self.engine.begin() as conn:
            removed = purge_reports(conn, where=Report.description == MARK)
        vacuum_reports(self.engine)
        return removed


def figures(db: Served) -> dict[str, callable]:
    since = (datetime.now(UTC) - timedelta(weeks=12)).date().isoformat()
    return {
        "single intake (POST /api/v1/reports)": db.intake,
        "hot-spot page, 12 weeks": db.hotspots,
        "command centre": db.command_center,
        "listing: newest 50": lambda: db.listing("limit=50"),
        "listing: open cases (dispatched)": lambda: db.listing("status=dispatched&limit=50"),
        f"listing: one category in district, since {since}":
            lambda: db.listing(f"area={db.district}&category=30&since={since}&limit=50"),
        "listing: second page (next link)": db.listing_next,
    }


def timed(fn, runs: int) -> float:
    """Median milliseconds of ``runs`` calls (after one untimed warm-up call)."""
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def demo_points(url: str, n: int = 400) -> list[tuple[float, float]]:
    """Points where the demo has recent reports (the same ones for both databases)."""
    engine = make_engine(DatabaseSettings(url=url), statement_timeout=False)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(sa.func.ST_X(Report.location), sa.func.ST_Y(Report.location))
                            .order_by(Report.reported_at.desc()).limit(n)).all()
    engine.dispose()
    return [(float(x), float(y)) for x, y in rows]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", default=os.environ.get("GRIDMAP_HISTORY_1M", BASE + "gridmap_history_1m"))
    parser.add_argument("--large", default=os.environ.get("GRIDMAP_HISTORY_20M", BASE + "gridmap_history_20m"))
    parser.add_argument("--rounds", type=int, default=4, help="ABAB rounds")
    parser.add_argument("--runs", type=int, default=5, help="timed calls per figure per round")
    parser.add_argument("--only", default="", help="run only the figures whose name contains this")
    args = parser.parse_args()
    settle_heap()
    points = demo_points(args.small)
    dbs = [Served("1 M", args.small, points), Served("20 M", args.large, points)]
    for db in dbs:
        size = db.engine.connect().scalar(sa.select(sa.func.pg_size_pretty(sa.func.pg_database_size(
            sa.func.current_database()))))
        print(f"{db.name}: {db.reports:,} reports, database {size}")
    names = [n for n in figures(dbs[0]) if args.only in n]
    got: dict[tuple[str, str], list[float]] = {}
    try:
        for r in range(args.rounds):
            for db in dbs if r % 2 == 0 else dbs[::-1]:
                for name, fn in figures(db).items():
                    if name in names:
                        got.setdefault((db.name, name), []).append(timed(fn, args.runs))
            print(f"round {r + 1}/{args.rounds} done", flush=True)
    finally:
        for db in dbs:
            print(f"{db.name}: removed {db.cleanup()} reports this run filed")
            db.close()
    print(f"\n{'figure (median ms)':58} {'1 M':>9} {'20 M':>9} {'ratio':>7}  bar {BAR}x")
    worst = 0.0
    for name in names:
        a, b = (statistics.median(got[(db.name, name)]) for db in dbs)
        worst = max(worst, b / a)
        print(f"{name:58} {a:9.1f} {b:9.1f} {b / a:6.2f}x  {'ok' if b / a <= BAR else 'OVER'}")
    print(f"\nworst ratio {worst:.2f}x ({'within' if worst <= BAR else 'over'} the {BAR}x bar)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
