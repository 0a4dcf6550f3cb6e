"""/api/v1/webhooks: a system key registers for its own filings, an admin for any system and
area; the delivery log is the owner's and staff's; a delivery to a real receiver shows in it."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import UTC, datetime

from geo.webhooks import deliver_due
from tests.api.report_helpers import body
from tests.geo.webhooks.receiver import Receiver
from tests.tiny_city import COMMUNITY

URL = "https://hotline.example/gridmap"


def h(tokens, role):
    return {"Authorization": tokens[role]} if role != "public" else {}


def other_system(db):
    from geo.access.roles import Principal, Role
    from geo.access.tokens import issue_token

    t = issue_token(db, role=Role.system, name="video feed", actor=Principal(Role.admin, holder="t"), system="video-ai")
    return {"Authorization": f"Bearer {t.token}"}


def test_a_system_registers_lists_and_removes_its_own(client, db, tokens):
    r = client.post("/api/v1/webhooks", json={"url": URL}, headers=h(tokens, "system"))
    assert r.status_code == 201, r.text
    hook = r.json()
    assert hook["system"] == "test-hotline" and hook["active"] and hook["area_prefix"] is None
    assert hook["secret"].startswith("whsec_") and hook["secret"].startswith(hook["secret_prefix"])
    theirs = client.post("/api/v1/webhooks", json={"url": URL, "system": "video-ai"}, headers=h(tokens, "admin")).json()
    listed = client.get("/api/v1/webhooks", headers=h(tokens, "system")).json()["webhooks"]
    assert [w["id"] for w in listed] == [hook["id"]] and "secret" not in listed[0]
    every = client.get("/api/v1/webhooks", headers=h(tokens, "dispatcher")).json()["webhooks"]
    assert {w["id"] for w in every} >= {hook["id"], theirs["id"]}
    assert client.delete(f"/api/v1/webhooks/{theirs['id']}", headers=h(tokens, "system")).status_code == 403
    gone = client.delete(f"/api/v1/webhooks/{hook['id']}", headers=h(tokens, "system"))
    assert gone.status_code == 200 and gone.json()["active"] is False and gone.json()["deactivated_at"]
    assert client.delete(f"/api/v1/webhooks/{hook['id']}", headers=h(tokens, "system")).json()["active"] is False
    assert client.delete("/api/v1/webhooks/999999", headers=h(tokens, "admin")).status_code == 404


def test_bad_fields_are_422_naming_them_and_areas_are_an_admins(client, tokens):
    for url in ("ftp://hotline.example/x", "hotline.example/x", "javascript:alert(1)", "http://exa mple/x"):
        r = client.post("/api/v1/webhooks", json={"url": url}, headers=h(tokens, "system"))
        assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "url", (url, r.text)
    r = client.post("/api/v1/webhooks", json={"url": URL, "area_prefix": COMMUNITY}, headers=h(tokens, "system"))
    assert r.status_code == 403
    r = client.post("/api/v1/webhooks", json={"url": URL}, headers=h(tokens, "admin"))
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "system"
    r = client.post("/api/v1/webhooks", json={"url": URL, "system": "desk", "area_prefix": "11x"},
                    headers=h(tokens, "admin"))
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "area_prefix"
    r = client.post("/api/v1/webhooks", json={"url": URL, "system": "desk", "area_prefix": COMMUNITY},
                    headers=h(tokens, "admin"))
    assert r.status_code == 201 and r.json()["area_prefix"] == COMMUNITY
    r = client.post("/api/v1/webhooks", json={"url": URL, "secret": "mine"}, headers=h(tokens, "system"))
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "secret"


def test_the_delivery_log_is_the_owners_and_staffs(client, db, tokens, tiny):
    from sqlalchemy import update

    from geo.models import Report, ReportStatus

    db.execute(update(Report).values(status=ReportStatus.closed))  # only this test's cases move
    with Receiver() as rx:
        hook = client.post("/api/v1/webhooks", json={"url": rx.url}, headers=h(tokens, "system")).json()
        rx.secret = hook["secret"]
        rx.answer = lambda payload, n: 500 if payload["action"] == "dispatch" else 200
        filed = body()
        assert client.post("/api/v1/reports", json=filed, headers=h(tokens, "system")).status_code == 201
        assert client.post("/api/v1/reports", json=body()).status_code == 201  # a citizen's: not delivered
        run = deliver_due(lambda: nullcontext(db), now=datetime.now(UTC))
    assert (run.delivered, run.failed) == (1, 1)
    url = f"/api/v1/webhooks/{hook['id']}/deliveries"
    for role in ("system", "dispatcher", "admin"):
        r = client.get(url, headers=h(tokens, role))
        assert r.status_code == 200, (role, r.text)
        log = r.json()["deliveries"]
        assert [(d["action"], d["status"], d["attempts"], d["last_status_code"], d["last_error"]) for d in log] == [
            ("dispatch", "failed", 1, 500, "HTTP 500"), ("register", "delivered", 1, 200, None)]
        assert {d["service_request_id"] for d in log} == {filed["id"]}
        assert log[0]["next_attempt_at"] and log[1]["next_attempt_at"] is None and log[1]["delivered_at"]
    page = client.get(url, params={"status": "failed"}, headers=h(tokens, "system")).json()["deliveries"]
    assert [d["action"] for d in page] == ["dispatch"]
    first = client.get(url, params={"limit": 1}, headers=h(tokens, "system")).json()
    rest = client.get(url, params={"before_event": first["next_before_event"]}, headers=h(tokens, "system")).json()
    assert [d["action"] for d in first["deliveries"] + rest["deliveries"]] == ["dispatch", "register"]
    assert client.get(url, headers=other_system(db)).status_code == 403
    for role, want in (("worker", 403), ("planner", 403), ("public", 401)):
        assert client.get(url, headers=h(tokens, role)).status_code == want, role
    assert client.get("/api/v1/webhooks/999999/deliveries", headers=h(tokens, "admin")).status_code == 404


def test_the_servers_periodic_loop_runs_a_delivery_pass_and_survives_its_errors(engine, monkeypatch):
    """A failing pass is logged and the loop goes on; the other steps are stubbed (they would
    escalate the session database's cases for real)."""
    import time

    from fastapi.testclient import TestClient

    import api.jobs as app_module
    from api.app import create_app
    from api.settings import ApiSettings
    from geo.reports.workflow import EscalationRun

    calls = []

    def failing_pass(sessions):
        calls.append(sessions)
        raise RuntimeError("receiver exploded")

    monkeypatch.setattr(app_module, "deliver_due", failing_pass)
    monkeypatch.setattr(app_module, "escalate_overdue", lambda session, **kw: EscalationRun(0, []))
    monkeypatch.setattr(app_module, "activate_scheduled", lambda app: None)
    monkeypatch.setattr(app_module, "matcher_for", lambda session: None)
    app = create_app(engine=engine, api_settings=ApiSettings(escalation_interval_s=0.05, intake_batching=False))
    with TestClient(app):
        deadline = time.monotonic() + 10
        while len(calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert len(calls) >= 3 and calls[0] is app.state.sessionmaker
