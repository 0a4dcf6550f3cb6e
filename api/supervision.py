"""Worker processes that never outlive their master.

With ``gridmap serve --workers N`` uvicorn's master forks N workers that share the listening
socket. If the master is killed outright (``kill -9``, the OOM killer) nothing tells the
workers: they went on serving the port, and a restart then failed with "address already in
use". Each worker now watches its parent and shuts down (gracefully, then for good) once it
has been re-parented, so the port is free for ``gridmap serve`` to start again.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

log = logging.getLogger("gridmap.api")

SUPERVISOR_ENV = "GRIDMAP_SUPERVISOR_PID"  # set by `gridmap serve` for its workers


def watch_supervisor(*, interval_s: float = 0.5, grace_s: float = 10.0) -> bool:
    """In a worker process started by ``gridmap serve``, start a thread that stops this
    process when the master is gone. Returns whether it is watching (False in a single
    process server, whose master is itself)."""
    raw = os.environ.get(SUPERVISOR_ENV)
    if not raw or not raw.isdigit() or int(raw) == os.getpid():
        return False
    # A worker whose master died while it was still starting (a loaded machine) is already
    # re-parented here: the loop below stops it at once instead of leaving it unwatched.
    master = int(raw)

    def run() -> None:
        while os.getppid() == master:
            time.sleep(interval_s)
        log.error("the server's master process %d is gone: this worker (%d) stops", master, os.getpid())
        os.kill(os.getpid(), signal.SIGTERM)  # uvicorn finishes the requests in flight
        time.sleep(grace_s)
        os._exit(1)

    threading.Thread(target=run, name="supervisor-watch", daemon=True).start()
    return True
