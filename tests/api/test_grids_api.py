"""GET /api/v1/grids and /api/v1/grids/{code} on the tiny city."""

from __future__ import annotations

import pytest

from geo.boundaries.generations import activate_generation, carry_forward, create_generation, rebuild_pieces
from geo.models import AreaLevel
from tests.tiny_city import COMMUNITY, GRIDS, add_area


def test_list_grids_is_geojson_ordered_by_code(client, tiny):
    r = client.get("/api/v1/grids")
    assert r.status_code == 200
    body = r.json()
    assert body["type"] == "FeatureCollection" and body["generation"] == tiny.generation
    assert [f["id"] for f in body["features"]] == sorted(GRIDS)
    props = body["features"][0]["properties"]
    assert props == {
        "code": f"{COMMUNITY}001", "name": f"grid {COMMUNITY}001", "level": "grid", "parent_code": COMMUNITY,
        "households": 300, "population": 900, "kind": "urban",
    }
    assert body["numberMatched"] == 4 and body["numberReturned"] == 4
    assert [link["rel"] for link in body["links"]] == ["self"]


def test_paging_follows_next_links_through_every_grid(client, tiny):
    seen, url, pages = [], "/api/v1/grids?limit=3", 0
    while url:
        body = client.get(url).json()
        seen += [f["id"] for f in body["features"]]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
        pages += 1
    assert seen == sorted(GRIDS) and pages == 2


def test_bbox_filters_and_levels(client, tiny):
    body = client.get("/api/v1/grids", params={"bbox": "116.401,39.911,116.409,39.919"}).json()
    assert [f["id"] for f in body["features"]] == [f"{COMMUNITY}001"]
    body = client.get("/api/v1/grids", params={"level": "community"}).json()
    assert [f["id"] for f in body["features"]] == [COMMUNITY]
    body = client.get("/api/v1/grids", params={"bbox": "0,0,1,1"}).json()
    assert body["features"] == [] and body["numberMatched"] == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"bbox": "1,2,3"}, "bbox"),
        ({"bbox": "a,b,c,d"}, "bbox"),
        ({"bbox": "116.5,39.9,116.4,40"}, "bbox"),
        ({"bbox": "116.4,39.9,200,40"}, "bbox"),
        ({"bbox": "nan,39.9,116.5,40"}, "bbox"),
        ({"level": "planet"}, "level"),
        ({"limit": 0}, "limit"),
        ({"limit": 100000}, "limit"),
        ({"offset": -1}, "offset"),
    ],
)
def test_list_bad_input(client, tiny, params, field):
    r = client.get("/api/v1/grids", params=params)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["fields"][0]["field"] == field


def test_one_area_with_path_and_workers(client, tiny):
    body = client.get(f"/api/v1/grids/{COMMUNITY}003").json()
    assert body["id"] == f"{COMMUNITY}003"
    assert [p["code"] for p in body["properties"]["path"]][-2:] == [COMMUNITY, f"{COMMUNITY}003"]
    assert {w["assignment"] for w in body["properties"]["workers"]} == {"primary", "backup"}
    community = client.get(f"/api/v1/grids/{COMMUNITY}").json()
    assert community["properties"]["level"] == "community"
    assert [w["public_name"] for w in community["properties"]["workers"]] == ["李网格长"]
    for w in community["properties"]["workers"]:
        assert set(w) == {"id", "public_name", "role", "assignment", "rank", "on_duty"}


def test_unknown_and_malformed_codes(client, tiny):
    r = client.get("/api/v1/grids/110101001001999")
    assert r.status_code == 404 and r.json()["error"]["code"] == "area_not_found"
    r = client.get("/api/v1/grids/12ab")
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "code"


def test_generations_keep_old_boundaries_queryable(client, db, tiny):
    """Redraw grids 001/002 in a draft: invisible until activated, then the default; old stays queryable."""
    draft = create_generation(db, description="move the 001|002 edge east").id
    carried = carry_forward(db, from_generation=tiny.generation, to_generation=draft,
                            codes=[c for c in ["110100", "110101", "110101001", COMMUNITY, f"{COMMUNITY}003", f"{COMMUNITY}004"]])
    assert carried == 6
    add_area(db, gen=draft, code=f"{COMMUNITY}001", level=AreaLevel.grid, parent=COMMUNITY, bounds=(116.40, 39.91, 116.415, 39.92))
    add_area(db, gen=draft, code=f"{COMMUNITY}002", level=AreaLevel.grid, parent=COMMUNITY, bounds=(116.415, 39.91, 116.42, 39.92))
    db.flush()
    rebuild_pieces(db, generation=draft)

    point = {"lon": 116.412, "lat": 39.915}
    assert client.get("/api/v1/locate", params=point).json()["grid"]["id"] == f"{COMMUNITY}002"
    assert client.get("/api/v1/locate", params={**point, "generation": draft}).json()["grid"]["id"] == f"{COMMUNITY}001"

    activate_generation(db, generation=draft)
    assert client.get("/api/v1/locate", params=point).json()["grid"]["id"] == f"{COMMUNITY}001"
    old = client.get("/api/v1/locate", params={**point, "generation": tiny.generation}).json()
    assert old["grid"]["id"] == f"{COMMUNITY}002" and old["generation"] == tiny.generation
    assert client.get("/api/v1/grids").json()["numberMatched"] == 4
