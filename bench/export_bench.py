"""Bulk exports of every report: seconds, rows/s and peak RSS per format, through the CLI and
through HTTP, against a same-run baseline (a plain COPY of the same table through psycopg).

    GRIDMAP_DATABASE_URL=postgresql+psycopg://gridmap:gridmap@127.0.0.1:5432/gridmap_bench \\
        python -m bench.export_bench [--formats csv,geojsonseq,parquet] [--public]

The target: 1 M reports in at most 15 s with flat memory (< 300 MB RSS). Seconds depend on
the machine; the ratio to the baseline does not (much): it is what the export adds to
reading the rows at all. Only reads: the database is never written (the CLI's audit row of a
full export is the exception, one row; --public writes nothing).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench.serving import free_port, wait_healthy

ROOT = Path(__file__).resolve().parent.parent
GRIDMAP = Path(sys.executable).with_name("gridmap")
BASELINE_SQL = ("COPY (SELECT id, category, subcategory, status, source, reported_at, dispatched_at, due_at, "
                "resolved_at, closed_at, escalation_level, escalated_to, grid_code, generation_id, match_kind, "
                "assigned_worker_id, ST_X(location), ST_Y(location), description, rating, duplicate_of, "
                "reporter_name, reporter_phone, orig_x, orig_y, orig_crs FROM reports) TO STDOUT WITH (FORMAT csv)")


def baseline() -> tuple[float, int]:
    """Seconds and rows of a plain COPY of the same columns, bytes discarded."""
    import psycopg
    from sqlalchemy.engine import make_url

    from geo.settings import DatabaseSettings

    url = make_url(DatabaseSettings().url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        t = time.perf_counter()
        with cur.copy(BASELINE_SQL) as copy:
            for _ in copy:
                pass
        return time.perf_counter() - t, cur.rowcount


def cli_run(fmt: str, out: Path, *, public: bool) -> tuple[float, float]:
    """Seconds and the process's peak RSS (MB) of `gridmap reports export`."""
    args = [str(GRIDMAP), "reports", "export", "--format", fmt, "-o", str(out)] + (["--public"] if public else [])
    t = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t
    if status != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {proc.stderr.read().decode()[-500:]}")
    return seconds, usage.ru_maxrss / 1024


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def group_pids(pgid: int) -> list[int]:
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if int((p / "stat").read_text().rsplit(")", 1)[1].split()[2]) == pgid:
                    pids.append(int(p.name))
            except (OSError, IndexError, ValueError):
                pass
    return pids


class Sampler(threading.Thread):
    """The largest RSS of any process of a group, sampled every 50 ms."""

    def __init__(self, pgid: int) -> None:
        super().__init__(daemon=True)
        self.pgid, self.peak, self.stop = pgid, 0.0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max([self.peak, *(rss_mb(p) for p in group_pids(self.pgid))])
            time.sleep(0.05)


def http_runs(formats: list[str], *, public: bool) -> dict[str, tuple[float, int, float, float]]:
    """Per format: seconds, bytes, the server's RSS before and its peak during the download."""
    port, token = free_port(), "bench-export-token"
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "GRIDMAP_PORT": str(port), "GRIDMAP_ESCALATION_INTERVAL_S": "0",
           "GRIDMAP_RATE_PUBLIC": "100000000", "GRIDMAP_STAFF_TOKENS": token}
    server = subprocess.Popen([str(GRIDMAP), "serve", "--workers", "1", "--no-access-log"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    out = {}
    try:
        wait_healthy(base)
        time.sleep(8)  # the start-up warm-up (matcher, area index) finishes first: it is not the export's
        headers = {} if public else {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, timeout=600) as client:
            for fmt in formats:
                before = max(rss_mb(p) for p in group_pids(server.pid))
                sampler = Sampler(server.pid)
                sampler.start()
                t = time.perf_counter()
                size = 0
                with client.stream("GET", "/api/v1/reports/export", params={"format": fmt}, headers=headers) as r:
                    if r.status_code != 200:
                        raise RuntimeError(f"{fmt}: {r.status_code} {r.read()[:300]!r}")
                    for piece in r.iter_raw():
                        size += len(piece)
                seconds = time.perf_counter() - t
                sampler.stop.set()
                sampler.join()
                out[fmt] = (seconds, size, before, sampler.peak)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formats", default="csv,geojsonseq,parquet")
    parser.add_argument("--public", action="store_true", help="the public export (HTTP: the last year only)")
    parser.add_argument("--no-http", action="store_true")
    args = parser.parse_args()
    formats = args.formats.split(",")
    base_s, rows = baseline()
    if rows < 1000:
        print("load the demo city first: `gridmap demo load`")
        return 1
    who = "public" if args.public else "full"
    print(f"{rows:,} reports; baseline (plain COPY of the same columns through psycopg): {base_s:.2f} s "
          f"({rows / base_s:,.0f} rows/s)")
    print(f"CLI: gridmap reports export ({who} records)")
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in formats:
            out = Path(tmp) / f"reports.{fmt}"
            seconds, peak = cli_run(fmt, out, public=args.public)
            verdict = "ok" if seconds <= 15 and peak < 300 else "OVER TARGET"
            print(f"  {fmt:10s} {seconds:6.2f} s  {rows / seconds:9,.0f} rows/s  peak RSS {peak:5.0f} MB  "
                  f"{out.stat().st_size / 1e6:7.1f} MB  ×{seconds / base_s:4.2f} baseline  {verdict}")
            out.unlink()
    if not args.no_http:
        print(f"HTTP: GET /api/v1/reports/export, one uvicorn worker ({who} records)")
        for fmt, (seconds, size, before, peak) in http_runs(formats, public=args.public).items():
            print(f"  {fmt:10s} {seconds:6.2f} s  {size / 1e6:7.1f} MB  server RSS {before:4.0f} → peak {peak:4.0f} MB  "
                  f"×{seconds / base_s:4.2f} baseline")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
