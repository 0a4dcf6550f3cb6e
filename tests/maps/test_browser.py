"""Real-browser tests: Debian's headless Chromium (never `playwright install`) against a real
uvicorn server on a free 127.0.0.1 port and the session's test database.

Every request to any host but the app is aborted and recorded, and fails the test, as does
any console error. Screenshots go to test-output/browser/.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa

from geo.models import Report
from geo.reports.maintenance import purge_reports
from tests.conftest import serving

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-background-networking", "--disable-gpu", "--no-first-run",
    "--disable-component-update", "--disable-sync",
]
OUT = Path(__file__).resolve().parents[2] / "test-output" / "browser"


@pytest.fixture(scope="module")
def server(database_url: str, small_city, tmp_path_factory) -> Iterator[str]:
    """uvicorn serving the app on the test database, in a thread; yields the base URL."""
    with serving(database_url, media_dir=tmp_path_factory.mktemp("media")) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: run scripts/ensure-tools.sh"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


class Watched:
    """A page whose foreign requests are blocked and recorded, and whose console errors are kept."""

    def __init__(self, browser, base: str):
        self.host = urlsplit(base).netloc
        self.context = browser.new_context(viewport={"width": 1280, "height": 800})
        self.page = self.context.new_page()
        self.foreign: list[str] = []
        self.errors: list[str] = []
        self.fake_pages: dict[str, str] = {}  # same-origin test documents (e.g. an iframe host)
        self.page.route("**/*", self._route)
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _route(self, route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.netloc == self.host and parts.path in self.fake_pages:
            route.fulfill(status=200, content_type="text/html", body=self.fake_pages[parts.path])
        elif parts.netloc == self.host:
            route.continue_()
        else:
            self.foreign.append(url)
            route.abort()

    def check(self) -> None:
        assert not self.foreign, f"requests to other hosts: {self.foreign}"
        assert not self.errors, f"console errors: {self.errors}"

    def shot(self, name: str) -> Path:
        OUT.mkdir(parents=True, exist_ok=True)
        path = OUT / f"{name}.png"
        self.page.screenshot(path=str(path))
        assert path.stat().st_size > 5_000
        return path

    def overlays(self) -> list[str]:
        self.page.wait_for_selector(".leaflet-control-layers-overlays label")
        return [t.strip() for t in self.page.locator(".leaflet-control-layers-overlays label").all_inner_texts()]

    def close(self) -> None:
        self.context.close()


@pytest.fixture()
def watched(browser, server) -> Iterator[Watched]:
    w = Watched(browser, server)
    yield w
    w.close()


@pytest.fixture()
def posted_reports(engine) -> Iterator[list[uuid.UUID]]:
    """Reports the test commits through the API, removed afterwards (the trail trigger lifted briefly)."""
    ids: list[uuid.UUID] = []
    yield ids
    with engine.begin() as conn:
        purge_reports(conn, where=Report.id.in_(ids))


def test_command_center_is_live(watched, server, engine, posted_reports):
    page = watched.page
    page.goto(f"{server}/maps/command-center", wait_until="load")
    labels = watched.overlays()
    for expected in ("heat: all categories", "heat: disputes 矛盾纠纷",
                     "heat: safety hazards 安全隐患", "heat: urban management 城市管理",
                     "live: new and overdue reports", "live: worker positions"):
        assert expected in labels, f"{expected!r} missing from {labels}"
    # The hierarchy levels are one radio group: exactly one level on the map, its legend shown.
    levels = [t.strip() for t in page.locator(".leaflet-control-layers-base label").all_inner_texts()]
    assert levels == ["grids by open cases", "communities by open cases", "streets by open cases",
                      "districts by open cases"], levels
    assert page.locator(".leaflet-control-layers-base input:checked").count() == 1
    assert page.locator(".leaflet-control-scale").count() == 1
    assert page.locator(".leaflet-control-zoom-fullscreen, .fullscreen-icon").count() >= 1
    visible_legend = ".gm-legend-open:visible"
    page.wait_for_function("() => [...document.querySelectorAll('.gm-legend-open')].filter(d => d.offsetParent).length === 1")
    assert "per grid" in page.locator(visible_legend).inner_text()
    page.locator(".leaflet-control-layers-base label", has_text="communities by open cases").click()
    page.wait_for_function("() => [...document.querySelectorAll('.gm-legend-open')].filter(d => d.offsetParent).length === 1"
                           " && document.querySelector('.gm-legend-level-community').offsetParent !== null")
    assert page.locator(".leaflet-control-layers-base input:checked").count() == 1
    watched.shot("command-center-communities")
    page.locator(".leaflet-control-layers-base label", has_text="grids by open cases").click()
    # The grid layer is drawn: its polygons are on the canvas and clicking one opens a popup.
    page.wait_for_function("() => document.querySelectorAll('.leaflet-overlay-pane canvas').length > 0")
    box = page.locator("#" + page.evaluate("() => document.querySelector('.folium-map').id")).bounding_box()
    for _ in range(3):  # the level switch redraws the canvas: a click during the redraw can miss
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        if page.locator(".leaflet-popup-content").count() or page.wait_for_timeout(1000) or \
                page.locator(".leaflet-popup-content").count():
            break
    page.wait_for_selector(".leaflet-popup-content", timeout=5000)
    assert "open cases" in page.locator(".leaflet-popup-content").inner_text()
    watched.shot("command-center")

    # A report posted through the API appears on the open page within 5 s, no reload.
    with engine.connect() as conn:
        lon, lat = conn.execute(sa.select(sa.func.ST_X(Report.location), sa.func.ST_Y(Report.location))
                                .where(Report.grid_code.is_not(None)).limit(1)).one()
    rid = uuid.uuid4()
    posted_reports.append(rid)
    body = {"id": str(rid), "category": "20", "subcategory": "2001", "description": "browser test",
            "source": "citizen", "location": {"lon": lon, "lat": lat},
            "reported_at": datetime.now(UTC).isoformat()}
    r = httpx.post(f"{server}/api/v1/reports", json=body, timeout=10)
    assert r.status_code == 201, r.text
    posted = time.monotonic()
    page.wait_for_selector(f".gm-report-{rid}", state="attached", timeout=5000)
    assert time.monotonic() - posted <= 5.0
    watched.shot("command-center-live")
    watched.check()


def test_hotspots_page(watched, server):
    page = watched.page
    page.goto(f"{server}/maps/hotspots?category=urban", wait_until="load")
    labels = watched.overlays()
    assert any(t.startswith("Gi* hot and cold spots") for t in labels)
    assert any(t.startswith("density: reports per hexagon") for t in labels)
    assert any(t.startswith("Gi* hot and cold grids") for t in labels)
    assert any(t.startswith("weekly animation") for t in labels)
    assert page.locator(".gm-legend-gi").count() == 1
    assert page.locator(".gm-downloads a").count() == 4
    # The animation's time control exists and steps through the weeks.
    page.locator(".leaflet-control-layers-overlays label", has_text="weekly animation").locator("input").check()
    page.wait_for_selector(".leaflet-bar-timecontrol", timeout=5000)
    watched.shot("hotspots")
    watched.check()


def test_embed_page(watched, server):
    page = watched.page
    page.goto(f"{server}/embed/hotspots", wait_until="load")
    page.wait_for_function("() => document.querySelectorAll('.leaflet-overlay-pane canvas, .leaflet-overlay-pane path').length > 0")
    text = page.content()
    for leak in ("reporter", "public_name", "reports.geojson", "description"):
        assert leak not in text
    assert page.locator(".gm-legend").count() >= 1
    watched.shot("embed")
    watched.check()


def test_embed_inside_a_frame(watched, server):
    """The embed renders inside an iframe of the app's own origin (frame-ancestors 'self')."""
    page = watched.page
    watched.fake_pages["/__frame_host"] = (
        f'<!doctype html><iframe id="f" src="{server}/embed/hotspots" width="800" height="600"></iframe>')
    page.goto(f"{server}/__frame_host", wait_until="load")
    frame = page.frame_locator("#f")
    frame.locator(".leaflet-container").wait_for(timeout=5000)
    frame.locator(".gm-legend").first.wait_for(timeout=5000)
    watched.shot("embed-in-frame")
    watched.check()


