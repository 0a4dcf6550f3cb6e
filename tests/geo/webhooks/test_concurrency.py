"""Committed data, real transactions: an event committed late (its id drawn before a newer
one's) is still delivered, and two delivery passes at once never send an event twice."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.cityconfig import load_city_config
from geo.db import make_sessionmaker
from geo.models import Report, ReportEvent, ReportSource, WebhookSubscription
from geo.reports.intake import ReportInput
from geo.reports.registration import submit_report
from geo.reports.workflow import apply_transition
from geo.webhooks import deliver_due, register_subscription
from tests.geo.webhooks.conftest import system_key
from tests.geo.webhooks.receiver import Receiver


@pytest.fixture()
def committed(engine, small_city, committed_reports):
    """(file(), subscribe(url)) on committed data, all deleted afterwards."""
    system = f"sys-{uuid.uuid4().hex[:8]}"
    config = load_city_config()
    subs: list[int] = []
    with Session(engine) as s:
        lon, lat = s.execute(sa.select(sa.func.ST_X(Report.location), sa.func.ST_Y(Report.location))
                             .where(Report.grid_code.is_not(None)).limit(1)).one()

    def file() -> uuid.UUID:
        with Session(engine) as s:
            item = ReportInput(category="30", subcategory="3001", description="", source=ReportSource.hotline_12345,
                               x=lon, y=lat, reported_at=datetime.now(UTC) - timedelta(minutes=1),
                               filed_by=f"system:{system}")
            rid = submit_report(s, item=item, config=config, now=datetime.now(UTC)).report_id
            s.commit()
        committed_reports.append(rid)
        return rid

    def subscribe(url: str) -> WebhookSubscription:
        with Session(engine, expire_on_commit=False) as s:
            sub = register_subscription(s, actor=system_key(system), url=url)
            s.commit()
        subs.append(sub.id)
        return sub

    yield file, subscribe, config
    with engine.begin() as conn:
        conn.execute(sa.delete(WebhookSubscription).where(WebhookSubscription.id.in_(subs)))


def watermark(engine, sub_id: int) -> int:
    with Session(engine) as s:
        return s.scalar(sa.select(WebhookSubscription.watermark).where(WebhookSubscription.id == sub_id))


def test_an_event_committed_after_a_newer_one_is_not_lost(engine, committed):
    file, subscribe, config = committed
    with Receiver() as rx:
        sub = subscribe(rx.url)
        rx.secret = sub.secret
        early, late = file(), file()
        passes = make_sessionmaker(engine)
        deliver_due(passes)  # their intake events
        slow = Session(engine)  # draws its event id first, commits last
        try:
            apply_transition(slow, report_id=early, action="start", actor="t", config=config, now=datetime.now(UTC))
            slow.flush()
            held = slow.scalar(sa.select(sa.func.max(ReportEvent.id)).where(ReportEvent.report_id == early))
            with Session(engine) as quick:
                apply_transition(quick, report_id=late, action="start", actor="t", config=config,
                                 now=datetime.now(UTC))
                quick.commit()
            for _ in range(3):
                deliver_due(passes)
                assert watermark(engine, sub.id) < held  # never past an id still in flight
            slow.commit()
        finally:
            slow.close()
        deliver_due(passes)
        starts = [r.payload for r in rx.received if r.payload["action"] == "start"]
        assert {p["service_request_id"] for p in starts} == {str(early), str(late)}
        assert held in {p["event_id"] for p in starts}
        # Once no transaction that was running can still commit an older id, the watermark moves
        # up (other databases' transactions on the server may delay it a little).
        newest = max(p["event_id"] for p in starts)
        deadline = time.monotonic() + 30
        while watermark(engine, sub.id) < newest and time.monotonic() < deadline:
            deliver_due(passes)
            time.sleep(0.2)
        assert watermark(engine, sub.id) >= newest
    assert len(rx.received) == 6 and all(r.verified for r in rx.received)


def test_two_passes_at_once_never_send_an_event_twice(engine, committed):
    file, subscribe, config = committed
    with Receiver(delay_s=0.05) as rx:
        sub = subscribe(rx.url)
        rx.secret = sub.secret
        cases = [file() for _ in range(4)]
        with Session(engine) as s:
            for case in cases:
                for action in ("start", "resolve", "close"):
                    apply_transition(s, report_id=case, action=action, actor="t", config=config, now=datetime.now(UTC))
            s.commit()
        passes = make_sessionmaker(engine)
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def run():
            try:
                barrier.wait()
                deliver_due(passes, batch=2)
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        deliver_due(passes)  # whatever one pass left to the other
    assert errors == []
    ids = [r.payload["event_id"] for r in rx.received]
    assert len(ids) == len(set(ids)) == 4 * 5  # register, dispatch, start, resolve, close: each once
    for case in cases:
        got = [r.payload["event_id"] for r in rx.received if r.payload["service_request_id"] == str(case)]
        assert got == sorted(got)
