"""A case's hops between departments reach its system's webhook with the department, never the reasons."""

from __future__ import annotations

from geo.reports.workflow import apply_transition
from tests.geo.webhooks.receiver import Receiver
from tests.tiny_city import ROADS, add_department_staff, tiny_config


def test_transfer_accept_and_return_are_delivered_with_the_department(world):
    add_department_staff(world.db)
    config = tiny_config()
    with Receiver() as rx:
        sub = world.subscribe(rx.url)
        rx.secret, rx.clock = sub.secret, lambda: world.now.timestamp()
        case = world.file()
        for action, extra in (("transfer", {"department": ROADS}), ("accept", {}), ("return", {})):
            apply_transition(world.db, report_id=case, action=action, actor="王芳", note="13912345678 说不是我们的",
                             config=config, now=world.now, **extra)
        assert world.deliver().delivered == 5
    hops = [r.payload for r in rx.received][2:]
    assert [(p["action"], p["data"].get("department")) for p in hops] == [
        ("transfer", ROADS), ("accept", ROADS), ("return", ROADS)]
    assert "due_at" in hops[0]["data"] and "worker_id" not in hops[0]["data"]
    assert hops[0]["report"]["department_code"] is None  # the report as it is now: returned
    assert hops[2]["report"]["return_count"] == 1 and hops[2]["to_status"] == "registered"
    assert all("13912345678" not in r.body.decode() and "王芳" not in r.body.decode() for r in rx.received)
