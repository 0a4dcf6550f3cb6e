"""OGC API – Features under /ogc on the tiny city: the documents, paging, filters, the
standard's errors, and the public rules on the reports collection."""

from __future__ import annotations

import pytest

from tests.api.report_helpers import G1, G2, body
from tests.tiny_city import COMMUNITY, FRAME, GRIDS

TINY_BBOX = ",".join(map(str, FRAME))
# A sensitive case's exact point, and its public cell's centre (0.005° lattice).
SECRET = (116.4062, 39.9138)
SECRET_CELL = (116.405, 39.915)


def post(client, **over) -> str:
    payload = body(**over)
    r = client.post("/api/v1/reports", json=payload)
    assert r.status_code == 201, r.text
    return payload["id"]


def test_landing_page_links_what_qgis_and_gdal_need(client, tiny):
    r = client.get("/ogc")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    rels = {link["rel"]: link for link in r.json()["links"]}
    base = "http://testserver/ogc"
    assert rels["self"]["href"] == base
    assert rels["service-desc"]["href"] == base + "/api"
    assert rels["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert rels["conformance"]["href"] == base + "/conformance"
    assert rels["data"]["href"] == base + "/collections"
    conf = client.get("/ogc/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conf
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conf
    doc = client.get("/ogc/api")
    assert doc.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    api = doc.json()
    assert api["openapi"].startswith("3.0") and api["servers"] == [{"url": base}]
    items = api["paths"]["/collections/grids/items"]["get"]
    names = {p["$ref"].rsplit("/", 1)[1] for p in items["parameters"]}
    assert {"limit", "bbox", "parent_code", "code"} <= names


def test_collections_list_each_level_and_the_reports_with_extents(client, tiny):
    cols = {c["id"]: c for c in client.get("/ogc/collections").json()["collections"]}
    assert set(cols) == {"grids", "communities", "streets", "districts", "city", "reports"}
    grids = cols["grids"]
    assert grids["extent"]["spatial"]["bbox"] == [list(FRAME)]
    assert grids["extent"]["spatial"]["crs"].endswith("CRS84")
    assert {link["rel"] for link in grids["links"]} >= {"self", "items"}
    assert "temporal" in cols["reports"]["extent"]
    one = client.get("/ogc/collections/communities").json()
    assert one["id"] == "communities" and one["extent"]["spatial"]["bbox"] == [list(FRAME)]


def test_items_page_with_next_links_and_counts(client, tiny):
    first = client.get("/ogc/collections/grids/items", params={"limit": 3})
    assert first.status_code == 200 and first.headers["content-type"] == "application/geo+json"
    page = first.json()
    assert page["type"] == "FeatureCollection"
    assert page["numberMatched"] == 4 and page["numberReturned"] == 3
    assert [f["id"] for f in page["features"]] == sorted(GRIDS)[:3]
    nxt = next(link["href"] for link in page["links"] if link["rel"] == "next")
    second = client.get(nxt).json()
    assert [f["id"] for f in second["features"]] == sorted(GRIDS)[3:]
    assert not [link for link in second["links"] if link["rel"] == "next"]
    assert second["features"][0]["properties"]["parent_code"] == COMMUNITY


def test_bbox_and_property_filters_on_areas(client, tiny):
    west = client.get("/ogc/collections/grids/items", params={"bbox": "116.401,39.901,116.409,39.919"}).json()
    assert sorted(f["id"] for f in west["features"]) == [G1, f"{COMMUNITY}003"]
    six = client.get("/ogc/collections/grids/items", params={"bbox": "116.401,39.901,0,116.409,39.919,100"}).json()
    assert six["numberMatched"] == 2
    by_parent = client.get("/ogc/collections/grids/items", params={"parent_code": COMMUNITY}).json()
    assert by_parent["numberMatched"] == 4
    assert client.get("/ogc/collections/grids/items", params={"parent_code": "110101001999"}).json()[
        "numberMatched"] == 0
    one = client.get(f"/ogc/collections/grids/items/{G2}")
    assert one.status_code == 200 and one.json()["properties"]["code"] == G2
    assert client.get(f"/ogc/collections/communities/items/{G2}").status_code == 404


@pytest.mark.parametrize(("query", "field"), [
    ({"limit": 0}, "limit"), ({"limit": 10001}, "limit"), ({"limit": "ten"}, "limit"),
    ({"bbox": "1,2,3"}, "bbox"), ({"bbox": "5,5,1,1"}, "bbox"), ({"colour": "red"}, "colour"),
    ({"f": "xml"}, "f"), ({"after": "not a code"}, "after"), ({"generation": "-1"}, "generation"),
])
def test_bad_parameters_answer_400_in_the_standards_shape(client, tiny, query, field):
    r = client.get("/ogc/collections/grids/items", params=query)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "InvalidParameterValue" and field in r.json()["description"]


def test_unknown_collection_and_feature_are_404_in_the_standards_shape(client, tiny):
    r = client.get("/ogc/collections/parcels/items")
    assert r.status_code == 404 and r.json()["code"] == "NotFound" and "grids" in r.json()["description"]
    assert client.get("/ogc/collections/reports/items/not-a-uuid").json()["code"] == "NotFound"
    assert client.get("/ogc/collections/grids/items/110101001001999").status_code == 404
    # The rest of the API keeps its own envelope.
    assert "error" in client.get("/api/v1/grids/999").json()


def test_etag_answers_304_until_the_boundaries_change(client, tiny, db):
    r = client.get("/ogc/collections/grids/items")
    etag = r.headers["etag"]
    assert client.get("/ogc/collections/grids/items", headers={"If-None-Match": etag}).status_code == 304
    assert client.get("/ogc/collections/grids/items", params={"limit": 2},
                      headers={"If-None-Match": etag}).status_code == 200
    from geo.models import Area

    area = db.query(Area).filter_by(code=G1).one()
    area.name = "renamed"
    db.flush()
    changed = client.get("/ogc/collections/grids/items", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert changed.json()["features"][0]["properties"]["name"] == "renamed"


def test_another_generation_by_parameter(client, tiny, db):
    from tests.tiny_city import build_tiny_city

    draft = build_tiny_city(db, activate=False)
    r = client.get("/ogc/collections/grids/items", params={"generation": draft})
    assert r.status_code == 200 and r.json()["features"][0]["properties"]["generation"] == draft
    nxt = client.get("/ogc/collections/grids/items", params={"generation": draft, "limit": 1}).json()["links"]
    assert "generation=" in next(link["href"] for link in nxt if link["rel"] == "next")
    assert client.get("/ogc/collections/grids/items").json()["features"][0]["properties"]["generation"] == tiny.generation
    assert client.get("/ogc/collections/grids/items", params={"generation": 999999}).status_code == 404


def _report_items(client, headers=None, **params):
    r = client.get("/ogc/collections/reports/items", params={"bbox": TINY_BBOX, "limit": 100, **params},
                   headers=headers or {})
    assert r.status_code == 200, r.text
    return {f["id"]: f for f in r.json()["features"]}


def test_reports_public_fields_and_sensitive_cases_at_their_cell(client, tiny, tokens):
    plain = post(client)
    secret = post(client, category="40", subcategory="4001", location={"lon": SECRET[0], "lat": SECRET[1]})
    public = _report_items(client)
    assert {plain, secret} <= set(public)
    p = public[plain]["properties"]
    assert p["category"] == "30" and p["grid_code"] == G1 and p["status"] in ("registered", "dispatched")
    assert "reporter_phone" not in p and "description" not in p
    s = public[secret]
    assert s["geometry"]["coordinates"] == list(SECRET_CELL)
    assert s["properties"]["grid_code"] == COMMUNITY and s["properties"]["location_precision_m"] == 400
    full = _report_items(client, {"Authorization": tokens["admin"]})
    assert full[secret]["geometry"]["coordinates"] == list(SECRET)
    assert full[secret]["properties"]["reporter_phone"] == "13912345678"
    assert full[secret]["properties"]["description"]
    one = client.get(f"/ogc/collections/reports/items/{secret}").json()
    assert one["geometry"]["coordinates"] == list(SECRET_CELL) and "reporter_name" not in one["properties"]


def test_every_public_filter_runs_on_what_the_public_sees(client, tiny, tokens):
    secret = post(client, category="40", subcategory="4001", location={"lon": SECRET[0], "lat": SECRET[1]})
    around_point = "116.406,39.913,116.407,39.914"  # holds the exact point, not the cell's centre
    assert secret not in _report_items(client, bbox=around_point)
    assert secret in _report_items(client, {"Authorization": tokens["admin"]}, bbox=around_point)
    around_cell = "116.4049,39.9149,116.4051,39.9151"
    assert secret in _report_items(client, bbox=around_cell)
    # Publicly the case is in its community, never its grid.
    assert secret not in _report_items(client, grid_code=G1)
    assert secret in _report_items(client, grid_code=COMMUNITY)
    assert secret in _report_items(client, {"Authorization": tokens["admin"]}, grid_code=G1)


def test_report_filters_datetime_status_and_category(client, tiny):
    urban = post(client, reported_at="2026-11-02T08:00:00+08:00")
    safety = post(client, category="20", subcategory="2001", reported_at="2026-11-05T08:00:00+08:00")
    assert set(_report_items(client, datetime="2026-11-02")) >= {urban}
    assert safety not in _report_items(client, datetime="2026-11-02")
    assert urban in _report_items(client, datetime="2026-11-02T00:00:00Z")
    assert urban not in _report_items(client, datetime="2026-11-02T00:00:01Z")
    assert {urban, safety} <= set(_report_items(client, datetime="2026-11-01/2026-11-05"))
    assert safety in _report_items(client, datetime="2026-11-04T00:00:00Z/..")
    assert urban not in _report_items(client, datetime="2026-11-04T00:00:00Z/..")
    assert urban in _report_items(client, datetime="../2026-11-03")
    only_urban = _report_items(client, category="30")
    assert urban in only_urban and safety not in only_urban
    assert safety in _report_items(client, subcategory="2001")
    assert urban in _report_items(client, status="open") and urban not in _report_items(client, status="closed")
    for bad in ({"datetime": "yesterday"}, {"datetime": "2026-11-05/2026-11-01"}, {"status": "lost"},
                {"category": "99"}, {"generation": "1"}):
        r = client.get("/ogc/collections/reports/items", params=bad)
        assert r.status_code == 400, (bad, r.text)


def test_report_pages_follow_next_links_without_repeats(client, tiny):
    ids = {post(client) for _ in range(5)}
    seen, url, params = [], "/ogc/collections/reports/items", {"bbox": TINY_BBOX, "limit": 2}
    while url:
        page = client.get(url, params=params).json()
        params = None
        seen += [f["id"] for f in page["features"]]
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
    assert ids <= set(seen) and len(seen) == len(set(seen))
    assert page["numberMatched"] == len(seen)
