"""The CLI as a newcomer meets it: every mistake ends in exit 1 with what went wrong and what
to do next, never a Python traceback; and nothing a user added is deleted without asking."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import geopandas as gpd
import pandas as pd
import pytest
import sqlalchemy as sa
from shapely.geometry import Point
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cli.main import app
from geo.models import Area, Report

SMALL_GRIDS = 120


@pytest.fixture()
def cli_env(monkeypatch, database_url, small_city):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def clean_failure(r, *phrases):
    """Exit 1, no exception escaped (a traceback), and each phrase in the message."""
    out = " ".join(r.output.split())
    assert r.exit_code == 1, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "Traceback" not in r.output
    for phrase in phrases:
        assert phrase in out, out


def test_unknown_revision(cli_env):
    clean_failure(run("db", "migrate", "--revision", "nope"), "unknown revision 'nope'", "0001", "0010")


def test_match_out_where_no_folder_can_be_made(cli_env, tmp_path):
    points = tmp_path / "p.csv"
    pd.DataFrame({"lon": [122.07], "lat": [41.12]}).to_csv(points, index=False)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    clean_failure(run("match", "--in", points, "--out", blocker / "sub" / "m.parquet"),
                  "cannot create the folder", "--out")


def test_match_reads_a_geoparquet_with_only_a_geometry_column(cli_env, tmp_path, engine):
    with Session(engine) as s:
        code, x, y = s.execute(sa.select(Area.code, sa.func.ST_X(sa.func.ST_PointOnSurface(Area.geom)),
                                         sa.func.ST_Y(sa.func.ST_PointOnSurface(Area.geom)))
                               .where(Area.level == "grid").order_by(Area.code).limit(1)).one()
    path = tmp_path / "only_geometry.parquet"
    gpd.GeoDataFrame(geometry=[Point(x, y), Point(0, 0)], crs=4326).to_parquet(path)
    r = run("match", "--in", path, "--out", tmp_path / "m.parquet")
    assert r.exit_code == 0, r.output
    out = gpd.read_parquet(tmp_path / "m.parquet")
    assert out["grid_code"].iloc[0] == code and out["grid_code"].isna().iloc[1]  # (0, 0): no grid
    assert out.geometry.iloc[0].equals(Point(x, y))
    # In a projected crs the points are converted first.
    gpd.GeoDataFrame(geometry=[Point(x, y)], crs=4326).to_crs(4548).to_parquet(path)
    assert run("match", "--in", path, "--out", tmp_path / "m2.parquet").exit_code == 0
    assert list(gpd.read_parquet(tmp_path / "m2.parquet")["grid_code"]) == [code]


def test_match_refuses_polygons(cli_env, tmp_path):
    path = tmp_path / "polys.parquet"
    gpd.GeoDataFrame(geometry=[Point(122, 41).buffer(0.01)], crs=4326).to_parquet(path)
    clean_failure(run("match", "--in", path, "--out", tmp_path / "m.parquet"), "Polygon", "points")


@pytest.mark.parametrize("command", [["map", "hotspots"], ["map", "command-center"], ["grids", "export"]])
def test_an_unknown_level_lists_the_valid_ones(cli_env, tmp_path, command):
    r = run(*command, "--level", "village", "--out", tmp_path / "x.html")
    clean_failure(r, "unknown level 'village'", "district", "street", "community", "grid")


@pytest.mark.parametrize("since, until, says", [
    ("2026-05-01", "2026-04-01", "--until: must be after since"),
    ("2026-05-01T08:00:00", None, "--since"),   # a time without its offset
    ("yesterday", None, "--since"),
])
def test_a_bad_map_window_is_an_error_not_an_empty_map(cli_env, tmp_path, since, until, says):
    args = ["map", "hotspots", "--out", tmp_path / "h.html", "--since", since]
    clean_failure(run(*args, *(["--until", until] if until else [])), says)
    assert not (tmp_path / "h.html").exists()


def test_map_with_the_assets_missing(cli_env, tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDMAP_MAP_ASSETS_DIR", str(tmp_path / "nowhere"))
    clean_failure(run("map", "command-center", "--out", tmp_path / "c.html"), "map assets", "npm ci")


def test_map_window_by_city_days(cli_env, tmp_path):
    r = run("map", "hotspots", "--out", tmp_path / "h.html", "--since", "2026-01-01", "--until", "2026-06-01")
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("name, fmt, driver", [("g.gpkg", None, "GPKG"), ("g.geojson", None, "GeoJSON"),
                                               ("g.json", "geojson", "GeoJSON")])
def test_export_takes_its_format_from_the_file_name(cli_env, tmp_path, name, fmt, driver):
    import pyogrio

    out = tmp_path / name
    r = run("grids", "export", "--out", out, *(["--format", fmt] if fmt else []))
    assert r.exit_code == 0, r.output
    assert pyogrio.read_info(out)["driver"] == driver and pyogrio.read_info(out)["features"] == SMALL_GRIDS


def test_export_refuses_a_format_the_name_contradicts(cli_env, tmp_path):
    clean_failure(run("grids", "export", "--out", tmp_path / "g.gpkg", "--format", "geojson"),
                  "--format geojson does not match", "g.geojson")
    clean_failure(run("grids", "export", "--out", tmp_path / "grids.txt"), "cannot tell the format", ".gpkg")
    assert not list(tmp_path.iterdir())


def test_demo_load_refuses_to_delete_what_users_added(cli_env, engine, committed_reports):
    from geo.cityconfig import load_city_config
    from geo.models import ReportSource
    from geo.reports.intake import ReportInput
    from geo.reports.registration import submit_report

    with Session(engine) as s:
        lon, lat = s.execute(sa.select(sa.func.ST_X(Report.location), sa.func.ST_Y(Report.location)).limit(1)).one()
        rid = uuid.uuid4()
        committed_reports.append(rid)
        now = datetime.now(UTC)
        submit_report(s, item=ReportInput(id=rid, category="30", description="a citizen's report",
                                          source=ReportSource.citizen, x=lon, y=lat,
                                          reported_at=now - timedelta(minutes=1)), config=load_city_config(), now=now)
        s.commit()
        before = s.scalar(sa.select(sa.func.count()).select_from(Report))
    for args in (["--small", "--force"], ["--small", "--reports", "10"], ["--reports", "10"], ["--province"]):
        clean_failure(run("demo", "load", *args), "1 reports filed since the demo was loaded",
                      "trail entries", "--yes", "pg_dump")
    clean_failure(run("demo", "load", "--small", "--province"), "exclude each other")
    with Session(engine) as s:
        assert s.get(Report, rid) is not None
        assert s.scalar(sa.select(sa.func.count()).select_from(Report)) == before


def test_demo_load_replaces_demo_data_and_with_yes_everything(tmp_path, monkeypatch, scratch_database):
    """In a database of its own: a demo replaces a demo freely; a user's report only with --yes."""
    from fixtures.city import CitySpec
    from fixtures.load import WouldDelete, foreign_data, load_demo
    from geo.cityconfig import load_city_config
    from geo.models import ReportSource
    from geo.reports.intake import ReportInput
    from geo.reports.registration import submit_report

    spec = CitySpec(district_codes=("211102",), n_streets=2, n_communities=4, n_grids=8)
    engine = sa.create_engine(scratch_database)
    try:
        load_demo(engine, spec=spec, n_reports=50)
        assert not load_demo(engine, spec=spec, n_reports=60).skipped  # demo over demo: nothing to ask
        with Session(engine) as s:
            lon, lat = s.execute(sa.select(sa.func.ST_X(Report.location), sa.func.ST_Y(Report.location)).limit(1)).one()
            now = datetime.now(UTC)
            submit_report(s, item=ReportInput(id=uuid.uuid4(), category="30", description="mine",
                                              source=ReportSource.citizen, x=lon, y=lat,
                                              reported_at=now - timedelta(minutes=1)),
                          config=load_city_config(), now=now)
            s.commit()
        with engine.connect() as conn:
            assert foreign_data(conn) == {"reports filed since the demo was loaded": 1,
                                          "trail entries since (transitions, photos, ratings)": 2}
        with pytest.raises(WouldDelete):
            load_demo(engine, spec=spec, n_reports=60, force=True)
        assert load_demo(engine, spec=spec, n_reports=60, force=True, replace_foreign=True).counts["reports"] == 60
        with Session(engine) as s:
            assert s.scalar(sa.select(sa.func.count()).select_from(Report)) == 60
    finally:
        engine.dispose()


def test_an_unexpected_error_is_one_line_and_a_next_step(monkeypatch, capsys):
    import cli.main

    def broken():
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(cli.main, "app", broken)
    monkeypatch.delenv("GRIDMAP_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exited:
        cli.main.main()
    err = " ".join(capsys.readouterr().err.split())
    assert exited.value.code == 1 and "Traceback" not in err
    assert "unexpected RuntimeError: boom" in err and "second line" not in err and "GRIDMAP_DEBUG=1" in err
    monkeypatch.setenv("GRIDMAP_DEBUG", "1")
    with pytest.raises(RuntimeError):  # asked for: the traceback, for a bug report
        cli.main.main()


def test_match_a_geoparquet_without_a_crs_is_read_as_crs84(cli_env, tmp_path):
    path = tmp_path / "no_crs.parquet"
    gpd.GeoDataFrame(geometry=[Point(122.0, 41.0)]).to_parquet(path)  # "crs": null in its metadata
    r = run("match", "--in", path, "--out", tmp_path / "m.parquet")
    assert r.exit_code == 0, r.output
