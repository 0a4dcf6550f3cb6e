"""The public report form a grid sign's page links to."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from tests.tiny_city import GRIDS


def _grid_point(html: str) -> tuple[float, float]:
    lon = re.search(r'data-grid-lon="([-0-9.]+)"', html).group(1)
    lat = re.search(r'data-grid-lat="([-0-9.]+)"', html).group(1)
    return float(lon), float(lat)


def test_form_for_a_grid_defaults_to_a_point_that_matches_that_grid(client, tiny):
    for code in GRIDS:
        r = client.get("/report", params={"grid": code})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        html = r.text
        assert code in html and 'action' not in html.split("<form", 1)[1].split(">", 1)[0]
        assert '"/api/v1/reports"' in html  # posts to the intake API, nowhere else
        lon, lat = _grid_point(html)
        body = {"id": str(uuid.uuid4()), "category": "30", "description": "路灯不亮", "source": "citizen",
                "location": {"lon": lon, "lat": lat}, "reported_at": datetime.now(UTC).isoformat()}
        created = client.post("/api/v1/reports", json=body)
        assert created.status_code == 201 and created.json()["grid_code"] == code
        assert created.json()["match"] == "inside"


def test_form_lists_the_catalogue_and_loads_nothing_from_elsewhere(client, tiny):
    html = client.get("/report").text
    assert 'value="30"' in html and 'value="3001"' in html and "城市管理" in html
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert 'data-grid-lon=""' in html  # no grid: the citizen must share a position


def test_unknown_or_malformed_grid(client, tiny):
    assert client.get("/report", params={"grid": "110101001001999"}).status_code == 404
    r = client.get("/report", params={"grid": "abc"})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "grid"


def test_grid_page_links_to_the_form(client, tiny):
    code = next(iter(GRIDS))
    page = client.get(f"/grids/{code}").text
    link = f"/report?grid={code}"  # GRIDMAP_MAP_REPORT_URL's default
    assert link in page
    form = client.get(link)
    assert form.status_code == 200 and code in form.text
