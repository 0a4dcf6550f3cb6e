"""Assets never come from a CDN; folium's class defaults stay untouched; tiles follow settings;
standalone pages from the CLI work from disk; the one-scan aggregates equal plain counts."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import folium
import pytest

from geo.cityconfig import load_city_config
import sqlalchemy as sa
from folium.plugins import Fullscreen, HeatMap, HeatMapWithTime, Realtime
from typer.testing import CliRunner

from maps.assets import ASSET_FILES, UnmappedAsset, allowed_asset, localize, read_asset
from maps.base import new_map, render
from maps.settings import MapSettings

LINK_RE = re.compile(r'(?:src|href)="([^"]+)"')


def _plugins_map() -> folium.Map:
    m = folium.Map(tiles=None)
    HeatMap([[41.1, 122.0, 1.0]]).add_to(m)
    HeatMapWithTime([[[41.1, 122.0, 1.0]]], index=["2026-01-05"]).add_to(m)
    Realtime("/feed").add_to(m)
    Fullscreen().add_to(m)
    return m


def test_localize_sets_instance_lists_only():
    plugins = (folium.Map, HeatMap, HeatMapWithTime, Realtime, Fullscreen)
    classes = {c: (list(c.default_js), list(c.default_css)) for c in plugins}
    m = _plugins_map()
    html, used = render(m)
    assert not [u for u in LINK_RE.findall(html) if not u.startswith("/assets/")]
    for c, (js, css) in classes.items():
        assert c.default_js == js and c.default_css == css, f"{c.__name__} class defaults were mutated"
    # A map built afterwards still gets folium's CDN links: only our instances were changed.
    plain = folium.Map().get_root().render()
    assert "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js" in plain
    assert {"leaflet/dist/leaflet.js", "leaflet-realtime/dist/leaflet-realtime.min.js"} <= used


def test_unknown_asset_fails_loudly():
    m = folium.Map(tiles=None)
    m.default_js = [*m.default_js, ("some_new_plugin", "https://cdn.example.com/x.js")]
    with pytest.raises(UnmappedAsset):
        localize(m.get_root())


def test_every_mapped_asset_is_installed():
    root = MapSettings().assets_dir
    for rel in ASSET_FILES.values():
        assert (root / rel).is_file(), f"{rel}: run npm ci --ignore-scripts"
        assert allowed_asset(rel)
    assert not allowed_asset("leaflet/package.json") and not allowed_asset("../etc/passwd")
    css = read_asset(root, "leaflet-timedimension/dist/leaflet.timedimension.control.min.css").decode()
    assert "bootstrapcdn" not in css and "../../bootstrap3-glyphicons/dist/fonts/" in css


@pytest.mark.parametrize("tiles, expect", [
    ("none", None),
    ("osm", "tile.openstreetmap.org"),
    ("https://tiles.intranet.gov.cn/{z}/{x}/{y}.png", "tiles.intranet.gov.cn"),
])
def test_tiles_follow_settings(tiles, expect):
    html, _ = render(new_map((122.0, 41.0, 122.1, 41.1), MapSettings(tiles=tiles)))
    if expect is None:
        assert "L.tileLayer" not in html and "tile.openstreetmap" not in html
    else:
        assert expect in html


def test_tianditu_needs_a_key_and_uses_it():
    with pytest.raises(ValueError):
        new_map(None, MapSettings(tiles="tianditu"))
    html, _ = render(new_map(None, MapSettings(tiles="tianditu", tianditu_key="abc123")))
    assert "tianditu.gov.cn/vec_w" in html and "tianditu.gov.cn/cva_w" in html and "tk=abc123" in html
    with pytest.raises(ValueError):
        MapSettings(tiles="ftp://nonsense")


def test_cli_writes_offline_pages(small_city, database_url, tmp_path, monkeypatch):
    from cli.main import app

    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)
    runner = CliRunner()
    for cmd, extra in (("command-center", []), ("hotspots", ["--category", "urban"])):
        out = tmp_path / f"{cmd}.html"
        result = runner.invoke(app, ["map", cmd, "--out", str(out), *extra])
        assert result.exit_code == 0, result.output
        html = out.read_text(encoding="utf-8")
        links = LINK_RE.findall(html)
        assert links and all(u.startswith(f"{out.stem}_files/") for u in links), links
        for u in links:
            assert (tmp_path / u).is_file(), u
        assert "/maps/feeds/" not in html  # a file has no server to poll: live layers are snapshots
    assert (tmp_path / "hotspots_files/bootstrap3-glyphicons/dist/fonts/glyphicons-halflings-regular.woff").is_file()
    bad = runner.invoke(app, ["map", "hotspots", "--out", str(tmp_path / "x.html"), "--category", "nope"])
    assert bad.exit_code == 1


@pytest.mark.parametrize("public", [True, False])
def test_one_scan_aggregates_equal_plain_counts(small_city, db, public):
    import h3

    from geo.analytics.analysis import default_window
    from geo.analytics.mapdata import cell_counts, latest_report_time, window_aggregates
    from geo.reports.queries import ReportFilter
    from geo.matching.cells import to_strings
    from geo.models import Report

    until = latest_report_time(db) + timedelta(seconds=1)
    since, until = default_window(db, until - timedelta(weeks=20), until)
    flt = ReportFilter(since=since, until=until)
    ag = window_aggregates(db, flt, res=8, coarse_res=7, code_length=12, zone="Asia/Shanghai", public=public)
    total = db.scalar(sa.select(sa.func.count()).select_from(Report).where(*flt.conditions()))
    assert ag.fine["n"].sum() == total == ag.weekly["n"].sum()
    assert ag.areas.sum() == db.scalar(sa.select(sa.func.count()).select_from(Report).where(
        *flt.conditions(), Report.grid_code.is_not(None)))
    assert all(len(c) == 12 for c in ag.areas.index)
    assert ag.areas.index.is_unique
    plain = cell_counts(db, flt, res=8, public=public).sort_values("cell").reset_index(drop=True)
    fine = ag.fine.sort_values("cell").reset_index(drop=True)
    assert (plain["cell"].to_numpy() == fine["cell"].to_numpy()).all()
    assert (plain["n"].to_numpy() == fine["n"].to_numpy()).all()
    assert {h3.get_resolution(c) for c in to_strings(fine["cell"])} == {8}
    assert {h3.get_resolution(c) for c in to_strings(ag.weekly["cell"])} == {7}
    weeks = cell_counts(db, flt, res=7, by_week=True, public=public, zone="Asia/Shanghai")
    assert sorted(weeks["week"].unique()) == sorted(ag.weekly["week"].unique())


def test_cell_counts_put_each_report_in_the_hexagon_holding_its_point(db):
    """Exact, not a lattice approximation: two points either side of a hexagon edge, 2 m
    apart, land in different cells, each the one h3 itself gives for the point."""
    import uuid
    from datetime import datetime, timezone

    import h3

    from geo.analytics.mapdata import cell_counts
    from geo.reports.queries import ReportFilter
    from geo.boundaries.areas import BBox
    from geo.matching.cells import cell_of_point, to_strings
    from geo.models import Report, ReportSource, ReportStatus

    centre = h3.latlng_to_cell(30.5, 90.5, 8)
    (lat0, lon0), (lat1, lon1) = h3.cell_to_boundary(centre)[:2]
    mid_lat, mid_lon = (lat0 + lat1) / 2, (lon0 + lon1) / 2
    c_lat, c_lon = h3.cell_to_latlng(centre)
    # 1 m inside and 1 m outside the edge's midpoint, along the line to the centre.
    step = 1 / (((mid_lat - c_lat) * 111_000) ** 2 + ((mid_lon - c_lon) * 96_000) ** 2) ** 0.5
    points = [(mid_lon + (c_lon - mid_lon) * step * s, mid_lat + (c_lat - mid_lat) * step * s) for s in (1, -1)]
    when = datetime(2026, 11, 16, 12, tzinfo=timezone.utc)
    for lon, lat in points:
        db.add(Report(id=uuid.uuid4(), category="30", source=ReportSource.citizen, status=ReportStatus.registered,
                      location=f"SRID=4326;POINT({lon} {lat})", h3_cell=cell_of_point(lon, lat), reported_at=when))
    db.flush()
    found = cell_counts(db, ReportFilter(bbox=BBox(90, 30, 91, 31)), res=8)
    expected = sorted(h3.latlng_to_cell(lat, lon, 8) for lon, lat in points)
    assert expected[0] != expected[1] and centre in expected
    assert sorted(to_strings(found["cell"])) == expected and found["n"].tolist() == [1, 1]


def test_weeks_start_on_monday_midnight_china_time(db):
    import uuid
    from datetime import date, datetime, timezone

    from geo.analytics.mapdata import cell_counts
    from geo.reports.queries import ReportFilter
    from geo.analytics.weeks import week_start
    from geo.boundaries.areas import BBox
    from geo.matching.cells import cell_of_point
    from geo.models import Report, ReportSource, ReportStatus

    cst = timezone(timedelta(hours=8))
    # Sunday 23:30 and Monday 00:30 in Panjin are the same UTC day (Sunday) but different weeks.
    for when in (datetime(2026, 11, 15, 23, 30, tzinfo=cst), datetime(2026, 11, 16, 0, 30, tzinfo=cst)):
        db.add(Report(id=uuid.uuid4(), category="30", source=ReportSource.citizen, status=ReportStatus.registered,
                      location="SRID=4326;POINT(90.5 30.5)", h3_cell=cell_of_point(90.5, 30.5), reported_at=when))
    db.flush()
    weeks = cell_counts(db, ReportFilter(bbox=BBox(90, 30, 91, 31)), res=5, by_week=True,
                        zone=load_city_config().timezone)
    assert sorted(week_start(w) for w in weeks["week"]) == [date(2026, 11, 9), date(2026, 11, 16)]


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "Asia/Kolkata"])
def test_weeks_start_on_monday_midnight_in_the_citys_zone(db, zone):
    """The zone comes from the city configuration; with daylight saving, in summer and winter."""
    import uuid
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    from geo.analytics.mapdata import cell_counts
    from geo.reports.queries import ReportFilter
    from geo.analytics.weeks import week_start
    from geo.boundaries.areas import BBox
    from geo.matching.cells import cell_of_point
    from geo.models import Report, ReportSource, ReportStatus

    tz = ZoneInfo(zone)
    for day in (11, 12):  # Sunday 23:30 and Monday 00:30 local, in January and in July
        for month, hour, minute in ((1, 23, 30), (7, 23, 30)) if day == 11 else ((1, 0, 30), (7, 0, 30)):
            when = datetime(2026, month, day + (month == 7), hour, minute, tzinfo=tz)
            db.add(Report(id=uuid.uuid4(), category="30", source=ReportSource.citizen, status=ReportStatus.registered,
                          location="SRID=4326;POINT(90.5 30.5)", h3_cell=cell_of_point(90.5, 30.5), reported_at=when))
    db.flush()
    weeks = cell_counts(db, ReportFilter(bbox=BBox(90, 30, 91, 31)), res=5, by_week=True, zone=zone)
    got = sorted((week_start(w), n) for w, n in zip(weeks["week"], weeks["n"]))
    assert got == [(date(2026, 1, 5), 1), (date(2026, 1, 12), 1), (date(2026, 7, 6), 1), (date(2026, 7, 13), 1)]


def test_repository_has_no_generated_output_tracked():
    ignore = (Path(__file__).resolve().parents[2] / ".gitignore").read_text()
    assert "test-output/" in ignore
