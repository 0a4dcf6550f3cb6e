"""The API over the generated city: every grid reachable through paging, lookups consistent."""

from __future__ import annotations

import numpy as np
import shapely
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


def _published_grids(client) -> dict:
    body = client.get("/api/v1/grids?limit=1000").json()
    return {f["id"]: shape(f["geometry"]) for f in body["features"]}


def test_published_grids_are_a_vertex_exact_coverage(client, small_city):
    grids = _published_grids(client)
    geoms = np.array(list(grids.values()), dtype=object)
    assert len(geoms) == 120
    assert shapely.coverage_is_valid(geoms), "the downloaded grids have unmatched edges or overlaps"
    assert shapely.is_valid(geoms).all()


def test_a_client_matching_with_the_published_polygons_agrees_with_locate_on_shared_vertices(client, small_city):
    """covers + smallest code over what /api/v1/grids publishes == /locate, at the points
    where it is hardest: vertices two or more grids share."""
    grids = _published_grids(client)
    codes = np.array(list(grids), dtype=object)
    geoms = np.array(list(grids.values()), dtype=object)
    xy = shapely.get_coordinates(geoms)
    unique, counts = np.unique(xy, axis=0, return_counts=True)
    shared = unique[counts >= 3]  # a ring repeats its first vertex: >= 3 means two grids or more
    rng = np.random.default_rng(7)
    sample = shared[rng.choice(len(shared), size=min(150, len(shared)), replace=False)]
    assert len(sample) >= 100
    shapely.prepare(geoms)
    multi = 0
    for lon, lat in sample:
        covering = sorted(codes[shapely.covers(geoms, shapely.Point(lon, lat))])
        assert covering, (lon, lat)
        multi += len(covering) > 1
        body = client.get("/api/v1/locate", params={"lon": repr(float(lon)), "lat": repr(float(lat))}).json()
        assert body["grid"]["id"] == covering[0], (lon, lat, covering)
        assert body["match"] == ("edge" if len(covering) > 1 else "inside")
    assert multi >= len(sample) // 2
