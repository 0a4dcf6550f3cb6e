"""POST /api/v1/reports: matching, coordinate systems, routing, idempotency and bad input."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import h3
import pytest
import sqlalchemy as sa
from pyproj import Transformer

from geo.matching.coords import wgs84_to_bd09, wgs84_to_gcj02
from geo.models import Report, ReportEvent
from tests.api.report_helpers import G1, G2, INSIDE_G1, body
from tests.conftest import STAFF


def post(client, payload, **kw):
    return client.post("/api/v1/reports", json=payload, **kw)


def test_intake_matches_dispatches_and_sets_due(client, tiny):
    gen, workers = tiny
    before = datetime.now(UTC)
    r = post(client, body())
    assert r.status_code == 201, r.text
    out = r.json()
    assert (out["grid_code"], out["generation"], out["match"], out["status"]) == (G1, gen, "inside", "dispatched")
    assert out["worker"] == {"id": workers[G1].id, "public_name": "张网格员1", "role": "grid_worker"}
    due = datetime.fromisoformat(out["due_at"])
    # Exposed rubbish: 4 hours from dispatch (city configuration).
    assert before + timedelta(hours=4) <= due <= datetime.now(UTC) + timedelta(hours=4)
    assert out["possible_duplicates"] == [] and out["escalation_level"] == 0
    assert "王小明" not in r.text and "13912345678" not in r.text


@pytest.mark.parametrize("crs", ["gcj02", "bd09", "EPSG:4548"])
def test_other_coordinate_systems_land_in_the_right_grid(client, db, tiny, crs):
    lon, lat = INSIDE_G1
    if crs == "gcj02":
        x, y = (float(v) for v in wgs84_to_gcj02(lon, lat))
    elif crs == "bd09":
        x, y = (float(v) for v in wgs84_to_bd09(lon, lat))
    else:  # CGCS2000 3-degree Gauss-Kruger, central meridian 117E
        x, y = Transformer.from_crs(4326, 4548, always_xy=True).transform(lon, lat)
    payload = body(location={"lon": x, "lat": y, "crs": crs})
    out = post(client, payload).json()
    # Taken as WGS-84, the shifted GCJ/BD point would fall in grid 002, hundreds of metres east.
    assert out["grid_code"] == G1
    detail = client.get(f"/api/v1/reports/{payload['id']}", headers=STAFF).json()
    assert detail["orig"] == {"x": x, "y": y, "crs": crs}
    assert detail["lon"] == pytest.approx(lon, abs=1e-7) and detail["lat"] == pytest.approx(lat, abs=1e-7)
    # The maps' H3 cell is the converted (WGS-84) point's, not the received coordinates'.
    stored = db.scalar(sa.select(Report.h3_cell).where(Report.id == uuid.UUID(payload["id"])))
    assert format(stored, "x") == h3.latlng_to_cell(detail["lat"], detail["lon"], 10)


def test_shared_edge_goes_to_smallest_code(client, tiny):
    out = post(client, body(location={"lon": 116.41, "lat": 39.915})).json()
    assert (out["grid_code"], out["match"]) == (G1, "edge")


def test_just_outside_snaps_farther_is_unassigned_never_dropped(client, tiny):
    snapped = post(client, body(location={"lon": 116.4201, "lat": 39.915})).json()
    assert snapped["match"] == "snapped" and snapped["grid_code"] == G2
    assert 5 < snapped["distance_m"] < 15
    far = body(location={"lon": 116.45, "lat": 39.915})
    out = post(client, far).json()
    assert (out["match"], out["grid_code"], out["status"], out["worker"]) == ("unassigned", None, "registered", None)
    assert out["escalation_level"] == 4 and out["due_at"] is not None
    queue = client.get("/api/v1/reports", params={"unassigned": "true"}, headers=STAFF).json()
    assert [i["id"] for i in queue["items"]] == [far["id"]]
    assert queue["items"][0]["escalated_to"] == "110100"


def test_off_duty_primary_falls_back_to_backup(client, tiny):
    _, workers = tiny
    out = post(client, body(location={"lon": 116.415, "lat": 39.915})).json()  # grid 002: primary off duty
    assert out["grid_code"] == G2
    assert out["worker"]["id"] == workers[f"{G2[:-3]}003"].id  # the backup (grid 003's worker)


def test_retry_returns_original_and_never_duplicates(client, db, tiny):
    payload = body()
    first = post(client, payload)
    second = post(client, payload)
    assert (first.status_code, second.status_code) == (201, 200)
    blank = {"possible_duplicates": [], "case_token": None}
    assert first.json() | blank == second.json() | blank
    # Report ids are public, so a replay by id alone does not hand out the case token.
    assert first.json()["case_token"] and second.json()["case_token"] is None
    rid = uuid.UUID(payload["id"])
    assert db.scalar(sa.select(sa.func.count()).select_from(Report).where(Report.id == rid)) == 1
    assert db.scalar(sa.select(sa.func.count()).select_from(ReportEvent).where(ReportEvent.report_id == rid)) == 2


def test_same_id_different_body_is_409(client, tiny):
    payload = body()
    assert post(client, payload).status_code == 201
    r = post(client, {**payload, "description": "另一件事"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "idempotency_conflict"


def test_idempotency_key_header(client, tiny):
    payload = body()
    del payload["id"]
    a = post(client, payload, headers={"Idempotency-Key": "phone-42-draft-7"})
    b = post(client, payload, headers={"Idempotency-Key": "phone-42-draft-7"})
    c = post(client, payload, headers={"Idempotency-Key": "phone-42-draft-8"})
    assert (a.status_code, b.status_code, c.status_code) == (201, 200, 201)
    assert a.json()["id"] == b.json()["id"] != c.json()["id"]


def test_possible_duplicates_same_category_nearby_and_open(client, tiny):
    first = post(client, body()).json()
    near = post(client, body(location={"lon": INSIDE_G1[0] + 0.001, "lat": INSIDE_G1[1]})).json()  # ~85 m
    other_category = post(client, body(category="20", subcategory="2001")).json()
    far = post(client, body(location={"lon": INSIDE_G1[0] + 0.004, "lat": INSIDE_G1[1]})).json()  # ~340 m
    assert near["possible_duplicates"] == [first["id"]]
    assert other_category["possible_duplicates"] == []
    assert first["id"] not in far["possible_duplicates"]


def test_reporter_is_staff_only(client, tiny):
    payload = body()
    post(client, payload)
    public = client.get(f"/api/v1/reports/{payload['id']}").json()
    assert public["reporter"] is None and public["orig"] is None
    staff = client.get(f"/api/v1/reports/{payload['id']}", headers=STAFF).json()
    assert staff["reporter"] == {"name": "王小明", "phone": "13912345678"}


def test_sensitive_cases_hide_text_and_location_publicly(client, tiny):
    payload = body(category="10", subcategory="1002", description="夫妻争吵", location={"lon": 116.4068, "lat": 39.9162})
    post(client, payload)
    public = client.get(f"/api/v1/reports/{payload['id']}").json()
    # Publicly: no text, and the centre of the case's 0.005° cell instead of its point.
    assert public["description"] is None and public["location_precision_m"] is not None
    assert (public["lon"], public["lat"]) == (116.405, 39.915)
    # ... in its community, not its grid (an urban grid can be smaller than the cell), no worker named.
    assert public["grid_code"] == G1[:12] and public["assigned_worker"] is None and public["match"] is None
    staff = client.get(f"/api/v1/reports/{payload['id']}", headers=STAFF).json()
    assert staff["grid_code"] == G1 and staff["description"] == "夫妻争吵"


FUTURE = (datetime.now(UTC) + timedelta(hours=2)).isoformat()


@pytest.mark.parametrize(
    ("over", "field", "reason"),
    [
        ({"category": "99"}, "category", "unknown category"),
        ({"subcategory": "2001"}, "subcategory", "unknown subcategory"),
        ({"location": {"lon": None}}, "location.lon", "required"),
        ({"location": {"lat": 200}}, "location.lat", "[-90, 90]"),
        ({"location": {"lon": 39.915, "lat": 116.405}}, "location.lat", "swapped"),
        ({"location": {"lon": 181, "lat": 39.9}}, "location.lon", "[-180, 180]"),
        ({"location": {"crs": "mars2000"}}, "crs", "unknown crs"),
        ({"reported_at": FUTURE}, "reported_at", "future"),
        ({"reported_at": "2026-01-01T10:00:00"}, "reported_at", "timezone"),
        ({"description": "x" * 2001}, "description", "2000"),
        ({"photos": [f"https://img.example/{i}.jpg" for i in range(10)]}, "photos", "at most 9"),
        ({"source": "pigeon"}, "source", "citizen"),
        ({"reporter": {"phone": "call me"}}, "reporter.phone", "pattern"),
        ({"unexpected": 1}, "unexpected", "not permitted"),
    ],
)
def test_bad_input_is_422_naming_the_field(client, tiny, over, field, reason):
    payload = body(**over)
    if over.get("location", {}).get("lon", 0) is None:
        del payload["location"]["lon"]
    r = post(client, payload)
    assert r.status_code == 422, r.text
    f = r.json()["error"]["fields"][0]
    assert f["field"] == field and reason.lower() in f["reason"].lower(), f


def test_nan_coordinates_are_422(client, tiny):
    raw = '{"category":"30","source":"citizen","reported_at":"2026-01-01T10:00:00+08:00",' \
          '"location":{"lon":NaN,"lat":39.9}}'
    r = client.post("/api/v1/reports", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"] in ("location.lon", "request")


def test_oversized_body_is_413(client, tiny):
    r = post(client, body(description="x" * 1_100_000))
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


def test_categories_catalogue(client):
    cats = client.get("/api/v1/categories").json()
    by_code = {c["code"]: c for c in cats}
    assert {"10", "20", "30"} <= set(by_code)
    rubbish = next(s for s in by_code["30"]["subcategories"] if s["code"] == "3001")
    assert rubbish == {"code": "3001", "name_zh": "暴露垃圾", "name_en": "Exposed rubbish", "time_limit_h": 4.0}
