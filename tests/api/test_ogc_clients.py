"""Real OGC API – Features clients against a served gridmap holding the whole demo city:
GDAL's OAPIF driver (ogrinfo, ogr2ogr, as QGIS uses it) and owslib."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import httpx
import orjson
import pyogrio
import pytest
import shapely

from tests.conftest import serving

DEMO_GRIDS = 4642
BOX = (122.0, 41.0, 122.05, 41.05)


@pytest.fixture(scope="module")
def base(demo_city_url) -> Iterator[str]:
    with serving(demo_city_url) as url:
        yield url


def _api_grids(base: str, **params) -> dict[str, shapely.Geometry]:
    """Every grid as /api/v1/grids publishes it, following its `next` links."""
    out, url, query = {}, f"{base}/api/v1/grids", {"limit": 1000, **params}
    while url:
        page = httpx.get(url, params=query, timeout=60).json()
        query = None
        out.update({f["id"]: shapely.from_geojson(orjson.dumps(f["geometry"]))
                    for f in page["features"]})
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
    return out


def test_ogrinfo_lists_the_collections(base):
    out = subprocess.run(["ogrinfo", "-ro", "-q", f"OAPIF:{base}/ogc"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for name in ("grids", "communities", "streets", "districts", "city", "reports"):
        assert f": {name} " in out.stdout
    summary = subprocess.run(["ogrinfo", "-ro", "-so", f"OAPIF:{base}/ogc", "grids"], capture_output=True,
                             text=True, timeout=120)
    assert f"Feature Count: {DEMO_GRIDS}" in summary.stdout, summary.stdout + summary.stderr


def test_ogr2ogr_copies_every_grid_with_the_geometry_the_api_publishes(base, tmp_path):
    gpkg = tmp_path / "grids.gpkg"
    out = subprocess.run(["ogr2ogr", "-f", "GPKG", str(gpkg), f"OAPIF:{base}/ogc", "grids", "-oo", "PAGE_SIZE=1000"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    copied = pyogrio.read_dataframe(gpkg, layer="grids")
    assert len(copied) == DEMO_GRIDS and copied["code"].is_unique
    api = _api_grids(base)
    assert set(copied["code"]) == set(api)
    same = shapely.equals_exact(copied.geometry.values, [api[c] for c in copied["code"]], tolerance=0)
    assert same.all(), copied["code"][~same].tolist()[:5]


def test_ogr2ogr_bbox_is_honoured(base, tmp_path):
    gpkg = tmp_path / "box.gpkg"
    out = subprocess.run(["ogr2ogr", "-f", "GPKG", str(gpkg), f"OAPIF:{base}/ogc", "grids", "-spat", *map(str, BOX),
                          "-oo", "PAGE_SIZE=1000"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    copied = pyogrio.read_dataframe(gpkg, layer="grids")
    expected = _api_grids(base, bbox=",".join(map(str, BOX)))
    assert 0 < len(expected) < DEMO_GRIDS
    assert set(copied["code"]) == set(expected)


def test_owslib_reads_collections_and_filtered_items(base):
    from owslib.ogcapi.features import Features

    w = Features(f"{base}/ogc")
    assert {c["id"] for c in w.collections()["collections"]} >= {"grids", "reports"}
    assert w.conformance()["conformsTo"]
    page = w.collection_items("grids", bbox=list(BOX), limit=10_000)
    assert page["numberMatched"] == len(_api_grids(base, bbox=",".join(map(str, BOX)))) == page["numberReturned"]
    reports = w.collection_items("reports", limit=5, status="open")
    assert reports["numberReturned"] <= 5
    for f in reports["features"]:
        assert f["properties"]["status"] in ("registered", "dispatched", "in_progress")
        assert "reporter_phone" not in f["properties"]
    one = w.collection_item("grids", page["features"][0]["id"])
    assert one["id"] == page["features"][0]["id"]
