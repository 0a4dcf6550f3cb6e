"""GET /api/v1/dispatch and PUT /api/v1/workers/{id}/position on the tiny city."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pyproj import Geod

from geo.matching.coords import wgs84_to_gcj02
from geo.models import Assignment, AssignmentRole, Worker, WorkerRole
from tests.api.report_helpers import G1, G2, G3
from tests.conftest import STAFF
from tests.tiny_city import COMMUNITY


@pytest.fixture()
def tiny(tiny, db):
    """The shared tiny city's workers, with leads above the community added."""
    workers = tiny.workers
    # Leads above the community, so the chain is complete.
    for role, code, name in ((WorkerRole.street_lead, "110101001", "街道网格办"), (WorkerRole.district_lead, "110101", "区网格中心"),
                             (WorkerRole.city_center, "110100", "市指挥中心")):
        w = Worker(staff_no=f"L{code}", name=name, phone="13700000000", public_name=name, role=role)
        db.add(w)
        db.flush()
        db.add(Assignment(worker_id=w.id, area_code=code, role=AssignmentRole.lead))
    db.flush()
    return workers


def put_position(client, worker_id, lon, lat, crs="wgs84", headers=STAFF, at=None):
    payload = {"lon": lon, "lat": lat, "crs": crs}
    if at:
        payload["at"] = at
    return client.put(f"/api/v1/workers/{worker_id}/position", json=payload, headers=headers)


def test_position_reports_accept_gcj02(client, tiny):
    w = tiny[G1]
    x, y = (float(v) for v in wgs84_to_gcj02(116.401, 39.911))
    r = put_position(client, w.id, x, y, crs="gcj02")
    assert r.status_code == 200
    assert r.json()["lon"] == pytest.approx(116.401, abs=1e-7) and r.json()["lat"] == pytest.approx(39.911, abs=1e-7)


def test_position_rules(client, tiny):
    w = tiny[G1]
    assert put_position(client, w.id, 116.401, 39.911, headers={}).status_code == 401
    assert put_position(client, 999_999, 116.401, 39.911).status_code == 404
    r = put_position(client, w.id, 39.911, 116.401)
    assert r.status_code == 422 and "swapped" in r.json()["error"]["message"]
    now = datetime.now(UTC)
    put_position(client, w.id, 116.401, 39.911, at=now.isoformat())
    stale = put_position(client, w.id, 116.419, 39.919, at=(now - timedelta(minutes=5)).isoformat()).json()
    assert stale["lon"] == pytest.approx(116.401), "an older fix must not overwrite a newer one"


def test_dispatch_gives_responsible_chain_and_nearest(client, tiny):
    positions = {G1: (116.401, 39.911), G3: (116.402, 39.905), COMMUNITY: (116.419, 39.919)}
    for code, (lon, lat) in positions.items():
        key = "lead" if code == COMMUNITY else code
        put_position(client, tiny[key].id, lon, lat)
    # Grid 002's worker is off duty; give it a position next to the query point anyway.
    put_position(client, tiny[G2].id, 116.4051, 39.9151)

    out = client.get("/api/v1/dispatch", params={"lon": 116.405, "lat": 39.915}, headers=STAFF).json()
    assert out["grid_code"] == G1 and out["match"] == "inside"
    assert out["responsible"]["worker"]["id"] == tiny[G1].id
    assert out["backup"]["worker"]["id"] == tiny[G2].id
    assert [(c["level"], c["area_code"]) for c in out["escalation_chain"]] == [
        ("community", COMMUNITY), ("street", "110101001"), ("district", "110101"), ("city", "110100")]
    assert [c["worker"]["public_name"] for c in out["escalation_chain"]] == ["李网格长", "街道网格办", "区网格中心", "市指挥中心"]
    near = out["nearest_on_duty"]
    assert [n["id"] for n in near] == [tiny[G1].id, tiny[G3].id, tiny["lead"].id]  # off-duty G2 excluded
    geod = Geod(ellps="WGS84")
    assert near[0]["distance_m"] == pytest.approx(geod.inv(116.405, 39.915, 116.401, 39.911)[2], abs=0.5)
    public = client.get("/api/v1/dispatch", params={"lon": 116.405, "lat": 39.915}).json()
    assert all(n["phone"] is None for n in public["nearest_on_duty"]) and public["responsible"]["phone"] is None
    # Publicly, distances are to each worker's cell and rounded to 100 m.
    assert all(n["distance_m"] % 100 == 0 for n in public["nearest_on_duty"])

    staff = client.get("/api/v1/dispatch", params={"lon": 116.405, "lat": 39.915}, headers=STAFF).json()
    assert staff["responsible"]["phone"] == "13800000001"


def test_dispatch_outside_and_bad_input(client, tiny):
    out = client.get("/api/v1/dispatch", params={"lon": 116.5, "lat": 39.915}).json()
    assert out["match"] == "unassigned" and out["grid_code"] is None and out["responsible"] is None
    r = client.get("/api/v1/dispatch", params={"lon": 116.4, "lat": 39.9, "crs": "nope"})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "crs"
