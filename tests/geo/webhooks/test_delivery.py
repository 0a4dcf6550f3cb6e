"""Deliveries to a real loopback receiver: signed, in order per case, retried with back-off,
scoped to the system's own cases (or an area), and independent of each other."""

from __future__ import annotations

import sqlalchemy as sa

from geo.models import DeliveryStatus, ReportEvent
from geo.webhooks import delivery_log, enqueue
from geo.webhooks.delivery import MAX_ATTEMPTS, backoff
from tests.geo.webhooks.conftest import ADMIN, system_key
from tests.geo.webhooks.receiver import Receiver, free_port
from tests.tiny_city import COMMUNITY

LOOP = ["register", "dispatch", "start", "resolve", "close", "rate"]


def trail_ids(db, report_id) -> list[int]:
    return list(db.scalars(sa.select(ReportEvent.id).where(ReportEvent.report_id == report_id).order_by(ReportEvent.id)))


def test_the_loop_and_the_rating_arrive_signed_in_order(world):
    with Receiver() as rx:
        sub = world.subscribe(rx.url)
        rx.secret, rx.clock = sub.secret, lambda: world.now.timestamp()
        case = world.file()
        world.close_and_rate(case)
        run = world.deliver()
    assert (run.queued, run.delivered, run.failed) == (6, 6, 0)
    assert all(r.verified for r in rx.received)
    assert [r.payload["action"] for r in rx.received] == LOOP
    assert [r.payload["event_id"] for r in rx.received] == trail_ids(world.db, case)
    first, closing, rating = rx.received[0], rx.received[4], rx.received[5]
    assert first.headers["X-Gridmap-Event-Id"] == str(first.payload["event_id"])
    assert first.headers["X-Gridmap-Attempt"] == "1" and first.headers["X-Gridmap-Delivery"].isdigit()
    assert (closing.payload["from_status"], closing.payload["to_status"], closing.payload["status"]) == (
        "resolved", "closed", "closed")
    assert rating.payload["data"] == {"rating": 4} and rating.payload["report"]["rating"] == 4
    assert rating.payload["service_request_id"] == str(case)
    assert rating.payload["report"]["grid_code"] == f"{COMMUNITY}001"
    # Nothing personal: reporter, phone, notes, staff names, comments.
    for r in rx.received:
        text = r.body.decode()
        assert "王小明" not in text and "13912345678" not in text and "王芳" not in text and "thanks" not in text
    log = delivery_log(world.db, subscription_id=sub.id, viewer=system_key("hotline"))
    assert [(e.action, e.delivery.status, e.delivery.attempts) for e in log] == [
        (a, DeliveryStatus.delivered, 1) for a in reversed(LOOP)]
    # A second pass sends nothing again.
    with Receiver(secret=sub.secret) as rx2:
        assert world.deliver().delivered == 0 and rx2.received == []


def test_a_case_filed_by_another_system_or_a_citizen_is_not_delivered(world):
    with Receiver() as rx:
        sub = world.subscribe(rx.url)
        rx.secret, rx.clock = sub.secret, lambda: world.now.timestamp()
        theirs, citizens, mine = world.file(system="video-ai"), world.file(system=None), world.file()
        world.move(theirs, "start")
        world.move(citizens, "start")
        world.deliver()
    assert {r.payload["service_request_id"] for r in rx.received} == {str(mine)}
    assert {d.report_id for d in world.deliveries(sub)} == {mine}


def test_a_failing_receiver_is_retried_with_back_off_and_gets_every_event_in_order(world):
    # The first 5 requests fail (two cases' heads, then their retries, then one more).
    with Receiver(answer=lambda payload, n: 503 if n < 5 else 200) as rx:
        sub = world.subscribe(rx.url)
        rx.secret, rx.clock = sub.secret, lambda: world.now.timestamp()
        a, b = world.file(), world.file(lon=116.415, lat=39.905)
        world.close_and_rate(a)
        world.move(b, "start")
        start = world.now
        run = world.deliver()
        assert (run.delivered, run.failed) == (0, 2)  # each case's head tried once; the rest waits behind it
        heads = [d for d in world.deliveries(sub) if d.attempts]
        assert [(d.status, d.attempts, d.next_attempt_at - start, d.last_status_code, d.last_error) for d in heads] == [
            (DeliveryStatus.failed, 1, backoff(1), 503, "HTTP 503")] * 2
        world.later(10)
        assert world.deliver().failed == 0 and len(rx.received) == 2  # not due yet: nothing sent
        for _ in range(6):
            world.later(backoff(3).total_seconds())
            world.deliver()
    assert all(r.verified for r in rx.received)
    attempts = [r.headers["X-Gridmap-Attempt"] for r in rx.received]
    assert attempts[:4] == ["1", "1", "2", "2"] and "3" in attempts
    delivered = world.deliveries(sub)
    assert all(d.status == DeliveryStatus.delivered for d in delivered) and len(delivered) == 6 + 3
    for case in (a, b):
        got = [r.payload["event_id"] for r in rx.received if r.payload["service_request_id"] == str(case)]
        seen = list(dict.fromkeys(got))  # first arrivals, in arrival order
        assert seen == trail_ids(world.db, case), case  # every event, at least once, in trail order
        assert got == sorted(got)  # a later event never before an earlier one's retries ended


