"""Every endpoint × every role, against the one permission table (geo.access.roles).

Roles: public (no token), reporter (the case token of the case at hand), worker (grid 001's
worker; the case is in grid 001, so it is theirs), dispatcher, planner, admin, system. Denied
is 401 without a token and 403 with one; allowed is the endpoint's own success status.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from tests import images
from tests.api.report_helpers import G2, INSIDE_G1, body
from tests.tiny_city import COMMUNITY, GRIDS

ROLES = ("public", "reporter", "worker", "dispatcher", "planner", "admin", "system")
STAFF_MAPS = {"worker", "dispatcher", "planner", "admin"}


def png() -> bytes:
    return images.png(colour=(uuid.uuid4().int % 255, 0, 0))


class Case:
    """A fresh case in grid 001 and the headers of each role for it."""

    def __init__(self, client, tokens, **over):
        payload = body(**over)
        r = client.post("/api/v1/reports", json=payload)
        assert r.status_code == 201, r.text
        self.id = payload["id"]
        self.headers = {role: {"Authorization": t} for role, t in tokens.items()}
        self.headers["public"] = {}
        self.headers["reporter"] = {"X-Case-Token": r.json()["case_token"]}

    def close(self, client):
        for step in ("start", "resolve", "close"):
            r = client.post(f"/api/v1/reports/{self.id}/transitions", json={"action": step, "actor": "t"},
                            headers=self.headers["admin"])
            assert r.status_code == 200, r.text


def call(client, tokens, name: str, role: str):
    """Make the request ``name`` as ``role``; returns the response."""
    case = Case(client, tokens)
    h = case.headers[role]
    if name == "file report":
        return client.post("/api/v1/reports", json=body(), headers=h)
    if name == "file batch":
        return client.post("/api/v1/reports/batch", json={"reports": [body()]}, headers=h)
    if name == "read one":
        return client.get(f"/api/v1/reports/{case.id}", headers=h)
    if name == "duplicate candidates":
        return client.get(f"/api/v1/reports/{case.id}/duplicates", headers=h)
    if name == "list":
        return client.get("/api/v1/reports", headers=h)
    if name == "export":
        return client.get("/api/v1/reports/export", headers=h)
    if name == "start (worker's own action)":
        return client.post(f"/api/v1/reports/{case.id}/transitions", json={"action": "start", "actor": "t"}, headers=h)
    if name == "transfer (a worker's own case)":
        return client.post(f"/api/v1/reports/{case.id}/transitions", headers=h,
                           json={"action": "transfer", "actor": "t", "department": "city_management", "note": "城管"})
    if name == "accept (the department's action)":
        r = client.post(f"/api/v1/reports/{case.id}/transitions", headers=case.headers["admin"],
                        json={"action": "transfer", "actor": "t", "department": "city_management", "note": "城管"})
        assert r.status_code == 200, r.text
        return client.post(f"/api/v1/reports/{case.id}/transitions", json={"action": "accept", "actor": "t"}, headers=h)
    if name == "departments":
        return client.get("/api/v1/departments", headers=h)
    if name == "department stats":
        return client.get("/api/v1/stats", params={"level": "department"}, headers=h)
    if name == "reject (dispatcher's action)":
        return client.post(f"/api/v1/reports/{case.id}/transitions", json={"action": "reject", "actor": "t"}, headers=h)
    if name == "rate":
        case.close(client)
        return client.post(f"/api/v1/reports/{case.id}/rating", json={"rating": 5}, headers=h)
    if name == "add photo":
        return client.post(f"/api/v1/reports/{case.id}/photos", files={"photo": ("p.png", png(), "image/png")}, headers=h)
    if name == "own position":
        from geo.access.tokens import token_hash
        from geo.models import ApiToken

        db = client.app.state.test_db
        worker_id = db.query(ApiToken).filter_by(token_sha256=token_hash(tokens["worker"].split()[1])).one().worker_id
        return client.put(f"/api/v1/workers/{worker_id}/position", json={"lon": 116.401, "lat": 39.911}, headers=h)
    if name in ("read roster", "edit roster"):
        return roster_call(client, tokens, name, h)
    if name == "my queue":
        return client.get("/api/v1/me/cases", headers=h)
    if name == "worker pages":
        for url in ("/worker", f"/worker/cases/{case.id}"):
            r = client.get(url, headers=h)
            if r.status_code != 200:
                return r
        return r
    if name == "dispatch":
        return client.get("/api/v1/dispatch", params={"lon": INSIDE_G1[0], "lat": INSIDE_G1[1]}, headers=h)
    if name == "metrics":
        return client.get("/metrics", headers=h)
    if name == "stats":
        return client.get("/api/v1/stats", params={"level": "grid"}, headers=h)
    if name in ("command centre", "hot spots", "hot spots csv", "hot spots geojson", "live reports", "live workers"):
        url = {"command centre": "/maps/command-center", "hot spots": "/maps/hotspots",
               "hot spots csv": "/maps/hotspots.csv", "hot spots geojson": "/maps/hotspots.geojson",
               "live reports": "/maps/feeds/reports.geojson", "live workers": "/maps/feeds/workers.geojson"}[name]
        return client.get(url, headers=h)
    if name == "bulletin":
        return client.get("/bulletin", params={"period": "week", "end": "2024-03-10"}, headers=h)
    if name == "tiles":
        for url in ("/tiles/grids/0/0/0.mvt", "/tiles/reports/12/3372/1552.mvt", "/tiles/communities.json"):
            r = client.get(url, headers=h)
            if r.status_code != 200:
                return r
        return r
    if name in BOUNDARY_CALLS:
        return boundary_call(client, case, name, h)
    if name in WEBHOOK_CALLS:
        return webhook_call(client, case, name, h)
    if name == "open311 file":
        form = {"service_code": "3001", "lat": str(INSIDE_G1[1]), "long": str(INSIDE_G1[0]), "description": "垃圾",
                "attribute[fixmystreet_id]": str(uuid.uuid4())}
        return client.post("/open311/v2/requests.json", data=form, headers=h)
    if name == "open311 read":
        for url in ("/open311/v2/discovery.json", "/open311/v2/services.xml", "/open311/v2/services/3001.json",
                    "/open311/v2/requests.xml", f"/open311/v2/requests/{case.id}.json"):
            r = client.get(url, headers=h)
            if r.status_code != 200:
                return r
        return r
    if name == "public pages":
        for url in ("/embed/hotspots", f"/grids/{next(iter(GRIDS))}", "/report", f"/cases/{case.id}",
                    f"/api/v1/grids/{G2}/history",
                    f"/grids/{COMMUNITY}/qr.svg", "/api/v1/grids", "/api/v1/categories", "/healthz",
                    f"/api/v1/grids/{G2}", f"/api/v1/locate?lon={INSIDE_G1[0]}&lat={INSIDE_G1[1]}"):
            r = client.get(url, headers=h)
            if r.status_code != 200:
                return r
        return r
    raise AssertionError(name)


def merged_grids_file() -> bytes:
    """The tiny city with grids 001 and 002 merged, as GeoJSON."""
    import geopandas as gpd
    from shapely.geometry import box

    codes = list(GRIDS)
    frame = gpd.GeoDataFrame({"code": [codes[0], codes[2], codes[3]]}, crs=4326, geometry=[
        box(116.40, 39.91, 116.42, 39.92), box(*GRIDS[codes[2]]), box(*GRIDS[codes[3]])])
    return frame.to_json().encode()


BOUNDARY_CALLS = ("upload boundaries", "read generations", "activate", "discard", "generation map", "plan assignments")


def boundary_call(client, case, name: str, h: dict):
    def upload(headers):
        return client.post("/api/v1/generations", headers=headers,
                           files={"file": ("grids.geojson", merged_grids_file(), "application/geo+json")})

    if name == "upload boundaries":
        return upload(h)
    draft = upload(case.headers["admin"]).json()["generation"]
    if name == "read generations":
        for url in ("/api/v1/generations", f"/api/v1/generations/{draft}", f"/api/v1/generations/{draft}/check",
                    f"/api/v1/generations/{draft}/diff"):
            r = client.get(url, headers=h)
            if r.status_code != 200:
                return r
        return r
    if name == "generation map":
        return client.get(f"/maps/generations/{draft}", headers=h)
    if name == "plan assignments":
        csv = f"grid_code,worker_id,role\n{next(iter(GRIDS))},T002,backup\n".encode()
        return client.post(f"/api/v1/generations/{draft}/assignments", headers=h,
                           files={"file": ("assignments.csv", csv, "text/csv")})
    if name == "activate":
        return client.post(f"/api/v1/generations/{draft}/activate", json={"lead_covers": True}, headers=h)
    return client.delete(f"/api/v1/generations/{draft}", headers=h)


def roster_call(client, tokens, name: str, h: dict):
    from geo.models import Worker

    worker_id = client.app.state.test_db.query(Worker).filter_by(staff_no="T001").one().id
    base = f"/api/v1/workers/{worker_id}/roster"
    if name == "read roster":
        return client.get(base, headers=h)
    r = client.put(f"{base}/shifts", json={"shifts": [{"weekday": 1, "start": "08:30", "end": "17:30"}]}, headers=h)
    if r.status_code != 200:
        return r
    r = client.post(f"{base}/exceptions", headers=h, json={
        "kind": "leave", "starts_at": "2030-01-07T08:00:00+08:00", "ends_at": "2030-01-08T08:00:00+08:00"})
    if r.status_code != 201:
        return r
    return client.delete(f"{base}/exceptions/{r.json()['id']}", headers=h)


WEBHOOK_CALLS = ("register webhook", "read webhooks", "remove webhook")
HOOK = {"url": "https://hotline.example/gridmap", "system": "test-hotline"}  # the fixture's system key's system


def webhook_call(client, case, name: str, h: dict):
    if name == "register webhook":
        return client.post("/api/v1/webhooks", json=HOOK, headers=h)
    hook = client.post("/api/v1/webhooks", json=HOOK, headers=case.headers["admin"]).json()["id"]
    if name == "remove webhook":
        return client.delete(f"/api/v1/webhooks/{hook}", headers=h)
    for url in ("/api/v1/webhooks", f"/api/v1/webhooks/{hook}/deliveries"):
        r = client.get(url, headers=h)
        if r.status_code != 200:
            return r
    return r


ALL = set(ROLES)
PLANNERS = {"planner", "admin"}
MATRIX = {  # request -> (roles allowed, success status)
    "file report": (ALL, 201),
    "file batch": ({"dispatcher", "admin", "system"}, 200),
    "read one": (ALL, 200),
    "list": (ALL, 200),
    "duplicate candidates": ({"dispatcher", "admin"}, 200),  # who may mark_duplicate (not a grid worker)
    "export": (ALL, 200),  # each role its own view of the rows (tests/api/test_report_export.py)
    "start (worker's own action)": ({"worker", "dispatcher", "admin"}, 200),
    "reject (dispatcher's action)": ({"dispatcher", "admin"}, 200),
    "transfer (a worker's own case)": ({"worker", "dispatcher", "admin"}, 200),
    # The fixture's worker is no department's staff (tests/api/test_departments_api.py: those who are).
    "accept (the department's action)": ({"dispatcher", "admin"}, 200),
    "departments": (ALL, 200),
    "department stats": (ALL, 200),
    "rate": ({"reporter", "dispatcher", "admin"}, 200),
    "add photo": ({"reporter", "worker", "dispatcher", "admin"}, 201),
    "own position": ({"worker", "dispatcher", "admin"}, 200),
    "my queue": ({"worker"}, 200),
    "worker pages": ({"worker"}, 200),  # the others get the sign-in form (401/403, HTML)
    "dispatch": (ALL, 200),
    "read roster": ({"dispatcher", "admin"}, 200),
    "edit roster": ({"dispatcher", "admin"}, 200),
    "stats": (ALL, 200),
    "metrics": ({"admin"}, 200),  # and the scrape token (tests/api/test_metrics.py)
    "command centre": (STAFF_MAPS, 200),
    "hot spots": (STAFF_MAPS, 200),
    "hot spots csv": (STAFF_MAPS, 200),
    "hot spots geojson": (STAFF_MAPS, 200),
    "live reports": (STAFF_MAPS, 200),
    "live workers": (STAFF_MAPS, 200),
    "bulletin": (STAFF_MAPS, 200),
    "public pages": (ALL, 200),
    "tiles": (ALL, 200),
    "upload boundaries": (PLANNERS, 201),
    "read generations": (PLANNERS, 200),
    "generation map": (PLANNERS, 200),
    "activate": (PLANNERS, 200),
    "discard": (PLANNERS, 204),
    "plan assignments": (PLANNERS, 201),
    "register webhook": ({"admin", "system"}, 201),
    "read webhooks": ({"dispatcher", "admin", "system"}, 200),
    "remove webhook": ({"admin", "system"}, 200),
    "open311 file": ({"dispatcher", "admin", "system"}, 201),
    "open311 read": (ALL, 200),
}
# What each OpenAPI operation is covered by above (a new endpoint must be added here).
COVERED = {
    ("post", "/api/v1/reports"): "file report", ("post", "/api/v1/reports/batch"): "file batch",
    ("get", "/api/v1/reports/{report_id}"): "read one", ("get", "/api/v1/reports"): "list",
    ("get", "/api/v1/reports/{report_id}/duplicates"): "duplicate candidates",
    ("get", "/api/v1/reports/export"): "export",
    ("post", "/api/v1/reports/{report_id}/transitions"): "start (worker's own action)",
    ("post", "/api/v1/reports/{report_id}/rating"): "rate", ("post", "/api/v1/reports/{report_id}/photos"): "add photo",
    ("get", "/api/v1/reports/{report_id}/photos/{name}"): "add photo",  # see test_report_photos for reads
    ("put", "/api/v1/workers/{worker_id}/position"): "own position", ("get", "/api/v1/dispatch"): "dispatch",
    ("get", "/api/v1/workers/{worker_id}/roster"): "read roster",
    ("put", "/api/v1/workers/{worker_id}/roster/shifts"): "edit roster",
    ("post", "/api/v1/workers/{worker_id}/roster/exceptions"): "edit roster",
    ("delete", "/api/v1/workers/{worker_id}/roster/exceptions/{exception_id}"): "edit roster",
    ("get", "/api/v1/me/cases"): "my queue",
    ("get", "/worker"): "worker pages", ("get", "/worker/cases/{report_id}"): "worker pages",
    ("get", "/api/v1/stats"): "stats", ("get", "/metrics"): "metrics", ("get", "/maps/command-center"): "command centre",
    ("get", "/api/v1/departments"): "departments",
    ("get", "/maps/hotspots"): "hot spots", ("get", "/maps/hotspots.csv"): "hot spots csv",
    ("get", "/maps/hotspots.geojson"): "hot spots geojson", ("get", "/maps/feeds/reports.geojson"): "live reports",
    ("get", "/maps/feeds/workers.geojson"): "live workers", ("get", "/bulletin"): "bulletin",
    **{("get", p): "public pages" for p in ("/embed/hotspots", "/grids/{code}", "/report", "/cases/{report_id}",
                                           "/grids/{code}/qr.{fmt}", "/api/v1/grids", "/api/v1/grids/{code}",
                                           "/api/v1/categories", "/healthz", "/api/v1/locate",
                                           "/api/v1/grids/{code}/history")},
    ("post", "/api/v1/generations"): "upload boundaries", ("get", "/api/v1/generations"): "read generations",
    ("get", "/api/v1/generations/{generation}"): "read generations",
    ("get", "/api/v1/generations/{generation}/check"): "read generations",
    ("get", "/api/v1/generations/{generation}/diff"): "read generations",
    ("post", "/api/v1/generations/{generation}/activate"): "activate",
    ("delete", "/api/v1/generations/{generation}"): "discard",
    ("post", "/api/v1/generations/{generation}/assignments"): "plan assignments",
    ("get", "/maps/generations/{generation}"): "generation map",
    ("post", "/api/v1/webhooks"): "register webhook", ("get", "/api/v1/webhooks"): "read webhooks",
    ("get", "/api/v1/webhooks/{webhook_id}/deliveries"): "read webhooks",
    ("delete", "/api/v1/webhooks/{webhook_id}"): "remove webhook",
    ("get", "/tiles/{layer}/{z}/{x}/{y}.mvt"): "tiles", ("get", "/tiles/{layer}.json"): "tiles",
    ("post", "/open311/v2/requests.{fmt}"): "open311 file",
    **{("get", p): "open311 read" for p in ("/open311/v2/discovery.{fmt}", "/open311/v2/services.{fmt}",
                                           "/open311/v2/services/{service_code}.{fmt}", "/open311/v2/requests.{fmt}",
                                           "/open311/v2/requests/{service_request_id}.{fmt}")},
}


@pytest.fixture()
def roles_client(client, db, tokens):
    client.app.state.test_db = db
    return client


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", list(MATRIX))
def test_endpoint_by_role(roles_client, tokens, name, role):
    allowed, ok = MATRIX[name]
    r = call(roles_client, tokens, name, role)
    if role in allowed:
        assert r.status_code == ok, f"{name} as {role}: {r.status_code} {r.text[:300]}"
    elif name.startswith("open311"):  # Open311 has no 401, and its own error list
        assert r.status_code == 403, f"{name} as {role} should be 403: {r.status_code} {r.text[:300]}"
        assert r.json()[0]["code"] == 403
    else:
        want = 401 if role in ("public", "reporter") else 403
        assert r.status_code == want, f"{name} as {role} should be {want}: {r.status_code} {r.text[:300]}"
        if r.headers["content-type"].startswith("text/html"):  # a page: its sign-in form
            assert 'action="/worker/login"' in r.text
        else:
            assert r.json()["error"]["code"] in ("unauthorized", "forbidden")


def test_every_operation_is_in_the_matrix_and_states_its_roles(client):
    doc = client.get("/openapi.json").json()
    ops = {(m, p) for p, item in doc["paths"].items() for m in item}
    assert ops == set(COVERED), f"missing: {ops - set(COVERED)}; stale: {set(COVERED) - ops}"
    assert all("x-roles" in op and "**Roles:**" in op["description"] for item in doc["paths"].values()
               for op in item.values())


@pytest.mark.parametrize("role", ROLES)
def test_personal_data_by_role(roles_client, tokens, role):
    """Reporter name and phone: dispatcher, admin, and the worker of this case; never planner,
    public, system or the reporter through the public view."""
    case = Case(roles_client, tokens)
    one = roles_client.get(f"/api/v1/reports/{case.id}", headers=case.headers[role]).json()
    listed = [i for i in roles_client.get("/api/v1/reports", headers=case.headers[role]).json()["items"]
              if i["id"] == case.id][0]
    sees = role in ("dispatcher", "admin", "worker")
    for view in (one, listed):
        assert (view["reporter"] is not None) == sees, (role, view["reporter"])
        assert (view["orig"] is not None) == sees


def test_a_worker_sees_and_moves_only_their_own_cases(roles_client, tokens):
    mine = Case(roles_client, tokens)
    theirs = Case(roles_client, tokens, location={"lon": 116.415, "lat": 39.905})  # grid 004
    w = {"Authorization": tokens["worker"]}
    assert roles_client.get(f"/api/v1/reports/{mine.id}", headers=w).json()["reporter"] is not None
    assert roles_client.get(f"/api/v1/reports/{theirs.id}", headers=w).json()["reporter"] is None
    r = roles_client.post(f"/api/v1/reports/{theirs.id}/transitions", json={"action": "start", "actor": "w"}, headers=w)
    assert r.status_code == 403
    r = roles_client.post(f"/api/v1/reports/{theirs.id}/photos", files={"photo": ("p.png", png(), "image/png")}, headers=w)
    assert r.status_code == 403
    from geo.models import Worker

    other_worker = roles_client.app.state.test_db.query(Worker).filter_by(staff_no="T004").one().id
    r = roles_client.put(f"/api/v1/workers/{other_worker}/position", json={"lon": 116.4, "lat": 39.9}, headers=w)
    assert r.status_code == 403


def test_a_system_key_lists_what_it_filed(roles_client, tokens):
    key = {"Authorization": tokens["system"]}
    filed = body()
    assert roles_client.post("/api/v1/reports", json=filed, headers=key).status_code == 201
    Case(roles_client, tokens)  # someone else's
    page = roles_client.get("/api/v1/reports", params={"filed_by": "me"}, headers=key).json()
    assert [i["id"] for i in page["items"]] == [filed["id"]]
    assert page["items"][0]["reporter"] is None  # a system never reads personal data
    r = roles_client.get("/api/v1/reports", params={"filed_by": "me"})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "filed_by"
    # The same system re-sending the same report gets its case token back; an id alone does not.
    again = roles_client.post("/api/v1/reports", json=filed, headers=key).json()
    assert again["case_token"] and roles_client.post("/api/v1/reports", json=filed).json()["case_token"] is None


def test_an_unknown_revoked_or_expired_token_is_401(roles_client, db, tokens):
    from datetime import timedelta

    from geo.access.roles import Principal, Role
    from geo.access.tokens import issue_token, revoke_token

    assert roles_client.get("/api/v1/reports", headers={"Authorization": "Bearer nope"}).status_code == 401
    cli = Principal(Role.admin, holder="test")
    t = issue_token(db, role=Role.dispatcher, name="leaver", actor=cli)
    h = {"Authorization": f"Bearer {t.token}"}
    assert roles_client.get("/maps/feeds/workers.geojson", headers=h).status_code == 200
    revoke_token(db, token_id=t.id, actor=cli, now=datetime.now(UTC))
    assert roles_client.get("/maps/feeds/workers.geojson", headers=h).status_code == 401
    old = issue_token(db, role=Role.dispatcher, name="temp", actor=cli, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert roles_client.get("/api/v1/reports", headers={"Authorization": f"Bearer {old.token}"}).status_code == 401
    r = roles_client.get("/api/v1/reports", headers={"X-Case-Token": "forged"})  # no case in this path: ignored
    assert r.status_code == 200


def test_the_audit_records_personal_reads_and_token_changes(roles_client, db, tokens):
    import sqlalchemy as sa

    from geo.models import AuditEvent

    case = Case(roles_client, tokens)
    roles_client.get(f"/api/v1/reports/{case.id}", headers=case.headers["dispatcher"])
    roles_client.get(f"/api/v1/reports/{case.id}", headers=case.headers["public"])  # nothing personal: not audited
    rows = db.execute(sa.select(AuditEvent.action, AuditEvent.role, AuditEvent.holder, AuditEvent.detail)
                      .order_by(AuditEvent.id)).all()
    actions = [(a, r) for a, r, _, _ in rows]
    assert actions.count(("token.issue", "admin")) == 5  # the fixture's tokens
    reads = [r for r in rows if r[0] == "personal.read" and r[1] != "admin"]  # the fixture's admin files cases
    assert len(reads) == 1 and reads[0][1] == "dispatcher" and reads[0][2] == "dispatcher test dispatcher"
    assert reads[0][3]["report_ids"] == [case.id]
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with db.begin_nested():
            db.execute(sa.delete(AuditEvent))


def test_the_trail_records_who_really_acted(roles_client, db, tokens):
    case = Case(roles_client, tokens)
    roles_client.post(f"/api/v1/reports/{case.id}/transitions", json={"action": "start", "actor": "someone else"},
                      headers=case.headers["worker"])
    trail = roles_client.get(f"/api/v1/reports/{case.id}", headers=case.headers["admin"]).json()["trail"]
    assert trail[-1]["action"] == "start" and trail[-1]["data"]["by"] == "worker test worker"
