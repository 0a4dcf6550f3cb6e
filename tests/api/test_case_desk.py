"""The dispatcher's case page: one URL, the desk for staff and the reporter's page for
everyone else; the actions each role may take (`your_actions`); the duplicate candidates."""

from __future__ import annotations

import math

import pytest

from api.auth import STAFF_COOKIE
from geo.access.roles import WORKER_ACTIONS
from tests.api.report_helpers import G1, INSIDE_G1, body
from tests.conftest import STAFF_TOKEN

LON, LAT = INSIDE_G1
NORTH_56M = (LON, LAT + 0.0005)  # 0.0005° of latitude: 55.6 m on PostGIS's sphere
FAR = (116.415, 39.905)  # grid 004, about 1.4 km away


def sphere_m(a, b) -> float:
    r = 6_371_008.8
    p1, p2 = math.radians(a[1]), math.radians(b[1])
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(b[0] - a[0]) / 2) ** 2
    return 2 * r * math.asin(math.sqrt(h))


def file(client, at=INSIDE_G1, **over) -> dict:
    r = client.post("/api/v1/reports", json=body(location={"lon": at[0], "lat": at[1]}, **over),
                    headers={"Authorization": f"Bearer {STAFF_TOKEN}"})
    assert r.status_code == 201, r.text
    return r.json()


