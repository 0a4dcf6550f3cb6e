"""The closed loop over the API: transitions, trail, escalation, rating, listings, stats."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from geo.cityconfig import load_city_config
from geo.models import Report
from geo.reports.workflow import allowed_actions, escalate_overdue
from tests.api.report_helpers import G1, body
from tests.conftest import STAFF
from tests.tiny_city import COMMUNITY


def new_report(client, **over) -> str:
    payload = body(**over)
    assert client.post("/api/v1/reports", json=payload).status_code == 201
    return payload["id"]


def act(client, rid, action, headers=STAFF, **extra):
    return client.post(f"/api/v1/reports/{rid}/transitions", json={"action": action, "actor": "李网格员", **extra},
                       headers=headers)


def test_full_loop_with_trail_and_rating(client, tiny):
    rid = new_report(client)
    for action, status in (("start", "in_progress"), ("resolve", "resolved"), ("close", "closed")):
        r = act(client, rid, action)
        assert r.status_code == 200 and r.json()["status"] == status
    rated = client.post(f"/api/v1/reports/{rid}/rating", json={"rating": 5, "comment": "很快"}, headers=STAFF)
    assert rated.status_code == 200 and rated.json()["rating"] == 5
    detail = client.get(f"/api/v1/reports/{rid}", headers=STAFF).json()
    assert [e["action"] for e in detail["trail"]] == ["register", "dispatch", "start", "resolve", "close", "rate"]
    assert [e["to_status"] for e in detail["trail"]][:5] == ["registered", "dispatched", "in_progress", "resolved", "closed"]
    assert detail["closed_at"] is not None and detail["overdue"] is False
    # Publicly the trail keeps its shape but loses names and notes.
    public = client.get(f"/api/v1/reports/{rid}").json()
    assert {e["actor"] for e in public["trail"]} <= {"system", "citizen", "staff", "reporter"}
    assert all(e["note"] is None for e in public["trail"])


@pytest.mark.parametrize(
    ("path", "action"),
    [([], "close"), ([], "reopen"), (["start"], "dispatch"), (["start", "resolve", "close"], "resolve"),
     (["reject"], "start"), (["start", "resolve", "close"], "escalate")],
)
def test_illegal_transitions_are_409_with_allowed_actions(client, db, tiny, path, action):
    rid = new_report(client)
    for step in path:
        assert act(client, rid, step).status_code == 200
    r = act(client, rid, action)
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "illegal_transition"
    report = db.get(Report, uuid.UUID(rid))
    db.refresh(report)
    assert err["status"] == report.status.value and err["allowed"] == allowed_actions(report)
    assert action not in err["allowed"]
    assert "accept" not in err["allowed"] and "return" not in err["allowed"]  # no department holds it


def test_reopen_and_reject_and_duplicate(client, tiny):
    rid = new_report(client)
    act(client, rid, "start")
    act(client, rid, "resolve")
    assert act(client, rid, "reopen").json()["status"] == "in_progress"
    other = new_report(client)
    r = act(client, other, "mark_duplicate")
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "duplicate_of"
    r = act(client, other, "mark_duplicate", duplicate_of=rid)
    assert r.json()["status"] == "duplicate" and r.json()["duplicate_of"] == rid
    third = new_report(client)
    assert act(client, third, "reject", note="not our matter").json()["status"] == "rejected"


def test_unknown_action_and_report(client, tiny):
    rid = new_report(client)
    r = act(client, rid, "teleport")
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "action"
    r = act(client, str(uuid.uuid4()), "start")
    assert r.status_code == 404 and r.json()["error"]["code"] == "report_not_found"


def test_transitions_need_a_staff_token(client, tiny):
    rid = new_report(client)
    r = act(client, rid, "start", headers={})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    r = act(client, rid, "start", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401


def test_rating_rules(client, tiny):
    payload = body()
    token = client.post("/api/v1/reports", json=payload).json()["case_token"]
    rid, mine = payload["id"], {"X-Case-Token": token}
    r = client.post(f"/api/v1/reports/{rid}/rating", json={"rating": 4}, headers=mine)
    assert r.status_code == 409 and r.json()["error"]["code"] == "illegal_transition"
    for step in ("start", "resolve", "close"):
        act(client, rid, step)
    assert client.post(f"/api/v1/reports/{rid}/rating", json={"rating": 6}, headers=mine).status_code == 422
    # Only the reporter (the case token) or a dispatcher rates: not anyone who knows the id.
    assert client.post(f"/api/v1/reports/{rid}/rating", json={"rating": 1}).status_code == 401
    other = client.post("/api/v1/reports", json=body()).json()["case_token"]
    assert client.post(f"/api/v1/reports/{rid}/rating", json={"rating": 1}, headers={"X-Case-Token": other}).status_code == 401
    assert client.post(f"/api/v1/reports/{rid}/rating", json={"rating": 4}, headers=mine).status_code == 200
    r = client.post(f"/api/v1/reports/{rid}/rating", json={"rating": 1}, headers=mine)
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_rated"


def test_overdue_case_escalates_up_the_chain(client, db, tiny):
    _, workers = tiny
    rid = new_report(client)
    # Only this case may be overdue here (the session's generated city has its own, rolled back after).
    db.execute(sa.update(Report).where(Report.id != uuid.UUID(rid)).values(due_at=None))
    report = db.get(Report, uuid.UUID(rid))
    config = load_city_config()
    later = report.due_at + timedelta(minutes=1)
    # Scoped to the tiny city's district: the session's generated city has overdue cases of its own.
    overdue = client.get("/api/v1/reports", params={"overdue": "true", "area": "110101"}).json()
    assert overdue["numberMatched"] == 0  # not yet: due in 4 hours

    assert escalate_overdue(db, config=config, now=later).moved == 1
    db.refresh(report)
    assert (report.escalation_level, report.escalated_to) == (1, COMMUNITY)
    assert report.assigned_worker_id == workers["lead"].id
    assert report.due_at == later + timedelta(hours=4)
    assert escalate_overdue(db, config=config, now=later).moved == 0, "escalation must not repeat before the new deadline"
    trail = client.get(f"/api/v1/reports/{rid}", headers=STAFF).json()["trail"]
    assert trail[-1]["action"] == "escalate" and trail[-1]["actor"] == "system"
    assert trail[-1]["data"]["to"] == COMMUNITY and trail[-1]["data"]["level_name"] == "community"
    # Up to the street, district and city, and no further.
    for level, code in ((2, "110101001"), (3, "110101"), (4, "110100")):
        later = report.due_at + timedelta(minutes=1)
        assert escalate_overdue(db, config=config, now=later).moved == 1
        db.refresh(report)
        assert (report.escalation_level, report.escalated_to) == (level, code)
    assert escalate_overdue(db, config=config, now=report.due_at + timedelta(days=1)).moved == 0


def test_overdue_listing(client, db, tiny):
    rid = new_report(client)
    db.execute(sa.update(Report).where(Report.id == uuid.UUID(rid)).values(due_at=datetime.now(UTC) - timedelta(hours=1)))
    listed = client.get("/api/v1/reports", params={"overdue": "true", "area": "110101"}).json()
    assert [i["id"] for i in listed["items"]] == [rid] and listed["items"][0]["overdue"] is True


def test_listing_filters(client, tiny):
    a = new_report(client)
    b = new_report(client, category="20", subcategory="2001", location={"lon": 116.415, "lat": 39.905})
    def ids(**p):
        p.setdefault("area", "110101")  # the tiny city's district, not the session's generated city
        return [i["id"] for i in client.get("/api/v1/reports", params=p).json()["items"]]

    assert set(ids()) == {a, b}
    assert ids(category="20") == [b]
    assert ids(area=G1) == [a] and set(ids(area=COMMUNITY)) == {a, b} and {a, b} <= set(ids(area="110100"))
    assert ids(bbox="116.40,39.91,116.41,39.92") == [a]
    assert ids(status="dispatched") and ids(status="closed") == []
    assert ids(since=(datetime.now(UTC) + timedelta(hours=1)).isoformat()) == []
    page = client.get("/api/v1/reports", params={"limit": 1, "area": "110101"}).json()
    assert page["numberMatched"] == 2 and page["next"] is not None
    assert client.get("/api/v1/reports", params={"area": "999999"}).status_code == 404
    assert client.get("/api/v1/reports", params={"since": "2026-01-01T00:00:00"}).status_code == 422


def test_stats_rates_per_area(client, tiny):
    done = new_report(client)
    for step in ("start", "resolve", "close"):
        act(client, done, step)
    client.post(f"/api/v1/reports/{done}/rating", json={"rating": 5}, headers=STAFF)
    new_report(client)
    rejected = new_report(client)
    act(client, rejected, "reject")
    stats = client.get("/api/v1/stats", params={"level": "grid"}).json()
    (g1,) = [a for a in stats["areas"] if a["code"] == G1]
    assert g1["total"] == 3
    assert g1["response_rate"] == 1.0
    assert g1["solved_rate"] == 0.5  # 1 closed of 2 real cases (the rejected one does not count)
    assert g1["satisfaction_rate"] == 1.0 and g1["overdue"] == 0
    assert g1["median_hours_to_close"] is not None
    communities = client.get("/api/v1/stats", params={"level": "community"}).json()["areas"]
    (community,) = [c for c in communities if c["code"] == COMMUNITY]
    assert community["total"] == 3
    assert client.get("/api/v1/stats", params={"level": "city"}).status_code == 422
