"""The bulletin in Debian's headless Chromium: the file the CLI writes opens from disk with
its charts drawn and its hot-spot map running, asking no host for anything; the staff page
/bulletin renders under its CSP (the srcdoc map's scripts allowed). Screenshots go to
test-output/browser/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.conftest import serving
from tests.maps.test_browser import CHROMIUM, CHROMIUM_ARGS, OUT

END = "2026-11-14"
LOCAL = ("file:", "data:", "about:", "blob:")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: run scripts/ensure-tools.sh"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def bulletin_file(database_url, small_city, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bulletin")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRIDMAP_DATABASE_URL", database_url)
        r = CliRunner().invoke(app, ["bulletin", "--period", "fortnight", "--end", END, "--out", str(out), "--no-pdf"])
    assert r.exit_code == 0, r.output
    return out / f"bulletin-fortnight-{END}.html"


class Seen:
    """Every request a page (and its frames) makes, and its console errors."""

    def __init__(self, page):
        self.requests: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda req: self.requests.append(req.url))
        page.on("response", lambda r: self.errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))


def check_charts_and_map(page) -> None:
    charts = page.locator("svg.gm-chart")
    assert charts.count() == 5
    for i in range(charts.count()):
        box = charts.nth(i).bounding_box()
        assert box and box["width"] > 300 and box["height"] > 60
    # Each trend chart draws two non-empty series; the district bars have width.
    series = page.locator("#trends polyline.gm-series")
    assert series.count() == 8
    assert all(len(series.nth(i).get_attribute("points").split()) == 14 for i in range(8))
    assert page.evaluate("() => [...document.querySelectorAll('rect.gm-bar')].some(r => +r.getAttribute('width') > 10)")
    # The map frame runs Leaflet (inlined) and draws the hexagons on its canvas.
    frame = page.frame_locator("iframe.map")
    frame.locator(".leaflet-overlay-pane canvas").first.wait_for(timeout=10_000)
    assert frame.locator(".gm-legend-gi").count() == 1
    assert frame.locator(".leaflet-control-layers-overlays label").count() >= 2


def test_the_file_opens_from_disk_with_its_charts_and_map(browser, bulletin_file):
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    seen = Seen(page)
    page.goto(bulletin_file.as_uri(), wait_until="load")
    check_charts_and_map(page)
    title = page.locator("h1").inner_text()
    assert "定期分析研判" in title and "双周报" in title and "fortnightly" in title
    foreign = [u for u in seen.requests if not u.startswith(LOCAL)]
    assert not foreign, f"requests to other hosts: {foreign}"
    assert [u for u in seen.requests if u.startswith("file:")] == [bulletin_file.as_uri()]  # nothing beside it
    assert not seen.errors, seen.errors
    OUT.mkdir(parents=True, exist_ok=True)
    page.locator("#trends").screenshot(path=str(OUT / "bulletin-trends.png"))
    page.locator("#overview").screenshot(path=str(OUT / "bulletin-overview.png"))
    page.locator("iframe.map").screenshot(path=str(OUT / "bulletin-map.png"))
    page.screenshot(path=str(OUT / "bulletin.png"))
    assert (OUT / "bulletin-trends.png").stat().st_size > 20_000
    context.close()


@pytest.fixture(scope="module")
def staff_server(database_url, small_city, tmp_path_factory) -> Iterator[str]:
    with serving(database_url, staff_tokens="bulletin-browser-token",
                 media_dir=tmp_path_factory.mktemp("media")) as base:
        yield base


def test_the_staff_page_renders_under_its_csp(browser, staff_server):
    context = browser.new_context(viewport={"width": 1100, "height": 900},
                                  extra_http_headers={"Authorization": "Bearer bulletin-browser-token"})
    page = context.new_page()
    seen = Seen(page)
    response = page.goto(f"{staff_server}/bulletin?period=fortnight&end={END}", wait_until="load")
    assert response.status == 200 and "script-src 'self' 'sha256-" in response.headers["content-security-policy"]
    check_charts_and_map(page)
    host = staff_server.split("//")[1]
    foreign = [u for u in seen.requests if not u.startswith(LOCAL) and u.split("//")[1].split("/")[0] != host]
    assert not foreign, foreign
    assert not seen.errors, seen.errors  # a script the CSP refused would be one
    context.close()