def test_grid_page(watched, server, engine):
    from geo.models import Area, AreaLevel

    with engine.connect() as conn:
        code = conn.scalar(sa.select(Area.code).where(Area.level == AreaLevel.grid).order_by(Area.code).limit(1))
    page = watched.page
    page.goto(f"{server}/grids/{code}", wait_until="load")
    page.wait_for_selector(".gm-grid-info")
    info = page.locator(".gm-grid-info").inner_text()
    assert code in info and "report a problem" in info
    page.wait_for_function("() => { const i = document.querySelector('.gm-grid-info img'); return i && i.complete && i.naturalWidth > 0; }")
    watched.shot("grid-page")
    watched.check()


def test_report_form_from_a_grid_sign(watched, server, engine, posted_reports):
    """The grid page's report link opens the form; sending it files one case in that grid."""
    from geo.models import Area, AreaLevel

    with engine.connect() as conn:
        code = conn.scalar(sa.select(Area.code).where(Area.level == AreaLevel.grid).order_by(Area.code).limit(1))
    page = watched.page
    page.goto(f"{server}/grids/{code}", wait_until="load")
    page.locator(".gm-report-link").click()
    page.wait_for_selector("form#report")
    page.select_option("#category", "30")
    page.fill("#description", "井盖缺失 manhole cover missing")
    page.click("#send")
    page.wait_for_selector("#status.ok", timeout=10_000)
    case = uuid.UUID(page.locator("#status").inner_text().split("Case ")[1].split(" ")[0])
    posted_reports.append(case)
    page.click("#send")  # a second tap on the emptied form is refused by the browser (description required)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(Report.grid_code, Report.source).where(Report.description.like("井盖缺失 manhole%"))).all()
    assert [tuple(r) for r in rows] == [(code, "citizen")]
    watched.shot("report-form")
    watched.check()


