"""The signature a receiver checks: over the timestamp and the raw body, fresh, constant-time."""

from __future__ import annotations

import hashlib
import hmac

from geo.webhooks.signing import sign, signed_headers, verify

SECRET = "whsec_test"
BODY = '{"event_id":7,"action":"close"}'.encode()


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body():
    want = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1700000000, BODY) == f"sha256={want}"


def test_a_receiver_accepts_only_the_body_and_time_that_were_signed():
    h = signed_headers(secret=SECRET, timestamp=1700000000, body=BODY, event_id=7, delivery_id=3, attempt=1)
    assert (h["X-Gridmap-Event-Id"], h["X-Gridmap-Delivery"], h["X-Gridmap-Attempt"]) == ("7", "3", "1")
    assert verify(SECRET, h, BODY, now=1700000100)
    assert verify(SECRET, {k.lower(): v for k, v in h.items()}, BODY, now=1700000000)  # header case is free
    assert not verify(SECRET, h, BODY.replace(b"close", b"reopen"), now=1700000000)  # body changed
    assert not verify("whsec_other", h, BODY, now=1700000000)  # another key
    assert not verify(SECRET, h, BODY, now=1700000000 + 301)  # replayed too late
    assert not verify(SECRET, {**h, "X-Gridmap-Timestamp": "1700000001"}, BODY, now=1700000000)  # time moved
    assert not verify(SECRET, {**h, "X-Gridmap-Timestamp": "soon"}, BODY, now=1700000000)
