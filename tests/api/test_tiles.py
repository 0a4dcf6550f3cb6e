"""The tile API on the tiny city: MVT and TileJSON, audiences, ETag/304, generations, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from geo.models import AreaLevel
from geo.tiles.addressing import tile_of
from tests.api.report_helpers import G1, G4
from tests.conftest import STAFF
from tests.tile_helpers import add_report, by_code, decode
from tests.tiny_city import COMMUNITY, GRIDS

MVT = "application/vnd.mapbox-vector-tile"
T13 = tile_of(116.41, 39.91, 13)
URL = f"/tiles/grids/{T13.z}/{T13.x}/{T13.y}.mvt"


@pytest.fixture()
def cases(db, tiny):
    g = tiny.generation
    add_report(db, lon=116.405, lat=39.915, grid=G1, generation=g)
    add_report(db, lon=116.405, lat=39.915, grid=G1, generation=g, category="40",  # sensitive
               due_at=datetime.now(UTC) - timedelta(hours=1))
    add_report(db, lon=116.415, lat=39.905, grid=G4, generation=g)
    return tiny


def test_a_public_tile_counts_a_sensitive_case_in_its_community_only(client, cases):
    r = client.get(URL)
    assert r.status_code == 200 and r.headers["content-type"] == MVT
    grids = by_code(r.content, "grids")
    assert set(grids) == set(GRIDS)
    assert grids[G1] == {"code": G1, "name": f"grid {G1}", "parent_code": COMMUNITY, "open": 1, "overdue": 0}
    assert r.headers["cache-control"].startswith("public, max-age=")
    assert 0 <= int(r.headers["cache-control"].rsplit("=", 1)[1]) <= 60
    assert "Authorization" in r.headers["vary"]
    community = client.get(URL.replace("grids", "communities"))
    assert by_code(community.content, "communities")[COMMUNITY]["open"] == 3
    assert by_code(community.content, "communities")[COMMUNITY]["overdue"] == 1


def test_staff_tiles_count_exactly_and_are_kept_apart(client, cases, tokens):
    public = client.get(URL)
    staff = client.get(URL, headers=STAFF)
    assert by_code(staff.content, "grids")[G1]["open"] == 2
    assert staff.headers["cache-control"].startswith("private")
    assert staff.headers["etag"] != public.headers["etag"]
    # Cached per audience: the public answer is still the public one after a staff request.
    again = client.get(URL)
    assert again.headers["x-cache"] == "hit" and by_code(again.content, "grids")[G1]["open"] == 1
    planner = client.get(URL, headers={"Authorization": tokens["planner"]})  # may not see every case
    assert by_code(planner.content, "grids")[G1]["open"] == 1


def test_etag_and_not_modified(client, cases):
    first = client.get(URL)
    etag = first.headers["etag"]
    assert etag.startswith('"') and not etag.startswith('W/')
    second = client.get(URL, headers={"If-None-Match": etag})
    assert second.status_code == 304 and second.content == b"" and second.headers["etag"] == etag
    assert client.get(URL, headers={"If-None-Match": '"other"'}).status_code == 200


def test_a_new_generation_is_a_new_tile(client, db, cases, monkeypatch):
    from geo.boundaries.generations import activate_generation, carry_forward, create_generation, rebuild_pieces
    from geo.tiles import service
    from tests.tiny_city import add_area

    before = client.get(URL)
    assert client.get(URL).headers["x-cache"] == "hit"  # served from the fingerprint read a moment ago
    old = cases.generation
    draft = create_generation(db).id
    carry_forward(db, from_generation=old, to_generation=draft, codes=[c for c in GRIDS if c != G1]
                  + ["110100", "110101", "110101001", COMMUNITY])
    add_area(db, gen=draft, code=G1, level=AreaLevel.grid, parent=COMMUNITY, bounds=GRIDS[G1], name="新网格")
    db.flush()
    rebuild_pieces(db, generation=draft)
    activate_generation(db, generation=draft)
    # Within FINGERPRINT_TTL_S the old fingerprint may still serve; once it is older, the new
    # generation's tile is built.
    assert client.get(URL).headers["etag"] == before.headers["etag"]
    monkeypatch.setattr(service, "FINGERPRINT_TTL_S", 0.0)
    after = client.get(URL)
    assert after.headers["etag"] != before.headers["etag"] and after.headers["x-cache"] == "miss"
    assert by_code(after.content, "grids")[G1]["name"] == "新网格"
    assert client.get(URL, headers={"If-None-Match": before.headers["etag"]}).status_code == 200
    retired = client.get(URL, params={"generation": old})
    assert by_code(retired.content, "grids")[G1]["name"] == f"grid {G1}"


def test_an_empty_tile_is_an_empty_200(client, cases):
    far = tile_of(-70.0, -40.0, 14)
    r = client.get(f"/tiles/grids/{far.z}/{far.x}/{far.y}.mvt")
    assert r.status_code == 200 and r.content == b"" and r.headers["content-type"] == MVT


def test_the_reports_layer_holds_hexagons_only_above_the_minimum(client, db, cases):
    for _ in range(5):
        add_report(db, lon=116.4151, lat=39.9049, grid=G4, generation=cases.generation)
    t = tile_of(116.4151, 39.9049, 15)
    r = client.get(f"/tiles/reports/{t.z}/{t.x}/{t.y}.mvt")
    layers = decode(r.content)
    assert set(layers) == {"urban"}  # grid 001's single urban case and the sensitive one: under 5
    (feature,) = layers["urban"]["features"]
    assert feature["properties"]["n"] == 6 and feature["geometry"]["type"] == "Polygon"
    a = tile_of(116.405, 39.915, 15)
    assert "other" not in decode(client.get(f"/tiles/reports/{a.z}/{a.x}/{a.y}.mvt").content)
    staff = decode(client.get(f"/tiles/reports/{a.z}/{a.x}/{a.y}.mvt", headers=STAFF).content)
    assert [f["properties"]["n"] for f in staff["other"]["features"]] == [1]  # exact, nothing dropped


def test_tilejson(client, cases):
    r = client.get("/tiles/grids.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["tilejson"] == "3.0.0"
    assert doc["tiles"] == ["http://testserver/tiles/grids/{z}/{x}/{y}.mvt"]
    assert doc["bounds"] == pytest.approx([116.40, 39.90, 116.42, 39.92])
    lon, lat, zoom = doc["center"]
    assert (lon, lat) == pytest.approx((116.41, 39.91)) and 0 <= zoom <= 22
    assert (doc["minzoom"], doc["maxzoom"]) == (0, 22)
    (layer,) = doc["vector_layers"]
    assert layer["id"] == "grids" and set(layer["fields"]) == {"code", "name", "parent_code", "open", "overdue"}
    reports = client.get("/tiles/reports.json", params={"generation": cases.generation}).json()
    assert [v["id"] for v in reports["vector_layers"]] == ["disputes", "safety", "urban", "other"]
    assert reports["tiles"][0].endswith(f"/tiles/reports/{{z}}/{{x}}/{{y}}.mvt?generation={cases.generation}")


@pytest.mark.parametrize(("url", "field"), [
    ("/tiles/grids/23/0/0.mvt", "z"), ("/tiles/grids/2/4/0.mvt", "x"), ("/tiles/grids/2/0/9.mvt", "y"),
    ("/tiles/wards/2/0/0.mvt", "layer"), ("/tiles/grids/2/0/0.mvt?generation=0", "generation"),
    ("/tiles/grids/2/0/0.mvt?generaton=1", "generaton"), ("/tiles/wards.json", "layer"),
])
def test_bad_addresses_name_their_field(client, tiny, url, field):
    r = client.get(url)
    assert r.status_code == 422, r.text
    assert field in r.text


def test_an_unknown_generation_is_404(client, tiny):
    assert client.get("/tiles/grids/2/0/0.mvt?generation=999").status_code == 404
    assert client.get("/tiles/grids.json?generation=999").status_code == 404


def test_the_command_centre_switches_to_vector_tiles_above_the_threshold(client, cases):
    from maps.settings import MapSettings

    embedded = client.get("/maps/command-center", headers=STAFF).text
    assert "CompactAreas" in embedded or "gmCode" in embedded
    assert "vectorGrid" not in embedded
    client.app.state.map_settings = MapSettings(vector_tiles_above=0)  # what a test of a huge city sets
    vector = client.get("/maps/command-center", headers=STAFF)
    assert vector.status_code == 200
    page = vector.text
    assert "L.vectorGrid.protobuf" in page and "gmCode" not in page
    assert f"/tiles/grids/{{z}}/{{x}}/{{y}}.mvt?generation={cases.generation}" in page
    assert "/assets/leaflet.vectorgrid/dist/Leaflet.VectorGrid.bundled.min.js" in page
    assert "total open 3, overdue 1" in page  # the legend still counts (staff: exact)
    assert client.get("/assets/leaflet.vectorgrid/dist/Leaflet.VectorGrid.bundled.min.js").status_code == 200


def test_a_generation_past_the_id_range_is_a_422_not_a_server_error(client, cases):
    # Found by schemathesis: a 20-digit generation overflowed PostgreSQL's integer (500).
    for url in ("/tiles/city/1/1/1.mvt", "/tiles/city.json"):
        r = client.get(url, params={"generation": 29067760253925199872})
        assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "generation", r.text
