"""How a delivery is signed, and how a receiver checks it.

The signature is HMAC-SHA256, keyed with the subscription's secret, over
``<timestamp>.<raw body>`` (the timestamp: Unix seconds, sent as ``X-Gridmap-Timestamp``), as
``X-Gridmap-Signature: sha256=<hex>``. Signing the timestamp with the body lets a receiver
refuse a captured request replayed later: it checks the signature, then that the timestamp
is recent (``TOLERANCE_S``), then drops an ``X-Gridmap-Event-Id`` it already processed (a
delivery may arrive more than once: at least once is the promise).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

SIGNATURE = "X-Gridmap-Signature"
TIMESTAMP = "X-Gridmap-Timestamp"
EVENT_ID = "X-Gridmap-Event-Id"
DELIVERY = "X-Gridmap-Delivery"
ATTEMPT = "X-Gridmap-Attempt"
TOLERANCE_S = 300  # how old a timestamp a receiver should still accept


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of ``<timestamp>.`` + ``body`` under ``secret``."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(*, secret: str, timestamp: int, body: bytes, event_id: int, delivery_id: int,
                   attempt: int) -> dict[str, str]:
    """The headers of one delivery attempt of ``body`` (JSON, UTF-8)."""
    return {"Content-Type": "application/json", "User-Agent": "gridmap-webhooks/1",
            TIMESTAMP: str(timestamp), SIGNATURE: sign(secret, timestamp, body),
            EVENT_ID: str(event_id), DELIVERY: str(delivery_id), ATTEMPT: str(attempt)}


def verify(secret: str, headers: Mapping[str, str], body: bytes, *, now: float,
           tolerance_s: int = TOLERANCE_S) -> bool:
    """What a receiver does (``now``: Unix seconds): the signature matches the raw body and its
    timestamp, compared in constant time, and the timestamp is within ``tolerance_s``."""
    lower = {k.lower(): v for k, v in headers.items()}
    stamp, given = lower.get(TIMESTAMP.lower(), ""), lower.get(SIGNATURE.lower(), "")
    if not stamp.isdigit() or abs(now - int(stamp)) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, int(stamp), body), given)