PAYLOAD = '"><img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


def test_a_crafted_query_neither_runs_nor_poisons_the_clean_page(watched, server):
    """The hardening issue's injection: the raw query string used to go into the download
    links (innerHTML) and the page cache ignored it, so one request poisoned the clean URL."""
    from urllib.parse import quote

    page = watched.page
    page.goto(f"{server}/maps/hotspots?category=urban&x={quote(PAYLOAD)}", wait_until="load")
    page.wait_for_selector(".gm-downloads a")
    assert page.evaluate("() => window.__pwned") is None
    hrefs = page.eval_on_selector_all(".gm-downloads a", "els => els.map(e => e.getAttribute('href'))")
    assert hrefs and all("onerror" not in h and "x=" not in h for h in hrefs)
    page.goto(f"{server}/maps/hotspots?category=urban", wait_until="load")  # the clean URL, from the cache
    page.wait_for_selector(".gm-downloads a")
    assert page.evaluate("() => window.__pwned") is None
    assert "onerror" not in page.content()
    watched.check()


def test_the_csp_blocks_a_script_injected_into_a_page(watched, server):
    """Were markup ever injected into a map page, its CSP keeps it from running: a
    ``<script>`` element in the served body (the page's scripts are hashed only where folium
    puts its own) and an ``onerror`` handler set through innerHTML at run time; the page's
    own inline scripts still draw the map."""
    page = watched.page
    payload = '<script>window.__pwned = 1</script>'

    def inject(route):
        response = route.fetch()
        html = response.text().replace('<div class="folium-map"', payload + '<div class="folium-map"', 1)
        route.fulfill(response=response, body=html)

    page.unroute("**/*")
    page.route("**/maps/hotspots*", inject)
    page.goto(f"{server}/maps/hotspots?category=urban", wait_until="load")
    page.wait_for_selector(".leaflet-control-layers-overlays label")
    assert page.content().count("window.__pwned = 1") == 1, "the payload reached the page"
    page.evaluate("""() => { const d = document.createElement('div');
        d.innerHTML = '<img src="/nope.png" onerror="window.__pwned = 2">';
        document.querySelector('.gm-legend').appendChild(d); }""")
    page.wait_for_timeout(500)
    assert page.evaluate("() => window.__pwned") is None
    assert sum("Content Security Policy" in e for e in watched.errors) >= 2, watched.errors
    assert page.locator(".gm-legend-gi").count() == 1  # the page's own inline scripts ran


