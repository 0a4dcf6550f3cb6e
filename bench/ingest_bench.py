"""Ingest throughput: single-report HTTP intake at a fixed rate and flat out, and the batch endpoint.

    .venv/bin/python bench/ingest_bench.py [--seconds 20] [--rate 1000] [--connections 32]

Needs the demo city loaded (`make demo` or `gridmap demo load`) and Debian's `wrk`
(installed by `make bench`). Starts `gridmap serve --workers 2` on a free loopback port and
warms it up, then measures, each from a second process:
1. the target: reports offered at a fixed ``--rate`` by bench/openloop.py (open loop: latency
   counted from each request's scheduled time, so stalls cannot hide);
2. the ceiling: wrk flat out with ``--connections`` (bench/intake.lua: a fresh id and a random
   point per request), and the same requests refused with 422 before any database work as the
   baseline of this machine's HTTP + validation;
3. the batch endpoint: 10,000-report batches from this process.
Then deletes every report it created and vacuums, so the demo data is left as it was.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.serving, run as a script

from bench.serving import free_port, wait_healthy  # noqa: E402
from geo.db import make_engine  # noqa: E402
from geo.models import Report  # noqa: E402
from geo.reports.maintenance import purge_reports, vacuum_reports  # noqa: E402
from geo.settings import DatabaseSettings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MARK = "bench-ingest"  # description of every report this script creates (intake.lua says "load test")


def run_wrk(url: str, seconds: int, connections: int, script: Path = ROOT / "bench" / "intake.lua") -> dict:
    token = os.environ.get("GRIDMAP_BENCH_TOKEN")
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
         *(["-H", f"Authorization: Bearer {token}"] if token else []), url],
        capture_output=True, text=True, check=True,
    ).stdout
    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": pct(50), "p99": pct(99), "non2xx": int(errors.group(1)) if errors else 0, "raw": out}


def run_openloop(url: str, rate: float, seconds: int) -> dict:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "openloop.py"), url, "--rate", str(rate),
                          "--seconds", str(seconds)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def batch_bodies(n_batches: int, size: int) -> list[dict]:
    rng = np.random.default_rng(7)
    now = datetime.now(UTC).isoformat()
    out = []
    for _ in range(n_batches):
        lon, lat = 122.03 + rng.random(size) * 0.08, 41.10 + rng.random(size) * 0.05
        out.append({"reports": [
            {"id": str(uuid.uuid4()), "category": "30", "subcategory": "3001", "description": MARK, "source": "citizen",
             "location": {"lon": float(x), "lat": float(y)}, "reported_at": now}
            for x, y in zip(lon, lat, strict=True)]})
    return out


def wait_intake_ready(url: str, auth: dict, *, quick_s: float = 1.0, in_a_row: int = 8, seconds: float = 600) -> float:
    """Seconds until intake answers: /healthz is up before the workers' warm-up has built the
    matcher (seconds alone, minutes on a busy machine), and a run must not measure that.
    Ready once ``in_a_row`` reports, each on a new connection (so each worker is asked), are
    answered 201 within ``quick_s``."""
    began = time.monotonic()
    quick = 0
    while quick < in_a_row:
        if time.monotonic() - began > seconds:
            raise RuntimeError(f"intake at {url} did not become ready in {seconds:.0f} s")
        body = {"id": str(uuid.uuid4()), "category": "30", "subcategory": "3001", "description": MARK,
                "source": "citizen", "location": {"lon": 122.07, "lat": 41.12},
                "reported_at": datetime.now(UTC).isoformat()}
        r = httpx.post(url, json=body, headers={**auth, "Connection": "close"}, timeout=seconds)
        quick = quick + 1 if r.status_code == 201 and r.elapsed.total_seconds() <= quick_s else 0
    return time.monotonic() - began


def cleanup(engine) -> int:
    with engine.begin() as conn:
        removed = purge_reports(conn, where=Report.description.in_([MARK, "load test"]))
    # Dead rows and their index entries would slow the next run (and autovacuum would run
    # during it): clean them now.
    vacuum_reports(engine)
    return removed


def bench_key(engine) -> tuple[int, str, bool]:
    """A system key for the run; returns (id, token, whether the database was closed before)."""
    from sqlalchemy.orm import Session

    from geo.access.roles import Principal, Role
    from geo.access.tokens import issue_token, tokens_ever_issued

    with Session(engine) as session:
        closed = tokens_ever_issued(session)
        issued = issue_token(session, role=Role.system, name="ingest bench", system="bench",
                             actor=Principal(Role.admin, holder="bench/ingest_bench.py"))
        session.commit()
    return issued.id, issued.token, closed


def revoke_bench_key(engine, token_id: int, *, was_closed: bool) -> None:
    """Revoke the run's key; on a demo that ran open before, leave it open (the audit keeps
    the key's issue and revocation)."""
    from sqlalchemy.orm import Session

    from geo.access.roles import Principal, Role
    from geo.access.tokens import ISSUED_MARK, revoke_token
    from geo.models import ApiToken, ServerSecret

    with Session(engine) as session:
        revoke_token(session, token_id=token_id, actor=Principal(Role.admin, holder="bench/ingest_bench.py"),
                     now=datetime.now(UTC))
        if not was_closed:
            session.execute(sa.delete(ApiToken).where(ApiToken.id == token_id))
            session.execute(sa.delete(ServerSecret).where(ServerSecret.name == ISSUED_MARK))
        session.commit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate", type=float, default=1000, help="reports/s offered in the fixed-rate run")
    parser.add_argument("--batches", type=int, default=5)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: `apt-get install wrk` (make bench does it)")
        return 1
    engine = make_engine(DatabaseSettings(), statement_timeout=False)
    with engine.connect() as conn:
        if conn.scalar(sa.select(sa.func.count()).select_from(Report)) < 1_000_000:
            print("load the demo city first: `make demo` (or `gridmap demo load`)")
            return 1
    # The bench is a system client with its own key (and budget), as a 12345 hotline would be;
    # the key is revoked when the run ends.
    token_id, token, was_closed = bench_key(engine)
    os.environ["GRIDMAP_BENCH_TOKEN"] = token
    auth = {"Authorization": f"Bearer {token}"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "GRIDMAP_PORT": str(port), "GRIDMAP_ESCALATION_INTERVAL_S": "0"}
    server = subprocess.Popen([str(ROOT / ".venv" / "bin" / "gridmap"), "serve", "--workers", "2", "--no-access-log"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_healthy(base)
        cleanup(engine)  # leftovers of a killed run would make this one slower
        wait_intake_ready(f"{base}/api/v1/reports", auth)
        run_wrk(f"{base}/api/v1/reports", 5, args.connections)  # warm-up: matcher built, pools filled
        fixed = run_openloop(f"{base}/api/v1/reports", args.rate, args.seconds)
        single = run_wrk(f"{base}/api/v1/reports", args.seconds, args.connections)
        # Baseline in the same run: the same requests with an unknown category are answered 422
        # before any database work, so this is the HTTP + validation ceiling of this machine.
        invalid = Path(tempfile.mkdtemp()) / "invalid.lua"
        invalid.write_text((ROOT / "bench" / "intake.lua").read_text().replace('"category":"30"', '"category":"99"'))
        ceiling = run_wrk(f"{base}/api/v1/reports", max(5, args.seconds // 2), args.connections, script=invalid)
        bodies = batch_bodies(args.batches, 10_000)
        with httpx.Client(timeout=120, headers=auth) as client:
            client.post(f"{base}/api/v1/reports/batch", json=batch_bodies(1, 1000)[0])  # warm-up
            t = time.perf_counter()
            created = 0
            for body in bodies:
                r = client.post(f"{base}/api/v1/reports/batch", json=body)
                r.raise_for_status()
                created += r.json()["created"]
            batch_rps = created / (time.perf_counter() - t)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        removed = cleanup(engine)
        revoke_bench_key(engine, token_id, was_closed=was_closed)
        engine.dispose()
    ok = fixed["achieved_rps"] >= 0.99 * args.rate and fixed["errors"] == 0 and set(fixed["statuses"]) == {"201"}
    if not fixed["completed"]:  # a machine too busy to answer one request in time: say so, go on
        fixed |= {"p50_ms": float("nan"), "p90_ms": float("nan"), "p99_ms": float("nan")}
    print(f"single intake at a fixed {args.rate:.0f} reports/s ({args.seconds} s, open loop): "
          f"{fixed['achieved_rps']:.0f} reports/s sustained{'' if ok else ' (NOT sustained)'}, "
          f"p50 {fixed['p50_ms']:.1f} ms, p90 {fixed['p90_ms']:.1f} ms, p99 {fixed['p99_ms']:.1f} ms, "
          f"errors {fixed['errors']}, statuses {fixed['statuses']}")
    print(f"  target >= 1,000 reports/s with p99 <= 50 ms: "
          f"{'met' if ok and args.rate >= 1000 and fixed['p99_ms'] <= 50 else 'NOT met'}")
    print(f"single intake flat out (wrk, {args.connections} connections, {args.seconds} s): {single['rps']:.0f} reports/s, "
          f"p50 {single['p50']:.1f} ms, p99 {single['p99']:.1f} ms, non-2xx {single['non2xx']}")
    print(f"  baseline, same requests rejected (422) before the database: {ceiling['rps']:.0f} req/s, "
          f"p99 {ceiling['p99']:.1f} ms; intake / baseline = {single['rps'] / ceiling['rps']:.2f}")
    # The one line to compare machines by: the absolute figures move with the machine (and
    # with whatever else runs on it), the ratio to the same server's 422 much less.
    print(f"intake {single['rps']:.0f}/s (ratio {single['rps'] / ceiling['rps']:.2f} of the 422 baseline "
          f"{ceiling['rps']:.0f}/s), p99 {fixed['p99_ms']:.1f} ms at {args.rate:,.0f}/s offered "
          f"({fixed['achieved_rps']:.0f}/s answered)")
    print(f"batch intake ({args.batches} x 10,000): {batch_rps:.0f} reports/s "
          f"(target >= 20,000: {'met' if batch_rps >= 20_000 else 'NOT met'})")
    print(f"removed {removed:,} benchmark reports")
    return 0


if __name__ == "__main__":
    sys.exit(main())
