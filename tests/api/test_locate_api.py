"""GET /api/v1/locate on the tiny city: answers, hierarchy path, public workers, bad input."""

from __future__ import annotations

import pytest

from tests.tiny_city import COMMUNITY

G1, G2 = f"{COMMUNITY}001", f"{COMMUNITY}002"



def test_locate_inside_returns_grid_path_and_public_workers(client, tiny):
    r = client.get("/api/v1/locate", params={"lon": 116.415, "lat": 39.915})
    assert r.status_code == 200
    body = r.json()
    assert body["match"] == "inside" and body["generation"] == tiny.generation
    grid = body["grid"]
    assert grid["type"] == "Feature" and grid["id"] == G2
    assert grid["geometry"]["type"] == "MultiPolygon"
    # RFC 7946: lon first.
    ring = grid["geometry"]["coordinates"][0][0]
    assert all(116.41 <= lon <= 116.42 and 39.91 <= lat <= 39.92 for lon, lat in ring)
    path = [(p["level"], p["code"]) for p in grid["properties"]["path"]]
    assert path == [
        ("city", "110100"), ("district", "110101"), ("street", "110101001"),
        ("community", COMMUNITY), ("grid", G2),
    ]
    workers = grid["properties"]["workers"]
    assert [w["assignment"] for w in workers] == ["primary", "backup"]
    assert workers[0]["public_name"] == "张网格员2"
    text = r.text
    assert "1380000000" not in text and "张三" not in text, "personal data leaked"


def test_locate_shared_edge_picks_smallest_code(client, tiny):
    body = client.get("/api/v1/locate", params={"lon": 116.41, "lat": 39.915}).json()
    assert body["grid"]["id"] == G1
    assert body["match"] == "edge" and body["covering_codes"] == [G1, G2]


def test_locate_outside_is_404_with_nearest(client, tiny):
    r = client.get("/api/v1/locate", params={"lon": 116.43, "lat": 39.915})
    assert r.status_code == 404
    err = r.json()["error"]
    assert err["code"] == "outside_jurisdiction"
    assert err["nearest_grid"] == G2 and 800 < err["distance_m"] < 900


@pytest.mark.parametrize(
    ("params", "field", "reason_part"),
    [
        ({"lat": 39.9}, "lon", "required"),
        ({"lon": 116.4}, "lat", "required"),
        ({"lon": "abc", "lat": 39.9}, "lon", "number"),
        ({"lon": "nan", "lat": 39.9}, "lon", "finite"),
        ({"lon": 116.4, "lat": "inf"}, "lat", "finite"),
        ({"lon": 181, "lat": 39.9}, "lon", "[-180, 180]"),
        ({"lon": 39.9, "lat": 116.4}, "lat", "swapped"),
        ({"lon": 116.4, "lat": -91}, "lat", "[-90, 90]"),
        ({"lon": 116.4, "lat": 39.9, "generation": 0}, "generation", "greater than"),
    ],
)
def test_locate_bad_input_is_422_naming_the_field(client, tiny, params, field, reason_part):
    r = client.get("/api/v1/locate", params=params)
    assert r.status_code == 422
    fields = r.json()["error"]["fields"]
    assert fields[0]["field"] == field
    assert reason_part.lower() in fields[0]["reason"].lower()


def test_locate_unknown_generation_is_404(client, tiny):
    r = client.get("/api/v1/locate", params={"lon": 116.405, "lat": 39.915, "generation": 999})
    assert r.status_code == 404 and r.json()["error"]["code"] == "generation_not_found"
