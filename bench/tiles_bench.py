"""Vector tiles of the grids on the demo city: cached under 16 concurrent clients, uncached
from one client, features and bytes per tile, against /healthz in the same run.

Run after `gridmap demo load` (GRIDMAP_DATABASE_URL pointing at it): `python bench/tiles_bench.py`.
Starts `gridmap serve --workers 1` on a free loopback port (this checkout's code first on the
path). Tiles are the z12–z16 tiles of the city's extent that hold grids, sampled. Uncached:
each tile's first request (X-Cache: miss) from one client; cached: the same tiles again,
16 clients at once (asyncio), only hits counted. Targets (the tiles issue): cached p50 ≤ 20 ms
and p99 ≤ 100 ms; uncached p50 ≤ 50 ms at z14–z16 and ≤ 200 ms at z12.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.serving import free_port, wait_healthy  # noqa: E402
from geo.tiles.addressing import tile_of  # noqa: E402

ZOOMS = (12, 13, 14, 15, 16)
CONCURRENCY = 16


def city_tiles(bounds, z: int) -> list[tuple[int, int, int]]:
    a, b = tile_of(bounds[0], bounds[3], z), tile_of(bounds[2], bounds[1], z)
    return [(z, x, y) for x in range(a.x, b.x + 1) for y in range(a.y, b.y + 1)]


def pct(values, q) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


async def hammer(base: str, urls: list[str], total: int) -> tuple[list[float], int]:
    """``total`` requests over ``urls`` from CONCURRENCY clients; (latencies of hits in ms, misses)."""
    lat: list[float] = []
    misses = 0
    queue = list(range(total))

    async def client() -> None:
        nonlocal misses
        async with httpx.AsyncClient(base_url=base, timeout=30) as c:
            while queue:
                queue.pop()
                url = random.choice(urls)
                t = time.perf_counter()
                r = await c.get(url)
                dt = (time.perf_counter() - t) * 1000
                if r.status_code != 200:
                    raise RuntimeError(f"{url}: {r.status_code}")
                if r.headers.get("x-cache") == "hit":
                    lat.append(dt)
                else:
                    misses += 1

    await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
    return lat, misses


WRK_SCRIPT = """-- wrk: each request the next of the sampled tile URLs (one list per thread)
local urls = {%s}
local i = 0
request = function()
  i = i %% #urls + 1
  return wrk.format("GET", urls[i])
