"""The public embed: aggregated hexagons only, cells under 5 suppressed, no text, no PII."""

from __future__ import annotations

import uuid
from datetime import timedelta

import h3
import orjson
import pytest
import sqlalchemy as sa

from geo.analytics.analysis import public_hexes
from geo.analytics.mapdata import latest_report_time
from geo.boundaries.generations import active_generation_id
from geo.matching.cells import cell_of_point
from geo.models import Report, ReportSource, ReportStatus
from maps.layers import encoded_cell

SECRET_NAME = "Zhang Unique-Reporter-7Q3X"
SECRET_PHONE = "13912345678"
SECRET_TEXT = "secret-description-8KD2 井盖在我家门口"
# Two places far from the test city: one with 5 reports (shown), one with 4 (suppressed).
SHOWN = (100.123457, 30.765431)
HIDDEN = (101.234568, 31.876542)


@pytest.fixture()
def seeded(small_city, db):
    when = latest_report_time(db) - timedelta(days=1)
    for (lon, lat), n in ((SHOWN, 5), (HIDDEN, 4)):
        for i in range(n):
            db.add(Report(
                id=uuid.uuid4(), category="30", subcategory="3001", description=SECRET_TEXT,
                source=ReportSource.citizen, location=f"SRID=4326;POINT({lon + i * 1e-6} {lat})",
                h3_cell=cell_of_point(lon + i * 1e-6, lat),
                reported_at=when, status=ReportStatus.registered, reporter_name=SECRET_NAME,
                reporter_phone=SECRET_PHONE,
            ))
    db.flush()
    return when


def test_cells_below_five_are_suppressed(seeded, db):
    p = public_hexes(db, generation=active_generation_id(db), label="urban", categories=("30",))
    cells = dict(p.cells)
    shown = h3.latlng_to_cell(SHOWN[1], SHOWN[0], p.resolution)
    hidden = h3.latlng_to_cell(HIDDEN[1], HIDDEN[0], p.resolution)
    assert cells[shown] == 5
    assert hidden not in cells
    assert all(n >= 5 for n in cells.values())
    assert p.suppressed >= 1


def test_threshold_can_rise_but_never_fall(seeded, db):
    gid = active_generation_id(db)
    p = public_hexes(db, generation=gid, label="urban", categories=("30",), min_count=6)
    assert all(n >= 6 for _, n in p.cells)
    with pytest.raises(ValueError):
        public_hexes(db, generation=gid, label="urban", categories=("30",), min_count=4)
    from maps.settings import MapSettings
    with pytest.raises(ValueError):
        MapSettings(embed_min_count=3)


def test_embed_page_has_no_pii_text_or_points(seeded, client):
    r = client.get("/embed/hotspots", params={"category": "urban"})
    assert r.status_code == 200, r.text
    page = r.text
    for secret in (SECRET_NAME, "Unique-Reporter", SECRET_PHONE, "secret-description", "井盖在我家门口"):
        assert secret not in page
    # No exact point: the seeded coordinates never appear (only hexagon vertices do).
    for lon, lat in (SHOWN, HIDDEN):
        assert f"{lon:.5f}" not in page and f"{lat:.5f}" not in page
    # The shown hexagon is drawn; the suppressed one is not (rings are delta-encoded, maps.layers).
    drawn = [res for res in range(5, 11)
             if orjson.dumps(encoded_cell(h3.latlng_to_cell(SHOWN[1], SHOWN[0], res))).decode() in page]
    assert len(drawn) == 1, "the 5-report hexagon is on the map"
    hidden = encoded_cell(h3.latlng_to_cell(HIDDEN[1], HIDDEN[0], drawn[0]))
    assert orjson.dumps(hidden).decode() not in page
    # No live feeds, no worker data, no per-report properties.
    for leak in ("reports.geojson", "workers.geojson", "public_name", "reported_at", "grid_code", "reporter"):
        assert leak not in page
    assert "/api/v1" not in page


def test_embed_caching_and_framing(seeded, client):
    r = client.get("/embed/hotspots")
    etag = r.headers["etag"]
    assert r.headers["cache-control"].startswith("public, max-age=")
    assert r.headers["content-security-policy"].endswith("; frame-ancestors 'self'")
    assert "'unsafe-inline'" not in r.headers["content-security-policy"].split("script-src")[1].split(";")[0]
    assert "x-frame-options" not in {k.lower() for k in r.headers}
    again = client.get("/embed/hotspots", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag and not again.content
    other = client.get("/embed/hotspots", params={"category": "safety"})
    assert other.headers["etag"] != etag


def test_frame_ancestors_are_configurable(small_city, engine, db):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.deps import get_session
    from maps.settings import MapSettings

    app = create_app(engine=engine, map_settings=MapSettings(frame_ancestors="https://www.example.gov.cn",
                                                             embed_max_age_s=60))
    app.dependency_overrides[get_session] = lambda: db
    with TestClient(app) as c:
        r = c.get("/embed/hotspots")
    assert r.headers["content-security-policy"].endswith("; frame-ancestors https://www.example.gov.cn")
    assert "x-frame-options" not in r.headers  # the embed is meant to be framed
    assert r.headers["cache-control"] == "public, max-age=60"


def test_grid_page_shows_public_names_only(small_city, client, db):
    from geo.models import Assignment, AssignmentRole, Worker

    code, name, phone, public = db.execute(
        sa.select(Assignment.area_code, Worker.name, Worker.phone, Worker.public_name)
        .join(Worker, Worker.id == Assignment.worker_id)
        .where(Assignment.role == AssignmentRole.primary, Assignment.ended_at.is_(None),
               sa.func.char_length(Assignment.area_code) == 15)
        .limit(1)
    ).one()
    page = client.get(f"/grids/{code}").text
    assert public in page
    assert name not in page and (phone is None or phone not in page)


def test_embed_legend_starts_at_the_threshold():
    from datetime import UTC, datetime

    from geo.readmodels import PublicHexes
    from maps.base import render
    from maps.hotspots import build_embed
    from maps.settings import MapSettings

    cells = [(h3.latlng_to_cell(41.1, 122.0 + i / 50, 8), n) for i, n in enumerate((5, 6, 9, 40))]
    p = PublicHexes("all", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC), 8, 5, cells, 3,
                    (121.9, 41.0, 122.2, 41.2))
    page = render(build_embed(p, settings=MapSettings()))[0]
    import re

    # Legend HTML sits in a JS string with "</" escaped as "<\/".
    assert "i>1–" not in page and re.search(r"i>5(–\d+)?<", page)
    with pytest.raises(ValueError):
        build_embed(PublicHexes("all", p.since, p.until, 8, 5, [(cells[0][0], 4)], 0, p.bounds),
                    settings=MapSettings())