def test_docs_page_works_offline(watched, server):
    page = watched.page
    page.goto(f"{server}/docs", wait_until="load")
    page.wait_for_selector(".swagger-ui .opblock", timeout=15_000)
    assert page.locator(".opblock").count() > 10
    watched.check()


def _png() -> bytes:
    from tests.images import png

    return png((32, 24), (10, 120, 200))


def test_snap_and_report_with_photo_then_follow_and_rate(watched, server, engine, posted_reports, tmp_path):
    """The reporter's loop: place the point on the map, attach a photo, send; follow the case
    on its page with the case token; rate it once it is closed."""
    from geo.models import Area, AreaLevel

    with engine.connect() as conn:
        code = conn.scalar(sa.select(Area.code).where(Area.level == AreaLevel.grid).order_by(Area.code).limit(1))
    photo = tmp_path / "snap.png"
    photo.write_bytes(_png())
    page = watched.page
    page.goto(f"{server}/report?grid={code}", wait_until="load")
    page.wait_for_selector("#map .leaflet-marker-icon")
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # the pin moves here
    assert "Location set" in page.locator("#loc").inner_text()
    page.select_option("#category", "30")
    page.fill("#description", "路灯不亮 street light out (browser test)")
    page.set_input_files("#photos", str(photo))
    page.click("#send")
    page.wait_for_selector("#photo-status", timeout=15_000)
    assert "1 uploaded" in page.locator("#photo-status").inner_text()
    rid = uuid.UUID(page.locator("#status").inner_text().split("Case ")[1].split(" ")[0])
    posted_reports.append(rid)
    token = page.locator("#case-token").inner_text()
    watched.shot("report-form-sent")

    page.locator("#case-link").click()
    page.wait_for_selector("#case:not([hidden])", timeout=10_000)
    assert "Dispatched" in page.locator("#c-status").inner_text()
    assert "#t=" not in page.url, "the token leaves the address bar once read"
    trail = page.locator("#c-trail").inner_text()
    assert "Received" in trail and "Photo added" in trail
    for step in ("start", "resolve", "close"):  # the worker handles it (the test server runs open)
        r = httpx.post(f"{server}/api/v1/reports/{rid}/transitions", json={"action": step, "actor": "grid worker"})
        assert r.status_code == 200, r.text
    page.reload(wait_until="load")  # the token now comes from this phone's saved cases
    page.wait_for_selector("#rate:not([hidden])", timeout=10_000)
    page.check("input[name=rating][value='4']")
    page.click("#send-rating")
    page.wait_for_selector("#status.ok", timeout=10_000)
    assert "4/5" in page.locator("#status").inner_text()
    with engine.connect() as conn:
        rating, photos = conn.execute(sa.select(Report.rating, Report.photos).where(Report.id == rid)).one()
    assert rating == 4 and len(photos) == 1
    assert httpx.get(f"{server}/api/v1/reports/{rid}", headers={"X-Case-Token": token}).status_code == 200
    watched.shot("case-page-rated")
    watched.check()
