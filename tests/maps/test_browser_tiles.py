"""The command centre drawing its areas from vector tiles (Leaflet.VectorGrid), in the real
browser, offline: the test city served with GRIDMAP_MAP_VECTOR_TILES_ABOVE=0 (vector mode
whatever the grid count)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import serving
from tests.maps.test_browser import Watched, browser  # noqa: F401 - the shared fixture

__all__ = ["browser"]


@pytest.fixture(scope="module")
def vector_server(database_url: str, small_city, tmp_path_factory) -> Iterator[str]:
    from maps.settings import MapSettings

    with serving(database_url, media_dir=tmp_path_factory.mktemp("media"),
                 map_settings=MapSettings(vector_tiles_above=0)) as base:
        yield base


DRAWN = """() => [...document.querySelectorAll('canvas.leaflet-tile')].some(c => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  for (let i = 3; i < d.length; i += 4) if (d[i] > 0) return true;
  return false;
})"""


def test_command_center_draws_areas_from_vector_tiles_offline(browser, vector_server):  # noqa: F811
    watched = Watched(browser, vector_server)
    try:
        page = watched.page
        tiles: list[tuple[str, int, str]] = []
        page.on("response", lambda r: tiles.append((r.url, r.status, r.headers.get("content-type", "")))
                if "/tiles/" in r.url else None)
        html = page.request.get(f"{vector_server}/maps/command-center").text()
        assert "L.vectorGrid.protobuf" in html and "CompactAreas" not in html
        assert "/assets/leaflet.vectorgrid/dist/Leaflet.VectorGrid.bundled.min.js" in html
        page.goto(f"{vector_server}/maps/command-center", wait_until="load")
        levels = [t.strip() for t in page.locator(".leaflet-control-layers-base label").all_inner_texts()]
        assert levels == ["grids by open cases", "communities by open cases", "streets by open cases",
                          "districts by open cases"], levels
        page.wait_for_function(DRAWN, timeout=15_000)  # some tile canvas has painted pixels
        grid_tiles = [t for t in tiles if "/tiles/grids/" in t[0]]
        assert grid_tiles and all(status == 200 for _, status, _ in grid_tiles), tiles
        assert any(ct == "application/vnd.mapbox-vector-tile" for _, _, ct in grid_tiles)
        # A click on a grid opens its popup (the fakeStop shim: the click reaches the feature).
        box = page.locator(".folium-map").bounding_box()
        for _ in range(5):
            page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            if page.locator(".leaflet-popup-content").count():
                break
            page.wait_for_timeout(1000)
        page.wait_for_selector(".leaflet-popup-content", timeout=5000)
        assert "open cases" in page.locator(".leaflet-popup-content").inner_text()
        # Switching level asks for that level's tiles.
        page.locator(".leaflet-control-layers-base label", has_text="communities by open cases").click()
        page.wait_for_function("() => performance.getEntriesByType('resource')"
                               ".some(e => e.name.includes('/tiles/communities/'))", timeout=10_000)
        watched.shot("command-center-vector")
        watched.check()
    finally:
        watched.close()
