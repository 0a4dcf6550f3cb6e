"""Request/response schemas of ``/api/v1/webhooks``."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

WEBHOOK_EXAMPLE = {"url": "https://hotline.example.gov.cn/gridmap/events"}


class WebhookIn(BaseModel):
    """Register a URL to receive, signed, each status change, closure and rating of your
    cases from now on. A system key: the cases it files. An admin: names the ``system`` and
    may add an ``area_prefix``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        WEBHOOK_EXAMPLE, {"url": "https://hotline.example.gov.cn/gridmap/events", "system": "hotline-12345",
                          "area_prefix": "211102001"}]})

    url: str = Field(max_length=2000, description="Where events are POSTed: an absolute http:// or https:// URL.",
                     examples=[WEBHOOK_EXAMPLE["url"]])
    system: str | None = Field(None, max_length=64, examples=["hotline-12345"], description=(
        "Admin only (a system key: its own, the default): the system whose filed cases are delivered."))
    area_prefix: str | None = Field(None, max_length=15, examples=["211102001"], description=(
        "Admin only: also deliver every case whose grid code starts with this area code (6, 9, 12 or 15 digits)."))


class WebhookOut(BaseModel):
    id: int
    system: str
    url: str
    area_prefix: str | None = None
    active: bool
    created_at: datetime
    created_by: str
    deactivated_at: datetime | None = None
    secret_prefix: str = Field(description="The secret's first characters, to tell secrets apart.")


class WebhookCreated(WebhookOut):
    secret: str = Field(description=(
        "The HMAC-SHA256 key deliveries are signed with. Shown only now: store it with the receiver."))


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]


class DeliveryOut(BaseModel):
    id: int = Field(description="Sent as X-Gridmap-Delivery; the same on every attempt.")
    event_id: int = Field(description="The case trail's event (X-Gridmap-Event-Id).")
    service_request_id: uuid.UUID = Field(description="The case (report id).")
    action: str = Field(examples=["resolve"])
    status: str = Field(examples=["delivered"], description="pending, failed (retried later), delivered or dead.")
    attempts: int
    next_attempt_at: datetime | None = Field(None, description="When it is tried next (pending or failed).")
    last_attempt_at: datetime | None = None
    last_status_code: int | None = Field(None, description="The receiver's last HTTP status.")
    last_error: str | None = Field(None, examples=["HTTP 503"], description="Why the last attempt failed.")
    delivered_at: datetime | None = None
    created_at: datetime


class DeliveryLog(BaseModel):
    webhook: int
    deliveries: list[DeliveryOut] = Field(description="Newest event first.")
    next_before_event: int | None = Field(None, description="Pass as before_event for the next page (None: last).")
