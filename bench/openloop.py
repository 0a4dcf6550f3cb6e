"""An open-loop HTTP load generator: POSTs at a fixed rate, whatever the server does.

wrk keeps a fixed number of requests in flight, so a slow server is simply offered less
work and its latency percentiles describe saturation. The intake target ("1,000 reports/s
sustained with p99 <= 50 ms") is about a fixed offered rate instead, so this sends request
``i`` at ``start + i / rate`` and measures each latency from that *scheduled* time (as wrk2
does): a stalled server cannot hide its stall by delaying the requests behind it.

Runs in its own process (``python bench/openloop.py URL --rate 1000 --seconds 20``) and
prints one JSON line; ``ingest_bench.py`` starts it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
import uuid
from urllib.parse import urlsplit

import numpy as np

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
    uvloop = None

BODY = (
    '{{"id":"{id}","category":"30","subcategory":"3001","description":"load test","source":"citizen",'
    '"location":{{"lon":{lon:.6f},"lat":{lat:.6f},"crs":"wgs84"}},"reported_at":"2026-11-22T08:00:00+08:00"}}'
)


def request_bytes(host: str, path: str, rng: random.Random) -> bytes:
    body = BODY.format(id=uuid.UUID(int=rng.getrandbits(128), version=4),
                       lon=122.03 + rng.random() * 0.08, lat=41.10 + rng.random() * 0.05).encode()
    token = os.environ.get("GRIDMAP_BENCH_TOKEN")  # a system key: the bench's own rate budget
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{auth}"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    return head + body


async def read_response(reader: asyncio.StreamReader) -> int:
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def run(url: str, rate: float, seconds: float, max_connections: int, seed: int | None,
              dump: bool = False, warmup: float = 3.0) -> dict:
    parts = urlsplit(url)
    host, port, path = parts.hostname, parts.port or 80, parts.path or "/"
    rng = random.Random(seed)
    # The first ``warmup`` seconds run at the same rate but are not recorded: the generator
    # opens its connections there, not inside the measured window.
    skip = int(rate * warmup)
    total = skip + int(rate * seconds)
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    opened = 0
    latencies = np.full(total, np.nan)
    status_of = np.zeros(total, dtype=np.int32)  # 0: no answer (refused, reset, or never sent)
    in_flight = 0

    async def one(i: int, scheduled: float) -> None:  # i < skip: warm-up, not recorded
        nonlocal in_flight
        in_flight += 1
        try:
            await exchange(i, scheduled)
        finally:
            in_flight -= 1

    async def exchange(i: int, scheduled: float) -> None:
        nonlocal opened
        payload = request_bytes(f"{host}:{port}", path, rng)
        # An idle kept-alive connection may have been closed by the server meanwhile: like any
        # HTTP client, retry once on a fresh connection (the clock keeps running).
        for reused in ((True, False) if idle else (False,)):
            if reused:
                reader, writer = idle.pop()
            else:
                opened += 1
                reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(payload)
                status = await read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                writer.close()
                continue
            latencies[i] = time.perf_counter() - scheduled
            status_of[i] = status
            idle.append((reader, writer))
            return

    start = time.perf_counter() + 0.05
    tasks = []
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if in_flight >= max_connections:  # the server is this far behind: count it, do not pile on
            continue
        tasks.append(asyncio.create_task(one(i, scheduled)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - (start + warmup)
    latencies, status_of, total = latencies[skip:], status_of[skip:], total - skip
    errors = int((status_of == 0).sum())
    codes, counts = np.unique(status_of[status_of > 0], return_counts=True)
    statuses = {int(c): int(n) for c, n in zip(codes, counts, strict=True)}
    if dump:  # per-second p50/p99, to see whether slow requests cluster in time
        sec = (np.arange(total) / rate).astype(int)
        for s in range(int(seconds)):
            lat = latencies[(sec == s) & ~np.isnan(latencies)] * 1000
            if lat.size:
                print(f"second {s:3d}: n {lat.size:5d} p50 {np.percentile(lat, 50):7.1f} p99 {np.percentile(lat, 99):7.1f} "
                      f"max {lat.max():7.1f}", file=sys.stderr)
    done = latencies[~np.isnan(latencies)] * 1000
    return {
        "offered_rps": rate, "achieved_rps": len(done) / elapsed, "requests": total, "completed": int(done.size),
        "errors": errors, "statuses": statuses, "connections": opened,
        "p50_ms": float(np.percentile(done, 50)) if done.size else None,
        "p90_ms": float(np.percentile(done, 90)) if done.size else None,
        "p99_ms": float(np.percentile(done, 99)) if done.size else None,
        "max_ms": float(done.max()) if done.size else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, default=1000, help="requests per second offered")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--max-connections", type=int, default=256)
    parser.add_argument("--warmup", type=float, default=3, help="seconds at the same rate before measuring")
    parser.add_argument("--per-second", action="store_true", help="print per-second percentiles on stderr")
    parser.add_argument("--seed", type=int, default=None, help="fixed seed for repeatable ids (default: fresh ids)")
    args = parser.parse_args()
    if uvloop is not None:
        uvloop.install()
    print(json.dumps(asyncio.run(run(args.url, args.rate, args.seconds, args.max_connections, args.seed, args.per_second,
                                      args.warmup))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
