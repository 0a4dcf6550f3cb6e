"""Registering, listing and removing webhooks, and reading their delivery logs.

Who may: a system key registers for its own filings and reads its own webhooks; an admin
registers for any system and may add an area (``area_prefix``: every case whose grid code
starts with it); dispatchers and admins read every webhook and log (``geo.access.roles``).
The secret is generated here and kept as issued, because signing needs it; the caller shows
it once and listings never carry it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.access.audit import record_audit
from geo.access.roles import Permission, Principal, Role, may_use_webhook
from geo.boundaries.hierarchy import CODE_LENGTH
from geo.errors import Forbidden, InvalidInput, InvalidState, NotFound
from geo.models import DeliveryStatus, ReportEvent, WebhookDelivery, WebhookSubscription
from geo.text import check_text, check_url

SECRET_PREFIX = "whsec_"
MAX_URL_CHARS = 2000
MAX_ACTIVE_PER_SYSTEM = 20
AREA_CODE_LENGTHS = tuple(sorted(set(CODE_LENGTH.values())))


def new_secret() -> str:
    """``whsec_`` + 43 random URL-safe characters (256 bits)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _check_url(url: str) -> str:
    url = url.strip()
    if len(url) > MAX_URL_CHARS:
        raise InvalidInput(f"at most {MAX_URL_CHARS} characters", field="url")
    check_url(url, field="url")
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        raise InvalidInput("has an invalid port", field="url") from None
    if not parts.hostname:
        raise InvalidInput("must name a host", field="url")
    return url


def _check_area(prefix: str) -> str:
    if not (prefix.isascii() and prefix.isdigit() and len(prefix) in AREA_CODE_LENGTHS):
        raise InvalidInput("must be an area code: 6 (district), 9 (street), 12 (community) or 15 (grid) digits",
                           field="area_prefix")
    return prefix


def register_subscription(session: Session, *, actor: Principal, url: str, system: str | None = None,
                          area_prefix: str | None = None) -> WebhookSubscription:
    """Register ``url`` to receive the events of the cases ``system`` files (a system key: its
    own system; an admin names it) from now on, and with ``area_prefix`` (admin only) of every
    case in that area. Audited; not committed. Raises Forbidden, InvalidInput (naming the
    field), InvalidState (too many webhooks for the system)."""
    if not actor.can(Permission.manage_webhooks):
        raise Forbidden(f"a {actor.role.value} may not register webhooks")
    if actor.role == Role.system:
        if system not in (None, actor.system):
            raise Forbidden("a system key registers webhooks for its own system only")
        if area_prefix is not None:
            raise Forbidden("only an admin may subscribe a system to an area")
        system = actor.system
    if not system or not system.strip():
        raise InvalidInput("name the system whose filed cases are delivered (its system key's system)", field="system")
    check_text(system, field="system")
    system = system.strip()
    if len(system) > 64:
        raise InvalidInput("at most 64 characters", field="system")
    url = _check_url(url)
    if area_prefix is not None:
        area_prefix = _check_area(area_prefix)
    active = session.scalar(sa.select(sa.func.count()).select_from(WebhookSubscription).where(
        WebhookSubscription.system == system, WebhookSubscription.active))
    if active >= MAX_ACTIVE_PER_SYSTEM:
        raise InvalidState(f"system {system!r} already has {active} webhooks; remove one first",
                           limit=MAX_ACTIVE_PER_SYSTEM)
    # From now on: the trail's newest event so far is where its scan starts.
    watermark = session.scalar(sa.select(sa.func.coalesce(sa.func.max(ReportEvent.id), 0)))
    row = WebhookSubscription(system=system, url=url, secret=new_secret(), area_prefix=area_prefix,
                              created_by=actor.holder, active=True, watermark=watermark)
    session.add(row)
    session.flush()
    record_audit(session, actor=actor, action="webhook.register", subject_type="webhook", subject_id=row.id,
                 detail={"system": system, "url": url, "area_prefix": area_prefix})
    return row


def list_subscriptions(session: Session, *, viewer: Principal) -> list[WebhookSubscription]:
    """The webhooks ``viewer`` may see (a system key: its own), oldest first, removed ones too."""
    if not viewer.can(Permission.read_webhooks):
        raise Forbidden(f"a {viewer.role.value} may not read webhooks")
    q = sa.select(WebhookSubscription).order_by(WebhookSubscription.id)
    if viewer.role == Role.system:
        q = q.where(WebhookSubscription.system == viewer.system)
    return list(session.scalars(q))


def get_subscription(session: Session, *, subscription_id: int, viewer: Principal,
                     permission: Permission = Permission.read_webhooks, for_update: bool = False) -> WebhookSubscription:
    """One webhook, if ``viewer`` may use it with ``permission``. Raises NotFound, Forbidden."""
    row = session.get(WebhookSubscription, subscription_id, with_for_update=for_update or None)
    if row is None:
        raise NotFound(f"no webhook {subscription_id}", webhook_id=subscription_id)
    if not may_use_webhook(viewer, row.system, permission):
        raise Forbidden("this webhook belongs to another system" if viewer.role == Role.system
                        else f"a {viewer.role.value} may not do this with webhooks")
    return row


def deactivate_subscription(session: Session, *, subscription_id: int, actor: Principal,
                            now: datetime) -> WebhookSubscription:
    """Stop a webhook: nothing more is queued or sent to it; its log stays readable. Audited,
    not committed; a second call changes nothing. Raises NotFound, Forbidden."""
    row = get_subscription(session, subscription_id=subscription_id, viewer=actor,
                           permission=Permission.manage_webhooks, for_update=True)
    if row.active:
        row.active, row.deactivated_at = False, now
        record_audit(session, actor=actor, action="webhook.remove", subject_type="webhook", subject_id=row.id,
                     detail={"system": row.system, "url": row.url})
        session.flush()
    return row


@dataclass(frozen=True, slots=True)
class LogEntry:
    delivery: WebhookDelivery
    action: str  # the trail event's action


def delivery_log(session: Session, *, subscription_id: int, viewer: Principal, status: DeliveryStatus | None = None,
                 limit: int = 100, before_event: int | None = None) -> list[LogEntry]:
    """A webhook's deliveries, newest event first (``before_event``: the page after the one
    that ended there), optionally of one ``status``. Raises NotFound, Forbidden."""
    get_subscription(session, subscription_id=subscription_id, viewer=viewer)
    q = (sa.select(WebhookDelivery, ReportEvent.action).join(ReportEvent, ReportEvent.id == WebhookDelivery.event_id)
         .where(WebhookDelivery.subscription_id == subscription_id)
         .order_by(WebhookDelivery.event_id.desc()).limit(limit))
    if status is not None:
        q = q.where(WebhookDelivery.status == status)
    if before_event is not None:
        q = q.where(WebhookDelivery.event_id < before_event)
    return [LogEntry(d, a) for d, a in session.execute(q).all()]


def prune_log(session: Session, *, before: datetime) -> int:
    """Delete delivered and dead deliveries made before ``before`` whose events lie at or below
    their webhook's watermark (the scan never looks there again, so nothing is queued twice).
    Not committed. Returns how many rows went."""
    d, sub = WebhookDelivery, WebhookSubscription
    below = sa.select(sub.watermark).where(sub.id == d.subscription_id).scalar_subquery()
    return session.execute(sa.delete(d).where(
        d.status.in_([DeliveryStatus.delivered, DeliveryStatus.dead]), d.created_at < before,
        d.event_id <= below)).rowcount