def move(client, rid, action, headers, **extra):
    r = client.post(f"/api/v1/reports/{rid}/transitions", json={"action": action, "actor": "desk", **extra},
                    headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def page_as(client, rid, token: str | None):
    client.cookies.clear()
    if token is not None:
        client.cookies.set(STAFF_COOKIE, token.removeprefix("Bearer "))
    try:
        return client.get(f"/cases/{rid}")
    finally:
        client.cookies.clear()


@pytest.mark.parametrize("role", ["dispatcher", "worker", "planner", "admin"])
def test_staff_get_the_desk_and_it_holds_no_case_data(client, tiny, tokens, role):
    case = file(client)
    r = page_as(client, case["id"], tokens[role])
    assert r.status_code == 200
    html = r.text
    assert "/static/case_staff.js" in html and "/static/case.js" not in html
    assert "/assets/leaflet/dist/leaflet.js" in html
    assert r.headers["cache-control"] == "no-store" and "Cookie" in r.headers["vary"]
    assert "script-src 'self';" in r.headers["content-security-policy"]  # no inline script runs
    for personal in ("王小明", "13912345678", "小区门口垃圾堆积"):  # the data comes from the API, by role
        assert personal not in html
    assert f"{role} test {role}" in html  # the signed-in holder, as the trail will name them


def test_everyone_else_gets_the_reporters_page(client, tiny, tokens):
    case = file(client)
    for token in (None, "gm_notavalidtokenatall", tokens["system"]):
        r = page_as(client, case["id"], token)
        assert r.status_code == 200
        assert "/static/case.js" in r.text and "case_staff" not in r.text and 'id="unlock"' in r.text
    # The case token in a header does not make a staff page either.
    r = client.get(f"/cases/{case['id']}", headers={"X-Case-Token": case["case_token"]})
    assert "case_staff" not in r.text


def test_your_actions_by_role(client, tiny, tokens):
    mine = file(client)  # grid 001: the worker token's grid
    theirs = file(client, at=FAR)
    assert mine["grid_code"] == G1
    seen = {}
    for role in ("dispatcher", "admin", "worker", "planner", "system"):
        seen[role] = client.get(f"/api/v1/reports/{mine['id']}", headers={"Authorization": tokens[role]}).json()
    seen["reporter"] = client.get(f"/api/v1/reports/{mine['id']}", headers={"X-Case-Token": mine["case_token"]}).json()
    seen["public"] = client.get(f"/api/v1/reports/{mine['id']}").json()
    allowed = seen["dispatcher"]["allowed"]
    assert seen["dispatcher"]["status"] == "dispatched"
    assert seen["dispatcher"]["your_actions"] == allowed == seen["admin"]["your_actions"]
    assert seen["worker"]["your_actions"] == [a for a in allowed if a in WORKER_ACTIONS]
    assert {"start", "resolve", "escalate"} <= set(seen["worker"]["your_actions"])
    assert not {"dispatch", "reject", "mark_duplicate"} & set(seen["worker"]["your_actions"])  # the desk's
    for role in ("planner", "system", "reporter", "public"):
        assert seen[role]["your_actions"] == [], role
        assert seen[role]["allowed"] == allowed  # what the loop allows stays public
    other = client.get(f"/api/v1/reports/{theirs['id']}", headers={"Authorization": tokens["worker"]}).json()
    assert other["your_actions"] == []


def test_duplicate_candidates_come_from_intake_and_the_same_probe_now(client, tiny, tokens):
    d = {"Authorization": tokens["dispatcher"]}
    first = file(client)
    second = file(client, at=NORTH_56M)  # intake suggests `first`
    assert second["possible_duplicates"] == [first["id"]]
    other_kind = file(client, at=NORTH_56M, category="20", subcategory="2001")
    far = file(client, at=FAR)
    later = file(client, at=NORTH_56M)  # filed after `second`: a candidate now, not at its intake
    r = client.get(f"/api/v1/reports/{second['id']}/duplicates", headers=d)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["radius_m"] == 250.0 and out["window_days"] == 7
    got = {c["id"]: c for c in out["candidates"]}
    assert set(got) == {first["id"], later["id"]}
    assert other_kind["id"] not in got and far["id"] not in got and second["id"] not in got
    assert got[first["id"]]["suggested"] and got[first["id"]]["nearby"]
    assert not got[later["id"]]["suggested"] and got[later["id"]]["nearby"]
    assert got[later["id"]]["distance_m"] == pytest.approx(0.0, abs=0.1)
    assert got[first["id"]]["distance_m"] == pytest.approx(sphere_m(INSIDE_G1, NORTH_56M), abs=0.5)
    assert [c["id"] for c in out["candidates"]] == [later["id"], first["id"]]  # nearest first
    assert got[first["id"]]["description"] == "小区门口垃圾堆积" and got[first["id"]]["status"] == "dispatched"

    # `first` is since marked a duplicate of the far case: that one stands in for the suggestion;
    # `later` marked a duplicate of `second` is no candidate for it any more.
    move(client, first["id"], "mark_duplicate", d, duplicate_of=far["id"])
    move(client, later["id"], "mark_duplicate", d, duplicate_of=second["id"])
    out = client.get(f"/api/v1/reports/{second['id']}/duplicates", headers=d).json()
    assert [(c["id"], c["suggested"], c["nearby"], c["instead_of"]) for c in out["candidates"]] == [
        (far["id"], True, False, first["id"])]
    assert out["candidates"][0]["distance_m"] == pytest.approx(sphere_m(NORTH_56M, FAR), abs=1.0)
    # A candidate is what mark_duplicate takes.
    done = move(client, second["id"], "mark_duplicate", d, duplicate_of=far["id"])
    assert done["status"] == "duplicate" and done["your_actions"] == []


def test_duplicate_candidates_are_for_those_who_may_mark_one(client, tiny, tokens):
    case = file(client)
    url = f"/api/v1/reports/{case['id']}/duplicates"
    assert client.get(url).status_code == 401
    assert client.get(url, headers={"X-Case-Token": case["case_token"]}).status_code == 401
    for role, want in (("worker", 403), ("planner", 403), ("system", 403), ("dispatcher", 200), ("admin", 200)):
        r = client.get(url, headers={"Authorization": tokens[role]})
        assert r.status_code == want, (role, r.text)
        if want == 403:
            assert r.json()["error"]["code"] == "forbidden"
    assert client.get("/api/v1/reports/0b4e9f7a-2c1d-4e8f-9a6b-3d5c7e1f2a4b/duplicates",
                      headers={"Authorization": tokens["dispatcher"]}).status_code == 404


def test_the_command_centre_popups_link_to_the_case_page(client, tiny):
    from maps.command_center import LiveSources, build_command_center
    from maps.base import render
    from maps.settings import MapSettings

    client.cookies.clear()
    h = {"Authorization": f"Bearer {STAFF_TOKEN}"}
    wall = client.get("/maps/command-center", headers=h).text
    assert "gm-case-link" in wall and '"/cases/" + encodeURIComponent(p.id)' in wall
    assert "/cases/" not in client.get("/embed/hotspots").text  # the public embed links to no staff page
    # A standalone wall file has no server to open a case on: no link; nor has the open demo's wall,
    # whose visitors are no staff (they would get the reporter's page).
    from api.app import create_app
    from api.deps import get_session
    from api.settings import ApiSettings
    from fastapi.testclient import TestClient

    open_app = create_app(engine=client.app.state.engine, api_settings=ApiSettings(escalation_interval_s=0))
    open_app.dependency_overrides[get_session] = client.app.dependency_overrides[get_session]
    open_app.state.authenticator.is_open = _always_open
    with TestClient(open_app) as anyone:
        wall = anyone.get("/maps/command-center")
        assert wall.status_code == 200 and "gm-case-link" not in wall.text
    m = build_command_center(areas={"grid": []}, heat={}, live=LiveSources(), bounds=None, settings=MapSettings())
    assert "gm-case-link" not in render(m, title="t")[0]


async def _always_open() -> bool:
    return True


def test_department_staff_act_on_their_departments_cases(client, db, tiny):
    """A desk worker of the department holding a case: its actions (accept, return, a transfer
    within the department) and none of the grid chain's; the desk's page knows its department."""
    from geo.access.roles import DEPARTMENT_ACTIONS, Principal, Role
    from geo.access.tokens import issue_token
    from tests.tiny_city import SANITATION, add_department_staff, tiny_config

    staff = add_department_staff(db)
    client.app.state.city_config = tiny_config()
    desk_token = issue_token(db, role=Role.worker, name="sanitation desk", actor=Principal(Role.admin, holder="t"),
                             worker_id=staff["TD-SA-01"].id).token
    desk = {"Authorization": f"Bearer {desk_token}"}
    case = file(client)
    before = client.get(f"/api/v1/reports/{case['id']}", headers=desk).json()
    assert before["your_actions"] == []  # not the department's yet
    move(client, case["id"], "transfer", {"Authorization": f"Bearer {STAFF_TOKEN}"}, department=SANITATION,
         note="rubbish is sanitation's")
    held = client.get(f"/api/v1/reports/{case['id']}", headers=desk).json()
    assert held["department_code"] == SANITATION and "accept" in held["allowed"]
    assert held["your_actions"] == [a for a in held["allowed"] if a in DEPARTMENT_ACTIONS]
    assert {"accept", "return", "transfer"} <= set(held["your_actions"])
    assert not {"dispatch", "reject", "mark_duplicate", "close"} & set(held["your_actions"])
    page = page_as(client, case["id"], desk["Authorization"]).text
    assert "/static/case_staff.js" in page and f'"department": "{SANITATION}"' in page
