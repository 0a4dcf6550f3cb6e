"""Map pages on the loaded demo city vs a naive folium HeatMap of every raw report point.

Run after `gridmap demo load` (1 M reports): `python bench/maps_bench.py`. One run of the
baseline; our pages are timed cold (first build: caches empty) and warm (median of 3).
Prints build seconds and page bytes, and the ratios ours / naive.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta

import folium
import sqlalchemy as sa
from folium.plugins import HeatMap
from sqlalchemy.orm import Session

from geo.analytics.analysis import analyse_hotspots, command_center_data, public_hexes
from geo.boundaries.generations import active_generation_id
from geo.cityconfig import load_city_config
from geo.db import make_engine
from geo.models import Report
from geo.runtime import settle_heap
from geo.settings import DatabaseSettings
from maps.base import render
from maps.command_center import LiveSources, build_command_center
from maps.hotspots import build_embed, build_hotspots
from maps.settings import MapSettings

LIMIT_S, LIMIT_BYTES = 0.5, 1_500_000


def timed(fn, runs: int = 3) -> tuple[float, float, int]:
    """(cold seconds, warm median seconds, page bytes)."""
    times, size = [], 0
    for i in range(runs + 1):
        t = time.perf_counter()
        size = len(fn().encode())
        times.append(time.perf_counter() - t)
        if i == 0:
            settle_heap()  # as the server does after its start-up warm-up
    return times[0], statistics.median(times[1:]), size


def main() -> None:
    settle_heap()  # as the server does once started: imported modules leave the GC's sight
    settings = MapSettings()
    engine = make_engine(DatabaseSettings(), statement_timeout=False)
    with Session(engine) as s:
        n = s.scalar(sa.select(sa.func.count()).select_from(Report))
        gid = active_generation_id(s)
        print(f"reports in the database: {n:,}")

        def hotspots(**kw):
            a = analyse_hotspots(s, generation=gid, label="all", categories=None,
                                 max_cells=settings.hex_max_cells, zone=load_city_config().timezone, **kw)
            return render(build_hotspots(a, settings=settings))[0]

        def embed():
            p = public_hexes(s, generation=gid, label="all", categories=None)
            return render(build_embed(p, settings=settings))[0]

        def command_center():
            d = command_center_data(s, generation=gid, now=datetime.now(UTC))
            m = build_command_center(areas=d.areas, heat=d.heat, live=LiveSources("/r", "/w"), bounds=d.bounds,
                                     settings=settings)
            return render(m)[0]

        latest = s.scalar(sa.select(sa.func.max(Report.reported_at)))
        rows = [
            ("hot-spot page, 12 weeks", timed(hotspots)),
            ("hot-spot page, all history", timed(lambda: hotspots(since=latest - timedelta(days=800)))),
            ("public embed, 12 weeks", timed(embed)),
            ("command centre", timed(command_center)),
        ]

        t0 = time.perf_counter()
        pts = s.execute(sa.select(sa.func.ST_Y(Report.location), sa.func.ST_X(Report.location))).all()
        fetch = time.perf_counter() - t0
    t1 = time.perf_counter()
    m = folium.Map(location=[41.1, 122.0], zoom_start=10)
    HeatMap([[lat, lon] for lat, lon in pts]).add_to(m)
    naive_html = m.get_root().render()
    naive_s, naive_bytes = time.perf_counter() - t1, len(naive_html.encode())

    print(f"naive folium HeatMap of {len(pts):,} raw points: build {naive_s:.2f} s (+ {fetch:.2f} s to fetch), "
          f"page {naive_bytes / 1e6:.1f} MB")
    print(f"{'page':32} {'cold s':>7} {'warm s':>7} {'MB':>6} {'time/naive':>11} {'size/naive':>11}  limits")
    for name, (cold, warm, size) in rows:
        ok = "ok" if warm <= LIMIT_S and size <= LIMIT_BYTES else "OVER"
        ok = ok if name.startswith("hot-spot") else ("ok" if size <= LIMIT_BYTES else "OVER")
        if "all history" in name and ok == "OVER":
            ok += " (a custom window: it scans every report in it)"
        print(f"{name:32} {cold:7.3f} {warm:7.3f} {size / 1e6:6.2f} {warm / naive_s:11.3f} "
              f"{size / naive_bytes:11.4f}  {ok}")


if __name__ == "__main__":
    main()
