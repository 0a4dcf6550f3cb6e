"""`gridmap serve --workers 2`: kill -9 of the master takes its workers down with it, and
the server comes back on the same port (hardening issue, defect 7)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.serving import free_port as _free_port
from bench.serving import wait_healthy

ROOT = Path(__file__).resolve().parents[2]


def _children(pid: int) -> list[int]:
    """uvicorn's worker processes (multiprocessing's resource tracker is a child too)."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    pids = [int(p) for p in out.split()]
    return [p for p in pids if Path(f"/proc/{p}/cmdline").exists()
            and b"resource_tracker" not in Path(f"/proc/{p}/cmdline").read_bytes()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}/stat").exists() else "X"
    return state not in ("Z", "X")


def _serve(port: int, env: dict) -> subprocess.Popen:
    gridmap = Path(sys.executable).with_name("gridmap")
    return subprocess.Popen([str(gridmap), "serve", "--workers", "2", "--port", str(port), "--no-access-log"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def _wait_healthy(port: int, seconds: float = 60) -> None:
    wait_healthy(f"http://127.0.0.1:{port}", seconds)


def test_workers_die_with_their_master_and_the_port_comes_back(database_url, small_city):
    port = _free_port()
    env = {**os.environ, "GRIDMAP_DATABASE_URL": database_url, "GRIDMAP_ESCALATION_INTERVAL_S": "0"}
    first = _serve(port, env)
    try:
        _wait_healthy(port)
        deadline = time.monotonic() + 30
        while len(workers := [p for p in _children(first.pid) if _alive(p)]) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(workers) == 2, workers
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        deadline = time.monotonic() + 20
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(w) for w in workers), "workers outlived their master"
        second = _serve(port, env)  # the same port
        try:
            _wait_healthy(port)
        finally:
            os.killpg(second.pid, signal.SIGTERM)
            second.wait(30)
    finally:
        try:
            os.killpg(first.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
