"""`gridmap serve` with GRIDMAP_LOG_FORMAT=json: every line on stderr is one JSON object, and
the access line of a request carries the X-Request-ID it was sent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from bench.serving import free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[2]


def test_json_logs_carry_the_request_id(database_url, tmp_path):
    port = free_port()
    env = {**os.environ, "GRIDMAP_DATABASE_URL": database_url, "GRIDMAP_ESCALATION_INTERVAL_S": "0",
           "GRIDMAP_LOG_FORMAT": "json", "PYTHONPATH": str(ROOT)}
    stderr = tmp_path / "stderr.log"
    with stderr.open("wb") as err:
        server = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port", str(port)], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", 60)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz", headers={"X-Request-ID": "serve-log-1"})
        with urllib.request.urlopen(request, timeout=10) as r:
            assert r.headers["X-Request-ID"] == "serve-log-1"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(20)
    lines = [line for line in stderr.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # each line parses: nothing else is written there
    access = [r for r in records if r["logger"] == "uvicorn.access" and r["request_id"] == "serve-log-1"]
    assert len(access) == 1 and "/healthz" in access[0]["message"] and " 200" in access[0]["message"]
    assert any(r["logger"] == "uvicorn.error" and r["request_id"] == "-" for r in records)  # startup lines