def test_one_failing_case_does_not_hold_up_another(world):
    with Receiver() as rx:
        sub = world.subscribe(rx.url)
        rx.secret, rx.clock = sub.secret, lambda: world.now.timestamp()
        stuck, fine = world.file(), world.file(lon=116.415, lat=39.905)
        # The receiver keeps refusing one event: the stuck case's first.
        rx.answer = lambda payload, n: 500 if (payload["service_request_id"], payload["action"]) == (
            str(stuck), "register") else 200
        world.close_and_rate(stuck)
        world.close_and_rate(fine)
        world.deliver()
        by_case = {c: [r.payload["action"] for r in rx.received if r.payload["service_request_id"] == str(c)]
                   for c in (stuck, fine)}
        assert by_case == {stuck: ["register"], fine: LOOP}
        # Until that event is given up, the stuck case's later events wait; then they go on.
        for attempt in range(2, MAX_ATTEMPTS + 1):
            world.later(backoff(MAX_ATTEMPTS).total_seconds())
            world.deliver()
            sent = [r.payload["action"] for r in rx.received if r.payload["service_request_id"] == str(stuck)]
            assert sent == ["register"] * attempt + (LOOP[1:] if attempt == MAX_ATTEMPTS else [])
    stuck_log = [d for d in world.deliveries(sub) if d.report_id == stuck]
    assert (stuck_log[0].status, stuck_log[0].attempts, stuck_log[0].last_error) == (
        DeliveryStatus.dead, MAX_ATTEMPTS, "HTTP 500")
    assert all(d.status == DeliveryStatus.delivered and d.attempts == 1 for d in stuck_log[1:])
    stuck_actions = [r.payload["action"] for r in rx.received if r.payload["service_request_id"] == str(stuck)]
    assert stuck_actions == ["register"] * MAX_ATTEMPTS + LOOP[1:]


def test_an_unreachable_webhook_does_not_block_another(world):
    with Receiver() as rx:
        dead = world.subscribe(f"http://127.0.0.1:{free_port()}/gone")
        live = world.subscribe(rx.url, system="hotline")
        rx.secret, rx.clock = live.secret, lambda: world.now.timestamp()
        cases = [world.file(), world.file(lon=116.415, lat=39.905), world.file(lon=116.405, lat=39.905)]
        run = world.deliver()
    assert run.unreachable == {dead.id}
    assert len(rx.received) == 3 * 2 and run.delivered == 6  # register + dispatch of each case
    tried = [d for d in world.deliveries(dead) if d.attempts]
    # One refused connection per pass: the rest of that webhook waits, untried, for the next.
    assert [(d.attempts, d.last_error) for d in tried] == [(1, "could not connect")]
    assert {d.report_id for d in world.deliveries(dead)} == set(cases)


def test_an_area_webhook_gets_the_areas_cases_and_sensitive_ones_only_coarsely(world):
    with Receiver() as rx_grid, Receiver() as rx_community:
        grid = world.subscribe(rx_grid.url, system="city-desk", area=f"{COMMUNITY}001")
        community = world.subscribe(rx_community.url, system="city-desk", area=COMMUNITY)
        for rx, sub in ((rx_grid, grid), (rx_community, community)):
            rx.secret, rx.clock = sub.secret, lambda: world.now.timestamp()
        rubbish = world.file(system=None)  # a citizen's, in grid 001
        dispute = world.file(system=None, category="10", subcategory=None, lon=116.4062, lat=39.9163)  # sensitive
        elsewhere = world.file(system=None, lon=116.415, lat=39.905)  # grid 004
        world.move(dispute, "start")
        world.deliver()
    cases = lambda rx: {r.payload["service_request_id"] for r in rx.received}  # noqa: E731
    assert cases(rx_grid) == {str(rubbish)}  # a grid-level area never reveals a sensitive case
    assert cases(rx_community) == {str(rubbish), str(dispute), str(elsewhere)}
    assert all(r.verified for r in rx_grid.received + rx_community.received)
    sensitive = [r.payload for r in rx_community.received if r.payload["service_request_id"] == str(dispute)]
    assert [p["action"] for p in sensitive] == ["register", "dispatch", "start"]
    for p in sensitive:  # its public cell's centre and its community, never the point or the grid
        assert (p["report"]["lon"], p["report"]["lat"], p["report"]["grid_code"]) == (116.405, 39.915, COMMUNITY)
        assert p["report"]["location_precision_m"] == 400
    plain = next(r.payload for r in rx_community.received if r.payload["service_request_id"] == str(rubbish))
    assert (plain["report"]["lon"], plain["report"]["lat"], plain["report"]["grid_code"]) == (
        116.405, 39.915, f"{COMMUNITY}001")