end
"""


def wrk(base: str, path: str, urls: list[str] | None, seconds: int = 10) -> dict | None:
    """p50/p99 (ms) and requests/s of ``CONCURRENCY`` connections from Debian's wrk (a C load
    generator, so the clients do not take the server's cores as Python clients do), over
    ``urls`` in turn or ``path``; None without wrk (`make bench` installs it)."""
    if shutil.which("wrk") is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT % ", ".join(f'"{u}"' for u in (urls or [path])))
    try:
        out = subprocess.run(["wrk", "-t1", f"-c{CONCURRENCY}", f"-d{seconds}s", "--latency", "-s", f.name,
                              base + path], capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(f.name)

    def ms(q: int) -> float:
        m = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"p50": ms(50), "p99": ms(99), "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "non2xx": int(errors.group(1)) if errors else 0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-zoom", type=int, default=40, help="tiles sampled per zoom")
    parser.add_argument("--requests", type=int, default=4000, help="cached requests (all clients)")
    args = parser.parse_args()
    random.seed(7)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "GRIDMAP_PORT": str(port), "GRIDMAP_ESCALATION_INTERVAL_S": "0",
           "GRIDMAP_RATE_PUBLIC": "100000000", "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    exe = Path(sys.executable).parent / "gridmap"
    server = subprocess.Popen([str(exe), "serve", "--workers", "1", "--no-access-log"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    import mapbox_vector_tile

    try:
        wait_healthy(base)
        with httpx.Client(base_url=base, timeout=60) as c:
            bounds = c.get("/tiles/grids.json").json()["bounds"]
            health = []
            for _ in range(200):
                t = time.perf_counter()
                c.get("/healthz")
                health.append((time.perf_counter() - t) * 1000)
            uncached: dict[int, list[float]] = {}
            sizes: dict[int, list[tuple[int, int]]] = {}
            chosen: list[str] = []
            for z in ZOOMS:
                candidates = city_tiles(bounds, z)
                random.shuffle(candidates)
                for zz, x, y in candidates:
                    if len(sizes.get(z, [])) >= args.per_zoom:
                        break
                    url = f"/tiles/grids/{zz}/{x}/{y}.mvt"
                    t = time.perf_counter()
                    r = c.get(url)
                    dt = (time.perf_counter() - t) * 1000
                    if not r.content:
                        continue  # outside the city (the extent is a box)
                    if r.headers.get("x-cache") == "miss":
                        uncached.setdefault(z, []).append(dt)
                    n = len(mapbox_vector_tile.decode(r.content)["grids"]["features"])
                    sizes.setdefault(z, []).append((n, len(r.content)))
                    chosen.append(url)
        single = []
        with httpx.Client(base_url=base, timeout=60) as c:
            for u in chosen:  # warm (a minute boundary since the pass above makes new keys)
                c.get(u)
            for u in chosen * 3:
                t = time.perf_counter()
                r = c.get(u)
                if r.headers.get("x-cache") == "hit":
                    single.append((time.perf_counter() - t) * 1000)
        cached, misses = asyncio.run(hammer(base, chosen, args.requests))

        async def health_under_load() -> list[float]:
            lat: list[float] = []

            async def one() -> None:
                async with httpx.AsyncClient(base_url=base, timeout=30) as hc:
                    for _ in range(60):
                        t = time.perf_counter()
                        await hc.get("/healthz")
                        lat.append((time.perf_counter() - t) * 1000)

            await asyncio.gather(*(one() for _ in range(CONCURRENCY)))
            return lat

        health_conc = asyncio.run(health_under_load())
        for u in chosen:  # a minute boundary may have passed: warm again before the wrk runs
            httpx.get(base + u, timeout=60)
        wrk_tiles = wrk(base, chosen[0], chosen)
        wrk_health = wrk(base, "/healthz", None)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)

    h50 = pct(health, 50)
    print(f"/healthz, one client: p50 {h50:.2f} ms, p99 {pct(health, 99):.2f} ms")
    print(f"/healthz, {CONCURRENCY} clients: p50 {pct(health_conc, 50):.2f} ms, p99 {pct(health_conc, 99):.2f} ms")
    print(f"cached grid tiles z12–z16, {CONCURRENCY} clients, {len(cached)} hits ({misses} misses dropped): "
          f"p50 {pct(cached, 50):.2f} ms (target ≤ 20), p99 {pct(cached, 99):.2f} ms (target ≤ 100)")
    print(f"cached grid tiles, one client: p50 {pct(single, 50):.2f} ms, p99 {pct(single, 99):.2f} ms "
          f"({len(single)} hits); p50/healthz {pct(single, 50) / h50:.2f}")
    print(f"cached under load vs /healthz under the same load: p50 ratio {pct(cached, 50) / pct(health_conc, 50):.2f}")
    if wrk_tiles is not None:
        print(f"wrk, {CONCURRENCY} connections: cached grid tiles p50 {wrk_tiles['p50']:.2f} ms (target ≤ 20), "
              f"p99 {wrk_tiles['p99']:.2f} ms (target ≤ 100), {wrk_tiles['rps']:.0f}/s, non-2xx {wrk_tiles['non2xx']}; "
              f"/healthz p50 {wrk_health['p50']:.2f} ms, p99 {wrk_health['p99']:.2f} ms, {wrk_health['rps']:.0f}/s; "
              f"p50 ratio {wrk_tiles['p50'] / wrk_health['p50']:.2f}")
    deep = [v for z in (14, 15, 16) for v in uncached.get(z, [])]
    print(f"uncached, one client: z14–z16 p50 {pct(deep, 50):.1f} ms (target ≤ 50, {len(deep)} tiles); "
          f"z12 p50 {pct(uncached.get(12, []), 50):.1f} ms (target ≤ 200, {len(uncached.get(12, []))} tiles)")
    for z in ZOOMS:
        rows = sizes.get(z, [])
        if not rows:
            continue
        feats, nbytes = zip(*rows)
        print(f"  z{z}: uncached p50 {pct(uncached.get(z, []), 50):6.1f} ms  features/tile mean {np.mean(feats):6.1f} "
              f"max {max(feats):4d}  bytes/tile mean {np.mean(nbytes):8.0f} max {max(nbytes):7d}  ({len(rows)} tiles)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
