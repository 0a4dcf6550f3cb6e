"""The map pages, feeds, downloads and QR codes through the API (small test city, real PostGIS)."""

from __future__ import annotations

import csv
import io
import re

import folium
import orjson
import pytest

from tests.conftest import STAFF

ASSET_RE = re.compile(r'(?:src|href)="([^"]+)"')


def _no_external(html: str) -> None:
    links = ASSET_RE.findall(html)
    assert links, "the page links no assets at all"
    external = [u for u in links if u.startswith(("http:", "https:", "//"))]
    assert not external, f"CDN links left in the page: {external}"
    assert "cdn.jsdelivr" not in html and "cdnjs" not in html and "code.jquery" not in html


@pytest.fixture()
def city_client(small_city, client):
    client.headers.update(STAFF)  # the internal pages are staff-only once tokens are configured
    return client


def test_command_center_page(city_client):
    r = city_client.get("/maps/command-center")
    assert r.status_code == 200, r.text
    html = r.text
    _no_external(html)
    for label in ("grids by open cases", "communities by open cases", "heat: disputes", "heat: safety hazards",
                  "heat: urban management", "heat: all categories", "live: new and overdue reports",
                  "live: worker positions"):
        assert label in html
    assert "L.realtime" in html and "/maps/feeds/reports.geojson" in html
    assert "Server-Timing" in r.headers or "server-timing" in r.headers
    assert len(r.content) < 1_500_000


def test_folium_class_defaults_untouched(city_client):
    before_js, before_css = list(folium.Map.default_js), list(folium.Map.default_css)
    city_client.get("/maps/command-center")
    city_client.get("/maps/hotspots")
    assert folium.Map.default_js == before_js and folium.Map.default_css == before_css
    plain = folium.Map()
    html = plain.get_root().render()
    assert "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js" in html
    from folium.plugins import Realtime
    assert Realtime.default_js[0][1].startswith("https://")


def test_assets_served_and_limited(city_client):
    html = city_client.get("/maps/command-center").text
    for url in ASSET_RE.findall(html):
        if url.startswith("/assets/"):
            r = city_client.get(url)
            assert r.status_code == 200, url
    assert city_client.get("/assets/leaflet/dist/images/layers.png").status_code == 200
    assert city_client.get("/assets/leaflet/package.json").status_code == 404
    assert city_client.get("/assets/../pyproject.toml").status_code == 404


def test_live_feeds(city_client):
    r = city_client.get("/maps/feeds/reports.geojson")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    body = r.json()
    assert body["type"] == "FeatureCollection"
    for f in body["features"]:
        assert set(f["properties"]) == {"id", "category", "category_name", "group", "status", "reported_at",
                                        "grid_code", "overdue"}
    workers = city_client.get("/maps/feeds/workers.geojson").json()
    assert workers["features"], "the small city has on-duty workers with positions"
    assert set(workers["features"][0]["properties"]) == {"id", "public_name", "role", "last_seen_at"}


def test_hotspots_page_and_downloads(city_client):
    r = city_client.get("/maps/hotspots", params={"category": "urban"})
    assert r.status_code == 200, r.text
    _no_external(r.text)
    for label in ("Gi* hot and cold spots (hexagons)", "density: reports per hexagon", "Gi* hot and cold grids",
                  "weekly animation"):
        assert label in r.text
    csv_r = city_client.get("/maps/hotspots.csv", params={"category": "urban", "unit": "hex"})
    rows = list(csv.DictReader(io.StringIO(csv_r.text)))
    assert rows and {"cell", "reports", "gi_z", "p_value", "class", "class_label"} <= set(rows[0])
    grid_rows = list(csv.DictReader(io.StringIO(
        city_client.get("/maps/hotspots.csv", params={"unit": "area"}).text)))
    assert len(grid_rows) == 120
    gj = orjson.loads(city_client.get("/maps/hotspots.geojson", params={"unit": "area"}).content)
    assert len(gj["features"]) == 120 and all(f["geometry"] for f in gj["features"])
    assert city_client.get("/maps/hotspots", params={"category": "nonsense"}).status_code == 422
    assert city_client.get("/maps/hotspots", params={"resolution": 11}).status_code == 422


def test_grid_page_and_qr(city_client, db):
    import sqlalchemy as sa

    from geo.models import Area, AreaLevel
    code = db.scalar(sa.select(Area.code).where(Area.level == AreaLevel.grid).order_by(Area.code).limit(1))
    r = city_client.get(f"/grids/{code}")
    assert r.status_code == 200, r.text
    _no_external(r.text)
    assert code in r.text and "report a problem" in r.text and f"/grids/{code}/qr.svg" in r.text
    png = city_client.get(f"/grids/{code}/qr.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG") and png.headers["content-type"] == "image/png"
    svg = city_client.get(f"/grids/{code}/qr.svg")
    assert svg.status_code == 200 and b"<svg" in svg.content
    assert city_client.get("/grids/999999999999999").status_code == 404
    assert city_client.get("/grids/999999999999999/qr.png").status_code == 404


def test_qr_encodes_the_page_url(small_city, engine, db):
    import segno
    import sqlalchemy as sa
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.deps import get_session
    from geo.models import Area, AreaLevel
    from maps.settings import MapSettings

    code = db.scalar(sa.select(Area.code).where(Area.level == AreaLevel.grid).order_by(Area.code).limit(1))
    app = create_app(engine=engine, map_settings=MapSettings(public_base_url="https://grid.example.gov.cn"))
    app.dependency_overrides[get_session] = lambda: db
    with TestClient(app) as c:
        png = c.get(f"/grids/{code}/qr.png", params={"scale": 3}).content
    expected = io.BytesIO()
    segno.make(f"https://grid.example.gov.cn/grids/{code}", error="m", micro=False).save(
        expected, kind="png", scale=3, border=4)
    assert png == expected.getvalue()


def test_built_pages_are_reused_for_the_ttl(city_client):
    first = city_client.get("/maps/hotspots", params={"category": "safety"})
    second = city_client.get("/maps/hotspots", params={"category": "safety"})
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("miss", "hit")
    assert first.text == second.text
    assert city_client.get("/maps/hotspots", params={"category": "urban"}).headers["x-cache"] == "miss"
    e1 = city_client.get("/embed/hotspots")
    e2 = city_client.get("/embed/hotspots", headers={"If-None-Match": e1.headers["etag"]})
    assert e2.status_code == 304 and e2.headers["x-cache"] == "hit"


def test_cache_can_be_disabled():
    from api.page_cache import PageCache

    calls = []
    cache = PageCache(0)
    for _ in range(2):
        cache.get_or_build("k", lambda: calls.append(1))
    assert len(calls) == 2
    lru = PageCache(60, max_entries=2)
    for k in "abc":
        lru.get_or_build(k, lambda: k)
    assert lru.get_or_build("a", lambda: "rebuilt") == ("rebuilt", False)


def test_empty_windows_still_render(city_client):
    empty = {"since": "2000-01-01T00:00:00Z", "until": "2000-02-01T00:00:00Z"}
    for url in ("/maps/hotspots", "/embed/hotspots", "/maps/command-center"):
        r = city_client.get(url, params=empty)
        assert r.status_code == 200, (url, r.text[:300])
    rows = list(csv.DictReader(io.StringIO(city_client.get("/maps/hotspots.csv", params=empty).text)))
    assert rows and all(r["class"] == "0" and r["reports"] == "0" for r in rows)
