"""Cases on the tiny city filed by named systems, moved through the loop, and delivery passes
run inside the test's transaction with an injected clock."""

from __future__ import annotations

import uuid
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from geo.access.roles import Principal, Role
from geo.cityconfig import load_city_config
from geo.models import Report, ReportSource, ReportStatus, WebhookDelivery
from geo.reports.intake import ReportInput
from geo.reports.registration import submit_report
from geo.reports.workflow import apply_transition, rate
from geo.webhooks import deliver_due, register_subscription

ADMIN = Principal(Role.admin, holder="admin test")


def system_key(name: str) -> Principal:
    return Principal(Role.system, holder=f"system {name}", token_id=1, system=name)


class World:
    """The test's clock, its cases and its passes."""

    def __init__(self, db):
        self.db = db
        self.config = load_city_config()
        self.now = datetime.now(UTC).replace(microsecond=0)

    def file(self, *, system: str | None = "hotline", lon: float = 116.405, lat: float = 39.915,
             category: str = "30", subcategory: str | None = "3001") -> uuid.UUID:
        item = ReportInput(category=category, subcategory=subcategory, description="垃圾", source=ReportSource.hotline_12345,
                           x=lon, y=lat, reported_at=self.now - timedelta(minutes=5), reporter_name="王小明",
                           reporter_phone="13912345678", filed_by=f"system:{system}" if system else None)
        return submit_report(self.db, item=item, config=self.config, now=self.now).report_id

    def move(self, report_id: uuid.UUID, *actions: str) -> None:
        for action in actions:
            apply_transition(self.db, report_id=report_id, action=action, actor="王芳", note="13912345678 called",
                             config=self.config, now=self.now)

    def close_and_rate(self, report_id: uuid.UUID, rating: int = 4) -> None:
        self.move(report_id, "start", "resolve", "close")
        rate(self.db, report_id=report_id, rating=rating, comment="王小明 says thanks", now=self.now)

    def subscribe(self, url: str, *, system: str = "hotline", area: str | None = None):
        actor = ADMIN if area else system_key(system)
        return register_subscription(self.db, actor=actor, url=url, system=system, area_prefix=area)

    def deliver(self, **kw):
        return deliver_due(lambda: nullcontext(self.db), now=self.now, **kw)

    def later(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def deliveries(self, sub) -> list[WebhookDelivery]:
        self.db.expire_all()
        return list(self.db.scalars(sa.select(WebhookDelivery).where(WebhookDelivery.subscription_id == sub.id)
                                    .order_by(WebhookDelivery.event_id)))


@pytest.fixture()
def world(db, tiny):
    # Only this test's cases are open (the session's other data never reaches its receivers:
    # no system filed it and no area webhook covers it, but keep the trail quiet anyway).
    db.execute(sa.update(Report).values(status=ReportStatus.closed))
    return World(db)
