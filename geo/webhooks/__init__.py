"""Signed webhooks: push each status change, closure and rating of a system's cases to it.

The case trail (``report_events``: append-only, id-ordered) is the outbox. A delivery pass
(``delivery.deliver_due``: the server's periodic loop, or ``gridmap webhooks deliver``)
first queues, per subscription, the new events of the cases in its scope
(``outbox.enqueue``), then sends what is due (``delivery.send_due``): HMAC-SHA256 signed
(``signing``), at least once, in order per case, retried with exponential back-off and
logged in ``webhook_deliveries``. No workflow code knows about webhooks: whatever writes the
trail is delivered, and a process that dies loses nothing (the next pass resumes).
"""

from geo.webhooks.delivery import DeliveryRun, deliver_due, send_due
from geo.webhooks.outbox import DELIVERED_ACTIONS, enqueue
from geo.webhooks.signing import sign, signed_headers, verify
from geo.webhooks.subscriptions import (
    deactivate_subscription, delivery_log, get_subscription, list_subscriptions, register_subscription,
)

__all__ = [
    "DELIVERED_ACTIONS",
    "DeliveryRun",
    "deactivate_subscription",
    "deliver_due",
    "delivery_log",
    "enqueue",
    "get_subscription",
    "list_subscriptions",
    "register_subscription",
    "send_due",
    "sign",
    "signed_headers",
    "verify",
]
