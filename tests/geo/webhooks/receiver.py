"""A real HTTP receiver on 127.0.0.1 (a free port) that checks each delivery's signature as
README.webhooks.md tells a receiver to, and answers as the test scripts it."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """``answer(payload, n)`` → the HTTP status to answer the n-th request (0-based) with."""

    secret: str | None = None
    answer: Callable[[dict, int], int] = lambda payload, n: 204
    clock: Callable[[], float] = time.time  # the sender's clock, when a test sets it
    delay_s: float = 0.0  # how long each answer takes
    received: list[Received] = field(default_factory=list)

    def __enter__(self) -> Receiver:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stamp, sig = self.headers["X-Gridmap-Timestamp"], self.headers["X-Gridmap-Signature"]
                want = "sha256=" + hmac.new(outer.secret.encode(), stamp.encode() + b"." + body,
                                            hashlib.sha256).hexdigest()
                ok = hmac.compare_digest(want, sig) and abs(outer.clock() - int(stamp)) <= 300
                outer.received.append(Received(dict(self.headers), body, ok))
                time.sleep(outer.delay_s)
                code = outer.answer(json.loads(body), len(outer.received) - 1) if ok else 401
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def events(self) -> list[tuple[str, int, str]]:
        """(case, event id, action) of every request received, in arrival order."""
        return [(r.payload["service_request_id"], r.payload["event_id"], r.payload["action"]) for r in self.received]


def free_port() -> int:
    """A port nothing listens on (bound once, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
