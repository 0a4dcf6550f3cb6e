"""Sending what is due: signed, at least once, in order per case, with back-off.

A delivery is due when it is pending or failed, its ``next_attempt_at`` has come, its
subscription is active, and no earlier event of the same case for the same subscription is
still due. It is claimed with ``FOR UPDATE SKIP LOCKED`` and its outcome written in the same
transaction, so two processes never send it at once; a process dying between the send and
the commit means it is sent again (at least once: receivers drop a repeated
``X-Gridmap-Event-Id``).

An answer other than 2xx (redirects are not followed), a timeout or a refused connection is
a failure: attempt n is retried ``backoff(n)`` later (30 s doubling, at most an hour); after
``MAX_ATTEMPTS`` the delivery is dead: it stays in the log, and the case's later events go
on (one event a receiver keeps refusing must not silence its case for good). Different cases
never wait for each other. Webhooks take turns within each batch, so one with a long backlog
does not delay the others, and a receiver that cannot be reached costs one timeout per pass:
the pass sends nothing more to it, and every other subscription is served as usual.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, distinct_on
from sqlalchemy.orm import Session

from geo.models import DeliveryStatus, Report, ReportEvent, WebhookDelivery, WebhookSubscription
from geo.models.webhooks import DUE_STATUSES
from geo.webhooks.outbox import enqueue
from geo.webhooks.payload import encode, event_payload
from geo.webhooks.signing import signed_headers

log = logging.getLogger("gridmap.webhooks")

MAX_ATTEMPTS = 10
BASE_DELAY_S = 30
MAX_DELAY_S = 3600
TIMEOUT_S = 5.0


def backoff(attempts: int) -> timedelta:
    """How long after failed attempt number ``attempts`` (1, 2, …) the next one is made."""
    return timedelta(seconds=min(BASE_DELAY_S * 2 ** (attempts - 1), MAX_DELAY_S))


@dataclass
class DeliveryRun:
    queued: int = 0
    delivered: int = 0
    failed: int = 0  # attempts that failed and will be retried
    dead: int = 0  # attempts that failed for the last time
    unreachable: set[int] = field(default_factory=set)  # subscriptions not tried further this pass


def due(session: Session, *, now: datetime, limit: int, subscription_id: int) -> list[WebhookDelivery]:
    """Lock up to ``limit`` due deliveries of one webhook (at most one per case: its earliest),
    oldest due first, skipping those another process holds."""
    d = WebhookDelivery
    # Each case's earliest undelivered event, read in the order of the partial index: linear in
    # the webhook's backlog whatever the statistics say (an anti-join planned on a table not
    # yet analysed compared every row with every other: 0.6 s for 2,000).
    heads = (sa.select(d.id, d.next_attempt_at).where(d.subscription_id == subscription_id, d.status.in_(DUE_STATUSES))
             .ext(distinct_on(d.report_id)).order_by(d.report_id, d.event_id).subquery())
    # The outer conditions are checked again on a row another process changed meanwhile.
    # The oldest ready heads as one small array (an init plan: no join to misplan), with room
    # for those another process holds (skipped below).
    ready = (sa.select(heads.c.id).where(heads.c.next_attempt_at <= now)
             .order_by(heads.c.next_attempt_at, heads.c.id).limit(4 * limit).subquery())
    ready = sa.select(sa.func.array_agg(ready.c.id)).scalar_subquery()
    q = (sa.select(d).where(d.id == sa.any_(sa.cast(ready, ARRAY(sa.BigInteger))), d.status.in_(DUE_STATUSES), d.next_attempt_at <= now)
         .order_by(d.next_attempt_at, d.id).limit(limit)
         .with_for_update(skip_locked=True))
    return list(session.scalars(q))


def _attempt(client: httpx.Client, sub: WebhookSubscription, delivery: WebhookDelivery, body: bytes,
             now: datetime) -> tuple[int | None, str | None, bool]:
    """(status code, error in our words or None when delivered, whether the receiver was unreachable)."""
    headers = signed_headers(secret=sub.secret, timestamp=int(now.timestamp()), body=body,
                             event_id=delivery.event_id, delivery_id=delivery.id, attempt=delivery.attempts + 1)
    try:
        # Streamed and never read: a receiver's answer body, however large, costs nothing.
        with client.stream("POST", sub.url, content=body, headers=headers) as resp:
            code = resp.status_code
    except httpx.TimeoutException:
        return None, f"timed out after {TIMEOUT_S:g} s", True
    except httpx.ConnectError:
        return None, "could not connect", True
    except httpx.HTTPError:
        return None, "the connection failed", True
    if 200 <= code < 300:
        return code, None, False
    if 300 <= code < 400:
        return code, f"HTTP {code} (redirects are not followed)", False
    return code, f"HTTP {code}", False


def send_due(session: Session, *, client: httpx.Client, now: datetime, limit: int = 10,
             run: DeliveryRun | None = None, deadline: float | None = None) -> int:
    """Send up to ``limit`` due deliveries per webhook and record each outcome (not committed:
    the caller commits, which releases the rows). Receivers found unreachable are added to
    ``run.unreachable`` and not tried again by this run; nothing more is tried once
    ``time.monotonic()`` passes ``deadline``. Returns how many were attempted."""
    run = run if run is not None else DeliveryRun()
    webhooks = session.scalars(sa.select(WebhookSubscription.id).where(
        WebhookSubscription.active, *([WebhookSubscription.id.not_in(sorted(run.unreachable))]
                                      if run.unreachable else [])).order_by(WebhookSubscription.id)).all()
    # Each webhook gets its share of the batch, taken in turns: a long backlog of one never
    # makes the others wait for it.
    shares = [due(session, now=now, limit=limit, subscription_id=w) for w in webhooks]
    claimed = [d for turn in itertools.zip_longest(*shares) for d in turn if d is not None]
    if not claimed:
        return 0
    # The batch's events and cases in one query (a query per delivery cost more than its POST).
    rows = {e.id: (e, r, lon, lat) for e, r, lon, lat in session.execute(
        sa.select(ReportEvent, Report, sa.func.ST_X(Report.location), sa.func.ST_Y(Report.location))
        .join(Report, Report.id == ReportEvent.report_id)
        .where(ReportEvent.id.in_([d.event_id for d in claimed])))}
    attempted = 0
    for delivery in claimed:
        if delivery.subscription_id in run.unreachable or (deadline is not None and time.monotonic() > deadline):
            continue  # an unreachable receiver, or the pass's time is up: left due, untouched
        sub = session.get(WebhookSubscription, delivery.subscription_id)
        event, report, lon, lat = rows[delivery.event_id]
        body = encode(event_payload(event, report, lon=lon, lat=lat))
        code, error, unreachable = _attempt(client, sub, delivery, body, now)
        attempted += 1
        delivery.attempts += 1
        delivery.last_attempt_at, delivery.last_status_code, delivery.last_error = now, code, error
        if error is None:
            delivery.status, delivery.delivered_at = DeliveryStatus.delivered, now
            run.delivered += 1
        elif delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = DeliveryStatus.dead
            run.dead += 1
            log.warning("webhook %d: event %d of case %s is dead after %d attempts (%s)", sub.id,
                        delivery.event_id, delivery.report_id, delivery.attempts, error)
        else:
            delivery.status, delivery.next_attempt_at = DeliveryStatus.failed, now + backoff(delivery.attempts)
            run.failed += 1
        if unreachable:
            run.unreachable.add(sub.id)
    session.flush()
    return attempted


Sessions = Callable[[], AbstractContextManager[Session]]


def deliver_due(sessions: Sessions, *, now: datetime | None = None, client: httpx.Client | None = None,
                batch: int = 25, max_batches: int = 40, budget_s: float = 30.0) -> DeliveryRun:
    """One delivery pass: queue the trail's new events (``enqueue``), then send what is due,
    up to ``batch`` deliveries per webhook per transaction, until nothing is due,
    ``max_batches`` transactions were made or ``budget_s`` seconds have gone. ``sessions()``: a context manager giving a session (a
    sessionmaker); each step commits its own. ``now``: the clock (default: the real one,
    read per batch). Raises what the database raises; a receiver's failure is only recorded."""
    run = DeliveryRun()
    clock = (lambda: now) if now is not None else (lambda: datetime.now(UTC))
    with sessions() as session:
        run.queued = enqueue(session, now=clock())
        session.commit()
    own = client is None
    client = client or httpx.Client(timeout=TIMEOUT_S, follow_redirects=False)
    deadline = time.monotonic() + budget_s
    try:
        for _ in range(max_batches):
            with sessions() as session:
                attempted = send_due(session, client=client, now=clock(), limit=batch, run=run, deadline=deadline)
                session.commit()
            if attempted == 0 or time.monotonic() > deadline:
                break
    finally:
        if own:
            client.close()
    return run
