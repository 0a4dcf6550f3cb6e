"""Latency of the Open311 reads (GET /open311/v2/...) against GET /healthz and the JSON API's
own listing (GET /api/v1/reports?limit=1000) in the same run, on the loaded demo city.

In-process (the app over a TestClient), on a read-only connection (every transaction is
READ ONLY, the rate limiter off): safe against a shared benchmark database. The requests
are interleaved so drift affects each alike. Prints p50/p90 in ms and each p50 as a multiple
of /healthz's and of the JSON listing's.

    GRIDMAP_DATABASE_URL=postgresql://gridmap:gridmap@127.0.0.1/gridmap_bench \\
        .venv/bin/python bench/open311_bench.py --rounds 30
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.ratelimit import RateLimitSettings  # noqa: E402
from api.settings import ApiSettings  # noqa: E402
from geo.db import make_engine  # noqa: E402
from geo.settings import DatabaseSettings  # noqa: E402


def read_only_engine() -> sa.Engine:
    engine = make_engine(DatabaseSettings())

    @sa.event.listens_for(engine, "connect")
    def _read_only(dbapi_conn, _record):
        with dbapi_conn.cursor() as cur:
            cur.execute("SET default_transaction_read_only = on")
        dbapi_conn.commit()

    return engine


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="requests per endpoint")
    args = parser.parse_args()
    from fastapi.testclient import TestClient

    from api.app import create_app

    engine = read_only_engine()
    with engine.connect() as conn:
        sample = conn.execute(sa.text("SELECT id FROM reports ORDER BY reported_at DESC LIMIT 1")).scalar()
    if sample is None:
        print("load the demo city first: `gridmap demo load`")
        return 1
    app = create_app(engine=engine, api_settings=ApiSettings(escalation_interval_s=0, intake_batching=False),
                     rate_settings=RateLimitSettings(enabled=False))
    urls = {
        "healthz": "/healthz",
        "api v1 list 1000": "/api/v1/reports?limit=1000",
        "open311 services.json": "/open311/v2/services.json",
        "open311 requests.json": "/open311/v2/requests.json",
        "open311 requests.xml": "/open311/v2/requests.xml",
        "open311 requests.json open 3001": "/open311/v2/requests.json?status=open&service_code=3001",
        "open311 requests/{id}.json": f"/open311/v2/requests/{sample}.json",
    }
    timings: dict[str, list[float]] = {k: [] for k in urls}
    with TestClient(app) as client:
        for url in urls.values():  # warm: the first of each builds caches
            assert client.get(url).status_code == 200, url
        for _ in range(args.rounds):
            for name, url in urls.items():
                t = time.perf_counter()
                r = client.get(url)
                timings[name].append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200, (url, r.status_code, r.text[:200])
    engine.dispose()
    base = float(np.percentile(timings["healthz"], 50))
    listing = float(np.percentile(timings["api v1 list 1000"], 50))
    print(f"{'endpoint':34} {'p50 ms':>8} {'p90 ms':>8} {'×healthz':>9} {'×v1 list':>9}")
    for name, ts in timings.items():
        p50, p90 = np.percentile(ts, 50), np.percentile(ts, 90)
        print(f"{name:34} {p50:8.1f} {p90:8.1f} {p50 / base:9.1f} {p50 / listing:9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
