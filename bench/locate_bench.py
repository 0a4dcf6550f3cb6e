"""Latency of the dispatcher's questions: GET /api/v1/locate and /api/v1/dispatch against
GET /healthz (one database round trip) in the same run, on the demo city.

Starts `gridmap serve --workers 1` on a free loopback port and asks one request at a time
over a kept-alive connection, the three endpoints interleaved so drift in the machine
affects each alike. Points are stored report locations (inside the city, every kind of
grid). Prints p50/p90 in ms and each endpoint's p50 as a multiple of /healthz's: the
structure issue's bar is locate and dispatch within 2× of /healthz.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.serving import free_port, wait_healthy  # noqa: E402
from geo.db import make_engine  # noqa: E402
from geo.settings import DatabaseSettings  # noqa: E402


def sample_points(n: int) -> list[tuple[float, float]]:
    engine = make_engine(DatabaseSettings(), statement_timeout=False)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT ST_X(location), ST_Y(location) FROM reports TABLESAMPLE SYSTEM (1) REPEATABLE (7) LIMIT :n"
            ), {"n": n}).all()
    finally:
        engine.dispose()
    return [(float(x), float(y)) for x, y in rows]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1500, help="requests per endpoint")
    args = parser.parse_args()
    points = sample_points(args.requests)
    if len(points) < 100:
        print("load the demo city first: `make demo` (or `gridmap demo load`)")
        return 1
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # The limiter stays on (its cost is part of every answer); the budget is the bench's.
    env = {**os.environ, "GRIDMAP_PORT": str(port), "GRIDMAP_ESCALATION_INTERVAL_S": "0",
           "GRIDMAP_RATE_PUBLIC": "100000000"}
    server = subprocess.Popen([str(ROOT / ".venv" / "bin" / "gridmap"), "serve", "--workers", "1", "--no-access-log"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    timings: dict[str, list[float]] = {"healthz": [], "locate": [], "dispatch": []}
    try:
        wait_healthy(base)
        with httpx.Client(base_url=base, timeout=30) as client:
            def ask(name: str, url: str, params=None) -> None:
                t = time.perf_counter()
                r = client.get(url, params=params)
                timings[name].append((time.perf_counter() - t) * 1000)
                if r.status_code not in (200, 404):
                    raise RuntimeError(f"{url} answered {r.status_code}: {r.text[:200]}")

            for i, (lon, lat) in enumerate(points[:50]):  # warm-up: caches built, pool filled
                client.get("/healthz")
                client.get("/api/v1/locate", params={"lon": lon, "lat": lat})
                client.get("/api/v1/dispatch", params={"lon": lon, "lat": lat})
            for lon, lat in points:
                ask("healthz", "/healthz")
                ask("locate", "/api/v1/locate", {"lon": lon, "lat": lat})
                ask("dispatch", "/api/v1/dispatch", {"lon": lon, "lat": lat})
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    base_p50 = float(np.percentile(timings["healthz"], 50))
    print(f"{len(points)} requests each, one at a time, one worker")
    for name, ts in timings.items():
        p50, p90 = np.percentile(ts, 50), np.percentile(ts, 90)
        ratio = p50 / base_p50
        bar = "" if name == "healthz" else ("  (within 2×)" if ratio <= 2 else "  (OVER 2×)")
        print(f"  {name:9s} p50 {p50:6.2f} ms  p90 {p90:6.2f} ms  p50/healthz {ratio:4.2f}{bar}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
