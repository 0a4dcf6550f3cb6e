"""gridmap db migrate, demo verify and grids export against the session's test database."""

from __future__ import annotations

import geopandas as gpd
import pytest
from typer.testing import CliRunner

from cli.main import app


@pytest.fixture()
def cli_env(monkeypatch, database_url, small_city):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)


def run(*args):
    return CliRunner().invoke(app, list(args))


def test_migrate_is_idempotent(cli_env):
    r = run("db", "migrate")
    assert r.exit_code == 0 and "schema at revision" in r.output and "was" not in r.output


def test_demo_verify(cli_env):
    r = run("demo", "verify")
    assert r.exit_code == 0, r.output
    assert "120 grid" in r.output and "no gaps, no overlaps" in r.output


def test_demo_verify_names_department_contacts_that_are_no_workers(cli_env, monkeypatch, tmp_path):
    city = tmp_path / "city.toml"
    city.write_text('[[departments]]\ncode = "roads"\nname_zh = "道路处"\nname_en = "Roads"\n'
                    'contact = "NOBODY-DESK"\nescalation = ["NOBODY-UP"]\n', encoding="utf-8")
    monkeypatch.setenv("GRIDMAP_CITY_CONFIG", str(city))
    r = run("demo", "verify")
    assert r.exit_code == 0, r.output  # a finding, not a failure
    assert "department roads: the desk contact staff_no 'NOBODY-DESK'" in r.output
    assert "NOBODY-UP" in r.output and "no gaps, no overlaps" in r.output


@pytest.mark.parametrize(("fmt", "suffix"), [("geojson", "geojson"), ("gpkg", "gpkg")])
def test_grids_export(cli_env, tmp_path, fmt, suffix):
    out = tmp_path / f"grids.{suffix}"
    r = run("grids", "export", "--format", fmt, "--out", str(out))
    assert r.exit_code == 0, r.output
    frame = gpd.read_file(out)
    assert len(frame) == 120 and frame.crs.to_epsg() == 4326
    assert {"code", "name", "level", "parent_code", "households", "kind", "generation"} <= set(frame.columns)
    assert frame["code"].str.len().eq(15).all() and frame.is_valid.all()
    communities = tmp_path / "communities.geojson"
    assert run("grids", "export", "--level", "community", "--out", str(communities)).exit_code == 0
    assert len(gpd.read_file(communities)) == 20


def test_export_bad_level_and_unreachable_database(cli_env, tmp_path, monkeypatch):
    r = run("grids", "export", "--level", "planet", "--out", str(tmp_path / "x.geojson"))
    assert r.exit_code == 1 and "unknown level" in r.output
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    r = run("db", "migrate")
    assert r.exit_code == 1 and "make db" in r.output
