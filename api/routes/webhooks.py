"""Webhooks: register a URL for a system's cases, list, remove, and read the delivery log.
Thin: every rule is ``geo.webhooks.subscriptions`` (who may, what a URL must be; audited)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import SessionDep
from api.params import BIGINT_MAX
from api.schemas.webhooks import DeliveryLog, DeliveryOut, WebhookCreated, WebhookIn, WebhookList, WebhookOut
from api.security import require
from geo.access import Permission
from geo.models import DeliveryStatus, WebhookSubscription
from geo.models.webhooks import DUE_STATUSES
from geo.webhooks import deactivate_subscription, delivery_log, list_subscriptions, register_subscription
from geo.webhooks.subscriptions import SECRET_PREFIX

router = APIRouter(tags=["webhooks"])

Manager = require(Permission.manage_webhooks)
Reader = require(Permission.read_webhooks)
WebhookPath = Annotated[int, Path(ge=1, le=BIGINT_MAX, examples=[3], description="The webhook's id.")]
ERRORS = {403: {"description": "Not this role's or this system's webhook"}, 404: {"description": "No such webhook"},
          422: {"description": "Invalid field"}}


def _out(row: WebhookSubscription, cls=WebhookOut, **extra):
    return cls(id=row.id, system=row.system, url=row.url, area_prefix=row.area_prefix, active=row.active,
               created_at=row.created_at, created_by=row.created_by, deactivated_at=row.deactivated_at,
               secret_prefix=row.secret[:len(SECRET_PREFIX) + 4], **extra)


@router.post("/webhooks", response_model=WebhookCreated, status_code=201,
             responses={**ERRORS, 409: {"description": "The system already has the most webhooks allowed (20)"}},
             summary="Register a webhook")
def post_webhook(body: WebhookIn, session: SessionDep, principal: Manager):
    """Deliveries start with the next event of the trail: each is a signed JSON POST
    (`X-Gridmap-Signature: sha256=…` over `<X-Gridmap-Timestamp>.<body>`), retried with
    back-off until the receiver answers 2xx, in order per case. The secret is in this answer
    only."""
    row = register_subscription(session, actor=principal, url=body.url, system=body.system,
                                area_prefix=body.area_prefix)
    session.commit()
    return _out(row, WebhookCreated, secret=row.secret)


@router.get("/webhooks", response_model=WebhookList, responses=ERRORS, summary="Webhooks")
def get_webhooks(session: SessionDep, principal: Reader):
    """Every webhook (dispatchers, admins), or a system key's own; removed ones too. Never the secrets."""
    return WebhookList(webhooks=[_out(r) for r in list_subscriptions(session, viewer=principal)])


@router.delete("/webhooks/{webhook_id}", response_model=WebhookOut, responses=ERRORS, summary="Remove a webhook")
def delete_webhook(webhook_id: WebhookPath, session: SessionDep, principal: Manager):
    """Nothing more is queued or sent to it; its delivery log stays readable. Removing it again changes nothing."""
    row = deactivate_subscription(session, subscription_id=webhook_id, actor=principal, now=datetime.now(UTC))
    session.commit()
    return _out(row)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=DeliveryLog, responses=ERRORS,
            summary="A webhook's delivery log")
def get_deliveries(
    webhook_id: WebhookPath, session: SessionDep, principal: Reader,
    status: Annotated[DeliveryStatus | None, Query(examples=["failed"], description=(
        "Only deliveries in this state: pending, failed, delivered or dead."))] = None,
    limit: Annotated[int, Query(ge=1, le=500, examples=[100], description="At most this many (newest event first).")] = 100,
    before_event: Annotated[int | None, Query(ge=1, le=BIGINT_MAX, examples=[1024], description=(
        "Only events before this id: the previous page's next_before_event."))] = None,
):
    """Each event queued for the webhook: its attempts, the receiver's last answer, when it
    is tried next. Dispatchers and admins read every log, a system key its own webhooks'."""
    entries = delivery_log(session, subscription_id=webhook_id, viewer=principal, status=status, limit=limit,
                           before_event=before_event)
    items = [DeliveryOut(id=d.id, event_id=d.event_id, service_request_id=d.report_id, action=action,
                         status=d.status.value, attempts=d.attempts,
                         next_attempt_at=d.next_attempt_at if d.status in DUE_STATUSES else None,
                         last_attempt_at=d.last_attempt_at, last_status_code=d.last_status_code,
                         last_error=d.last_error, delivered_at=d.delivered_at, created_at=d.created_at)
             for d, action in ((e.delivery, e.action) for e in entries)]
    return DeliveryLog(webhook=webhook_id, deliveries=items,
                       next_before_event=items[-1].event_id if len(items) == limit else None)
