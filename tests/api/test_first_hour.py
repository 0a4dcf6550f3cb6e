"""The wrong answers a newcomer met (issue: the first hour): a point located in another crs,
query typos that silently changed an answer, and a replay that forgot its duplicates."""

from __future__ import annotations

import pytest

from geo.matching.coords import wgs84_to_bd09, wgs84_to_gcj02
from tests.api.report_helpers import G1, G2, INSIDE_G1, body
from tests.conftest import STAFF

# 2 m west of the G1|G2 edge at lon 116.41: GCJ-02 shifts it by ~500 m, so reading the
# converted numbers as WGS-84 would land somewhere else entirely.
NEAR_EDGE = (116.40998, 39.915)


@pytest.mark.parametrize("crs, convert", [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_locate_takes_the_crs_intake_takes(client, tiny, crs, convert):
    x, y = (float(v) for v in convert(*NEAR_EDGE))
    located = client.get("/api/v1/locate", params={"lon": x, "lat": y, "crs": crs})
    assert located.status_code == 200, located.text
    filed = client.post("/api/v1/reports", json=body(location={"lon": x, "lat": y, "crs": crs})).json()
    assert located.json()["grid"]["id"] == filed["grid_code"] == G1
    # Read as WGS-84 the same numbers are 0.6–1.3 km off: another grid or none (the old answer).
    wrong = client.get("/api/v1/locate", params={"lon": x, "lat": y})
    assert wrong.status_code == 404 or wrong.json()["grid"]["id"] != G1


def test_locate_projected_and_bad_crs(client, tiny):
    from pyproj import Transformer

    e, n = Transformer.from_crs(4326, 4548, always_xy=True).transform(*INSIDE_G1)
    assert client.get("/api/v1/locate", params={"lon": e, "lat": n, "crs": "EPSG:4548"}).json()["grid"]["id"] == G1
    r = client.get("/api/v1/locate", params={"lon": 116.4, "lat": 39.9, "crs": "mars"})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "crs"


@pytest.mark.parametrize("path, params, unknown", [
    ("/api/v1/locate", {"lon": 116.405, "lat": 39.915, "cr": "gcj02"}, ["cr"]),
    ("/api/v1/dispatch", {"lon": 116.405, "lat": 39.915, "srs": "gcj02"}, ["srs"]),
    ("/api/v1/grids", {"levle": "community", "limt": 5}, ["levle", "limt"]),
    ("/api/v1/reports", {"categry": "30"}, ["categry"]),
    ("/api/v1/stats", {"level": "grid", "catgory": "30"}, ["catgory"]),
    ("/api/v1/categories", {"lang": "en"}, ["lang"]),
])
def test_unknown_query_parameters_are_named_not_ignored(client, tiny, path, params, unknown):
    r = client.get(path, params=params, headers=STAFF)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert [f["field"] for f in err["fields"]] == unknown
    assert all("unknown query parameter" in f["reason"] for f in err["fields"])


def test_unknown_query_parameter_on_a_write_is_refused_before_anything_is_stored(client, db, tiny):
    payload = body()
    r = client.post("/api/v1/reports", params={"dry_run": "1"}, json=payload)
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "dry_run"
    assert client.get(f"/api/v1/reports/{payload['id']}").status_code == 404


def test_declared_parameters_still_pass(client, tiny):
    assert client.get("/api/v1/grids", params={"level": "grid", "limit": 2, "generation": tiny.generation}).status_code == 200
    assert client.get("/api/v1/locate", params={"lon": 116.405, "lat": 39.915, "generation": tiny.generation,
                                                "crs": "wgs84"}).status_code == 200


def test_a_replay_returns_the_original_duplicate_suggestions(client, tiny):
    first = [client.post("/api/v1/reports", json=body(location={"lon": INSIDE_G1[0] + i * 1e-4}))
             for i in range(3)]
    assert all(r.status_code == 201 for r in first)
    payload = body(location={"lon": INSIDE_G1[0] + 5e-5})
    original = client.post("/api/v1/reports", json=payload, headers=STAFF).json()
    assert len(original["possible_duplicates"]) == 3
    # Another report nearby since: the replay still answers what the first answer said.
    client.post("/api/v1/reports", json=body())
    replay = client.post("/api/v1/reports", json=payload, headers=STAFF)
    assert replay.status_code == 200
    assert replay.json()["possible_duplicates"] == original["possible_duplicates"]
    # The same through the batch endpoint, and a replay of a batch item filed with suggestions.
    again = client.post("/api/v1/reports/batch", json={"reports": [payload]}, headers=STAFF).json()["results"][0]
    assert again["status"] == 200 and again["report"]["possible_duplicates"] == original["possible_duplicates"]


def test_reports_of_one_batch_see_the_earlier_ones_as_duplicates(client, tiny):
    items = [body(location={"lon": INSIDE_G1[0] + i * 1e-4}) for i in range(3)]
    items.append(body(location={"lon": INSIDE_G1[0] + 0.01}))  # ~850 m east: no one's duplicate
    r = client.post("/api/v1/reports/batch", params={"duplicates": "true"}, json={"reports": items}, headers=STAFF)
    got = [x["report"]["possible_duplicates"] for x in r.json()["results"]]
    ids = [i["id"] for i in items]
    # Nearest first, only the ones filed before it (what one-by-one intake would say).
    assert got == [[], [ids[0]], [ids[1], ids[0]], []]
    replay = client.post("/api/v1/reports/batch", params={"duplicates": "true"}, json={"reports": items},
                         headers=STAFF).json()
    assert [x["report"]["possible_duplicates"] for x in replay["results"]] == got


def test_g2_is_the_neighbour(client, tiny):
    # The edge rule the crs test relies on: just east of 116.41 is G2.
    assert client.get("/api/v1/locate", params={"lon": 116.41002, "lat": 39.915}).json()["grid"]["id"] == G2


def test_listings_and_stats_take_the_maps_category_vocabulary(client, tiny):
    for category, subcategory in (("30", "3001"), ("20", "2001"), ("10", "1002")):
        assert client.post("/api/v1/reports", json=body(category=category, subcategory=subcategory)).status_code == 201
    def by(**p):  # the tiny city's reports only (the generated city may be loaded too)
        page = client.get("/api/v1/reports", params={"area": "110101", **p}, headers=STAFF).json()
        return sorted(i["category"] for i in page["items"])

    assert by(category="urban") == by(category="urban_management") == by(category="30") == ["30"]
    assert by(category="disputes") == ["10"] and by(category="all") == ["10", "20", "30"]
    for path in ("/api/v1/reports", "/api/v1/stats"):
        r = client.get(path, params={"category": "rubbish"})
        assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "category"
        assert "group (disputes, safety, urban, other)" in r.json()["error"]["message"]
    stats = client.get("/api/v1/stats", params={"level": "grid", "category": "urban"}, headers=STAFF).json()
    tiny_grids = [a for a in stats["areas"] if a["code"].startswith("110101")]
    assert stats["category"] == "urban" and sum(a["total"] for a in tiny_grids) == 1


def test_stats_levels_are_the_ones_it_accepts(client, tiny):
    doc = client.get("/openapi.json").json()
    (level,) = [p for p in doc["paths"]["/api/v1/stats"]["get"]["parameters"] if p["name"] == "level"]
    ref = level["schema"].get("$ref") or level["schema"]["allOf"][0]["$ref"]
    assert doc["components"]["schemas"][ref.rsplit("/", 1)[1]]["enum"] == ["grid", "community", "street", "district",
                                                                                  "department"]
    r = client.get("/api/v1/stats", params={"level": "city"})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "level"


def test_a_retried_report_in_a_pass_is_suggested_once_where_it_is_stored(client, tiny):
    stored = body()
    assert client.post("/api/v1/reports", json=stored).status_code == 201
    near = body(location={"lon": INSIDE_G1[0] + 2e-4})
    r = client.post("/api/v1/reports/batch", params={"duplicates": "true"}, json={"reports": [stored, near]},
                    headers=STAFF).json()["results"]
    assert [x["status"] for x in r] == [200, 201]
    assert r[1]["report"]["possible_duplicates"] == [stored["id"]]


def test_the_pass_check_keeps_the_duplicate_window(client, tiny):
    from datetime import UTC, datetime, timedelta

    old = (datetime.now(UTC) - timedelta(days=30)).isoformat()  # the window is 7 days
    items = [body(reported_at=old), body(reported_at=old, location={"lon": INSIDE_G1[0] + 1e-4})]
    r = client.post("/api/v1/reports/batch", params={"duplicates": "true"}, json={"reports": items},
                    headers=STAFF).json()["results"]
    assert [x["report"]["possible_duplicates"] for x in r] == [[], []]  # as filed one by one