def test_only_an_admin_grants_an_area_and_a_system_registers_for_itself(world):
    import pytest

    from geo.errors import Forbidden, InvalidInput
    from geo.webhooks import register_subscription

    key = system_key("hotline")
    with pytest.raises(Forbidden):
        register_subscription(world.db, actor=key, url="https://x.example/h", area_prefix=COMMUNITY)
    with pytest.raises(Forbidden):
        register_subscription(world.db, actor=key, url="https://x.example/h", system="video-ai")
    for url in ("ftp://x.example/h", "x.example/h", "https:///nohost", "http://x.example:99999/h"):
        with pytest.raises(InvalidInput) as err:
            register_subscription(world.db, actor=key, url=url)
        assert err.value.details["field"] == "url"
    with pytest.raises(InvalidInput) as err:
        register_subscription(world.db, actor=ADMIN, url="https://x.example/h", system="desk", area_prefix="1101")
    assert err.value.details["field"] == "area_prefix"


def test_a_removed_webhook_gets_nothing_more_and_events_are_queued_once(world):
    from geo.webhooks import deactivate_subscription

    with Receiver() as rx:
        sub = world.subscribe(rx.url)
        rx.secret, rx.clock = sub.secret, lambda: world.now.timestamp()
        case = world.file()
        assert enqueue(world.db, now=world.now) == 2
        assert enqueue(world.db, now=world.now) == 0  # scanning again queues nothing twice
        deactivate_subscription(world.db, subscription_id=sub.id, actor=system_key("hotline"), now=world.now)
        world.move(case, "start")
        run = world.deliver()
    assert (run.queued, run.delivered, rx.received) == (0, 0, [])
    assert [d.status for d in world.deliveries(sub)] == [DeliveryStatus.pending] * 2


def test_a_webhooks_backlog_does_not_make_another_wait(world):
    with Receiver() as busy_rx, Receiver() as quiet_rx:
        busy = world.subscribe(busy_rx.url)
        quiet = world.subscribe(quiet_rx.url, system="video-ai")
        for rx, sub in ((busy_rx, busy), (quiet_rx, quiet)):
            rx.secret, rx.clock = sub.secret, lambda: world.now.timestamp()
        for k in range(5):
            world.file(lon=116.401 + k * 0.001)  # the busy webhook's backlog, queued first
        world.file(system="video-ai")
        run = world.deliver(batch=2, max_batches=1)  # room for two deliveries per webhook, once
    assert run.delivered == 3  # the quiet webhook's one head, the busy one's two
    assert [r.payload["action"] for r in quiet_rx.received] == ["register"]
    assert len(busy_rx.received) == 2


def test_pruning_the_log_keeps_what_is_due_and_queues_nothing_again(world):
    from datetime import timedelta

    import sqlalchemy as sa

    from geo.models import WebhookDelivery, WebhookSubscription
    from geo.webhooks.subscriptions import prune_log

    with Receiver() as rx:
        sub = world.subscribe(rx.url)
        rx.secret, rx.clock = sub.secret, lambda: world.now.timestamp()
        rx.answer = lambda payload, n: 500 if payload["action"] == "dispatch" else 200
        world.file()
        world.deliver()  # register delivered, dispatch failed
    # As if the scan had long moved past them, a month ago.
    world.db.execute(sa.update(WebhookSubscription).where(WebhookSubscription.id == sub.id)
                     .values(watermark=sa.select(sa.func.max(WebhookDelivery.event_id)).scalar_subquery()))
    world.db.execute(sa.update(WebhookDelivery).values(created_at=world.now - timedelta(days=40)))
    assert prune_log(world.db, before=world.now - timedelta(days=30)) == 1
    assert [d.status for d in world.deliveries(sub)] == [DeliveryStatus.failed]
    assert enqueue(world.db, now=world.now) == 0
