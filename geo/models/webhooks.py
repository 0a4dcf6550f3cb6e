"""Webhooks: a system's subscription to the trail of its cases (or an area's), and one row
per event to deliver to it, which is also the delivery log staff read."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from geo.models.base import Base, str_enum


class DeliveryStatus(str, enum.Enum):
    pending = "pending"  # not tried yet
    failed = "failed"  # tried, not accepted; tried again at next_attempt_at
    delivered = "delivered"  # the receiver answered 2xx
    dead = "dead"  # given up after geo.webhooks.delivery.MAX_ATTEMPTS; the case's later events go on


DUE_STATUSES = (DeliveryStatus.pending, DeliveryStatus.failed)


class WebhookSubscription(Base):
    """A URL receiving the events of the cases ``system`` filed (``reports.filed_by`` =
    ``system:<system>``) and, when an admin set ``area_prefix``, of every case whose grid code
    starts with it. ``secret`` is kept as issued: signing needs it (it is shown in full once,
    when registered, and never listed)."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    system: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    url: Mapped[str] = mapped_column(sa.Text, nullable=False)
    secret: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    area_prefix: Mapped[str | None] = mapped_column(sa.String(15))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
    created_by: Mapped[str] = mapped_column(sa.Text, nullable=False)
    active: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, server_default=sa.true(), default=True)
    deactivated_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # Every event of the trail with an id up to here has been considered (queued when in scope).
    watermark: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    # The next watermark and the snapshot xmax seen with it: it becomes the watermark once every
    # transaction that could still hold a smaller event id has ended (geo.webhooks.outbox).
    horizon_event_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    horizon_xid: Mapped[int | None] = mapped_column(sa.BigInteger)

    __table_args__ = (
        sa.CheckConstraint("area_prefix IS NULL OR area_prefix ~ '^[0-9]{6,15}$'", name="area_prefix_code"),
        sa.CheckConstraint("url ~* '^https?://'", name="url_http"),
    )


class WebhookDelivery(Base):
    """One event for one subscription: queued, tried, delivered or given up. Per subscription
    and case, events go out in event-id order: one is not sent while an earlier one is due."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        sa.ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), nullable=False)
    report_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("reports.id", ondelete="CASCADE"), nullable=False)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("report_events.id", ondelete="CASCADE"), nullable=False)
    status: Mapped[DeliveryStatus] = mapped_column(
        str_enum(DeliveryStatus, "delivery_status"), nullable=False, default=DeliveryStatus.pending)
    attempts: Mapped[int] = mapped_column(sa.SmallInteger, nullable=False, server_default="0", default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    last_attempt_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(sa.SmallInteger)
    # Our own words ("HTTP 500", "timed out"), never an exception's text.
    last_error: Mapped[str | None] = mapped_column(sa.String(120))
    delivered_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())

    __table_args__ = (
        # One delivery per event and subscription, however often the outbox is scanned; also
        # the log's index (a subscription's deliveries, newest event first).
        sa.UniqueConstraint("subscription_id", "event_id"),
        # The sender's two questions: what is due, and is an earlier event of this case still due.
        sa.Index("ix_webhook_deliveries_due", "next_attempt_at",
                 postgresql_where=sa.text("status IN ('pending', 'failed')")),
        sa.Index("ix_webhook_deliveries_case_due", "subscription_id", "report_id", "event_id",
                 postgresql_where=sa.text("status IN ('pending', 'failed')")),
    )
