"""Browser protections on every response, and an OpenAPI document clients and fuzzers can
trust (hardening issue: headers, /docs offline, the document's own defects)."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from tests.api.report_helpers import body
from tests.conftest import STAFF
from tests.tiny_city import GRIDS

GRID = next(iter(GRIDS))


@pytest.mark.parametrize("url", ["/healthz", "/api/v1/grids", "/api/v1/nope", "/api/v1/locate?lon=1",
                                 "/assets/leaflet/dist/leaflet.js", f"/grids/{GRID}", "/openapi.json"])
def test_nosniff_everywhere(client, tiny, url):
    assert client.get(url).headers["x-content-type-options"] == "nosniff"


def test_nosniff_on_answers_made_before_the_app(client, tiny):
    r = client.post("/api/v1/reports", content=b"x", headers={"content-type": "text/plain"})
    assert r.status_code == 415 and r.headers["x-content-type-options"] == "nosniff"
    r = client.get("/api/v1/reports", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and r.headers["x-content-type-options"] == "nosniff"


def _inline_hashes(html: str) -> set[str]:
    out = set()
    for m in re.finditer(r"<script(\s[^>]*)?>(.*?)</script>", html, re.S):
        if m.group(1) and ("src=" in m.group(1) or "application/json" in m.group(1)):
            continue  # a file, or data that does not run
        out.add("'sha256-" + base64.b64encode(hashlib.sha256(m.group(2).encode()).digest()).decode() + "'")
    return out


@pytest.mark.parametrize("url", ["/maps/command-center", "/maps/hotspots", "/maps/login", f"/grids/{GRID}",
                                 "/report", f"/report?grid={GRID}", "/docs"])
def test_pages_have_frame_protection_and_a_hash_only_csp(client, tiny, url):
    r = client.get(url, headers=STAFF)
    assert r.status_code == 200, r.text
    csp = r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in csp
    script_src = re.search(r"script-src ([^;]*)", csp).group(1)
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    inline = _inline_hashes(r.text)
    assert inline <= set(script_src.split()), "every inline script is allowed by its hash, and only those"


def test_area_names_are_escaped_into_pages(client, db, tiny):
    """Names come from planners' imports: one that closes the title and opens a script must
    arrive as text (branca pastes the title as it is)."""
    import sqlalchemy as sa

    from geo.models import Area

    evil = '</title><script>window.__pwned=1</script>'
    db.execute(sa.update(Area).where(Area.code == GRID).values(name=evil))
    page = client.get(f"/grids/{GRID}").text
    assert "<script>window.__pwned" not in page and "&lt;/title&gt;&lt;script&gt;" in page


def test_the_case_page_is_framed_by_nobody(client, tiny):
    payload = body()
    client.post("/api/v1/reports", json=payload)
    r = client.get(f"/cases/{payload['id']}")
    assert r.status_code == 200 and r.headers["x-frame-options"] == "DENY"
    assert "<script>" not in r.text  # its script is a file: nothing inline to allow
    assert client.get("/cases/00000000-0000-0000-0000-000000000000").status_code == 404


def test_docs_load_nothing_from_elsewhere(client, tiny):
    html = client.get("/docs").text
    assert "/assets/swagger-ui-dist/swagger-ui-bundle.js" in html and "/assets/swagger-ui-dist/swagger-ui.css" in html
    assert not re.search(r'(src|href)="(https?:)?//', html)
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert client.get(f"/assets/swagger-ui-dist/{asset}").status_code == 200
    assert client.get("/redoc").status_code == 404  # ReDoc would load from a CDN


def _refs(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                yield v
            else:
                yield from _refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _refs(v)


def test_every_ref_resolves(client):
    doc = client.get("/openapi.json").json()
    for ref in set(_refs(doc)):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in doc["components"]["schemas"], ref


def test_the_document_states_what_is_enforced(client):
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    body_ref = doc["paths"]["/api/v1/reports"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body_ref == "#/components/schemas/ReportIn"
    assert schemas["ReportIn"]["properties"]["description"]["maxLength"] == client.app.state.city_config.max_description_chars
    action = schemas["TransitionIn"]["properties"]["action"]
    assert sorted(action["enum"]) == sorted(["dispatch", "start", "resolve", "close", "reopen", "reject",
                                             "mark_duplicate", "escalate", "transfer", "accept", "return"])
    transitions = doc["paths"]["/api/v1/reports/{report_id}/transitions"]["post"]["responses"]
    assert {"200", "401", "403", "404", "409", "422", "429"} <= set(transitions)
    err = transitions["409"]["content"]["application/json"]["schema"]["$ref"]
    assert err == "#/components/schemas/Error"  # the real envelope, not FastAPI's {"detail": ...}
    assert "HTTPValidationError" not in schemas
    paths = doc["paths"]
    assert "application/geo+json" in paths["/maps/feeds/reports.geojson"]["get"]["responses"]["200"]["content"]
    assert "text/csv" in paths["/maps/hotspots.csv"]["get"]["responses"]["200"]["content"]
    assert "image/png" in paths["/grids/{code}/qr.{fmt}"]["get"]["responses"]["200"]["content"]
    assert "415" in paths["/api/v1/reports"]["post"]["responses"]


def test_the_csp_lets_the_configured_tiles_load(engine, db, tiny):
    """The image sources of a page's CSP come from the same tile layers the page draws (an
    OSM host outside the list would leave the map blank)."""
    from contextlib import nullcontext

    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.deps import get_session
    from api.settings import ApiSettings
    from maps.settings import MapSettings

    app = create_app(engine=engine, api_settings=ApiSettings(escalation_interval_s=0, intake_batching=False),
                     map_settings=MapSettings(tiles="osm"))
    app.dependency_overrides[get_session] = lambda: db
    with TestClient(app) as c:
        app.state.authenticator._sessionmaker = lambda: nullcontext(db)
        for url in (f"/grids/{GRID}", "/report"):
            r = c.get(url)
            img_src = re.search(r"img-src ([^;]*)", r.headers["content-security-policy"]).group(1).split()
            assert "https://tile.openstreetmap.org" in img_src, (url, img_src)
            assert "https://tile.openstreetmap.org/{z}/{x}/{y}.png" in r.text
