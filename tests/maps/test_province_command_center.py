"""The command centre of a 50,000-grid province: areas from vector tiles (the default
threshold switches them on), so the page stays small; in the real browser, offline."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import serving
from tests.maps.test_browser import Watched, browser  # noqa: F401 - the shared fixture
from tests.maps.test_browser_tiles import DRAWN

__all__ = ["browser"]
MAX_PAGE_BYTES = 1_500_000


@pytest.fixture(scope="module")
def province_server(province_url, tmp_path_factory) -> Iterator[str]:
    with serving(province_url, media_dir=tmp_path_factory.mktemp("media")) as base:
        yield base


def test_the_page_does_not_grow_with_the_grids(province_server):
    r = httpx.get(f"{province_server}/maps/command-center", timeout=120)
    assert r.status_code == 200
    assert "L.vectorGrid.protobuf" in r.text  # 50,000 > GRIDMAP_MAP_VECTOR_TILES_ABOVE's default
    assert len(r.content) <= MAX_PAGE_BYTES, f"{len(r.content):,} bytes"


def test_province_tiles_render_offline(browser, province_server):  # noqa: F811
    watched = Watched(browser, province_server)
    try:
        page = watched.page
        statuses: list[int] = []
        page.on("response", lambda r: statuses.append(r.status) if "/tiles/grids/" in r.url else None)
        page.goto(f"{province_server}/maps/command-center", wait_until="load", timeout=120_000)
        page.wait_for_function(DRAWN, timeout=60_000)
        assert statuses and all(s == 200 for s in statuses), statuses
        watched.shot("command-center-province")
        watched.check()
    finally:
        watched.close()
