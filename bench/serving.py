"""What the benchmarks, the fault test, the fuzz run and the server tests share: a free
loopback port, and waiting for a server to answer /healthz."""

from __future__ import annotations

import socket
import time

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(base: str, seconds: float = 90, *, alive=lambda: True) -> None:
    """Return once ``base``/healthz answers 200; RuntimeError after ``seconds`` or as soon as
    ``alive()`` says the server process has gone."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and alive():
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"the server at {base} did not become healthy")
