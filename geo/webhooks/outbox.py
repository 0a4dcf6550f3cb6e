"""The trail as the outbox: queue each subscription's new events, losing none.

An event id is drawn when the row is inserted, not when its transaction commits, so ids
become visible out of order: a scan that saw event 101 may later find 100, committed by a
transaction that began first. A subscription therefore keeps two marks. ``watermark``: every
event up to it has been considered. The scan queues every visible event above it (a unique
key drops repeats), so nothing visible is missed however often it runs; the watermark only
moves up to ``horizon_event_id``, the newest id seen by an earlier scan, once every
transaction running at that scan has ended (``horizon_xid``, that snapshot's xmax, is below
the oldest transaction still running). Every event up to it is then committed or gone for
good, and visible to this scan.

Per case the trail is written under the report's row lock (``geo.reports.workflow``), so a
case's events commit in id order: the sender's per-case ordering by id is the trail's order.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from geo.access.privacy import public_area_condition
from geo.models import DeliveryStatus, Report, ReportEvent, WebhookDelivery, WebhookSubscription
from geo.reports.workflow import ACTIONS

# Status changes (every transition of the loop, escalation included), intake and the rating.
# Not delivered: photos (a sensitive case's photo is not public), rematches and repairs.
DELIVERED_ACTIONS = ("register", *ACTIONS, "rate")


def _xid8(fn):
    return sa.cast(sa.cast(fn(sa.func.pg_current_snapshot()), sa.Text), sa.BigInteger)


def scope_condition(sub: WebhookSubscription):
    """SQL on Report: the cases ``sub`` receives: its system's filings and, with an area, the
    cases in that area as the public may ask for it (below community level, no sensitive case)."""
    own = Report.filed_by == f"system:{sub.system}"
    if sub.area_prefix is None:
        return own
    return sa.or_(own, public_area_condition(Report.category, Report.grid_code, sub.area_prefix))


def enqueue(session: Session, *, now: datetime) -> int:
    """Queue, for every active subscription, the delivered events of its cases that are newer
    than its watermark, due at ``now``; move watermarks forward where it is safe. A
    subscription another process is scanning is skipped. Not committed. Returns how many
    deliveries were queued."""
    # One statement, one snapshot: the newest id and the xmax it was read under must match.
    xmin, xmax, newest = session.execute(sa.select(
        _xid8(sa.func.pg_snapshot_xmin), _xid8(sa.func.pg_snapshot_xmax),
        sa.select(sa.func.coalesce(sa.func.max(ReportEvent.id), 0)).scalar_subquery())).one()
    subs = session.scalars(sa.select(WebhookSubscription).where(WebhookSubscription.active)
                           .order_by(WebhookSubscription.id).with_for_update(skip_locked=True)).all()
    queued = 0
    for sub in subs:
        events = (
            sa.select(sa.literal(sub.id), ReportEvent.report_id, ReportEvent.id,
                      sa.literal(DeliveryStatus.pending.value), sa.literal(now, sa.DateTime(timezone=True)))
            .join(Report, Report.id == ReportEvent.report_id)
            .where(ReportEvent.id > sub.watermark, ReportEvent.action.in_(DELIVERED_ACTIONS), scope_condition(sub))
            .order_by(ReportEvent.id)
        )
        queued += len(session.execute(
            pg_insert(WebhookDelivery)
            .from_select(["subscription_id", "report_id", "event_id", "status", "next_attempt_at"], events)
            .on_conflict_do_nothing(index_elements=["subscription_id", "event_id"])
            .returning(WebhookDelivery.id)).all())
        # Only after the scan above, which saw every event up to the horizon: moved first, the
        # watermark would skip the late commits it waited for.
        if sub.horizon_xid is not None and xmin >= sub.horizon_xid:
            sub.watermark = max(sub.watermark, sub.horizon_event_id)
            sub.horizon_event_id = sub.horizon_xid = None
        if sub.horizon_xid is None and newest > sub.watermark:
            sub.horizon_event_id, sub.horizon_xid = newest, xmax
    session.flush()
    return queued
