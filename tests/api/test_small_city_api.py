"""The API over the generated city: every grid reachable through paging, lookups consistent."""

from __future__ import annotations

from shapely.geometry import shape


def test_paging_returns_every_grid_exactly_once(client, small_city):
    seen, url = [], "/api/v1/grids?limit=50"
    while url:
        body = client.get(url).json()
        assert body["numberMatched"] == 120
        seen += [f["id"] for f in body["features"]]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    assert len(seen) == 120 and seen == sorted(set(seen))
    assert all(code.startswith("211102") and len(code) == 15 for code in seen)


def test_locate_an_interior_point_returns_that_grid_and_its_chain(client, small_city):
    for offset in (0, 59, 119):
        feature = client.get(f"/api/v1/grids?limit=1&offset={offset}").json()["features"][0]
        inside = shape(feature["geometry"]).representative_point()
        body = client.get("/api/v1/locate", params={"lon": inside.x, "lat": inside.y}).json()
        assert body["grid"]["id"] == feature["id"] and body["match"] == "inside"
        path = body["grid"]["properties"]["path"]
        assert [p["level"] for p in path] == ["city", "district", "street", "community", "grid"]
        assert [p["code"] for p in path][1:] == [feature["id"][:n] for n in (6, 9, 12, 15)]
        assert body["grid"]["properties"]["workers"][0]["assignment"] == "primary"
