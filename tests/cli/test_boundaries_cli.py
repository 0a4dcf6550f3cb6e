"""The README's planner walkthrough on the one-district city, in a database of its own:
export → import → check → diff → assign → activate → history, the broken redraw refused,
and an export imported back changing nothing."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cli.main import app
from geo.models import AuditEvent, Generation, GenerationStatus, Report


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture()
def city_db(scratch_database, monkeypatch):
    from fixtures.city import SMALL_CITY
    from fixtures.load import load_demo

    engine = sa.create_engine(scratch_database)
    load_demo(engine, spec=SMALL_CITY,
              n_reports=3000)
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", scratch_database)
    yield engine
    engine.dispose()


def test_the_planner_walkthrough(city_db, tmp_path):
    exported = tmp_path / "grids.gpkg"
    assert run("boundaries", "export", "--out", exported).exit_code == 0
    r = run("boundaries", "import", exported, "--actor", "planner 王")
    assert r.exit_code == 0, r.output
    assert "0 added, 0 removed, 0 redrawn, 120 unchanged" in " ".join(r.output.split())
    r = run("boundaries", "diff", "--format", "json", "--out", tmp_path / "nodiff.json")
    counts = json.loads((tmp_path / "nodiff.json").read_text())["counts"]
    assert counts["areas"]["grid"] == {"unchanged": 120} and counts["open_cases_moving"] == 0
    assert run("boundaries", "discard", "--yes").exit_code == 0

    r = run("demo", "redraw", "--out", tmp_path)
    assert r.exit_code == 0, r.output
    r = run("boundaries", "import", tmp_path / "redraw-broken.gpkg")
    assert r.exit_code == 0, r.output
    r = run("boundaries", "check", "--format", "geojson", "--out", tmp_path / "problems.geojson")
    assert r.exit_code == 1
    kinds = {f["properties"]["kind"] for f in json.loads((tmp_path / "problems.geojson").read_text())["features"]}
    assert {"overlap", "gap"} <= kinds
    assert run("boundaries", "activate", "--commit").exit_code == 1  # refused: errors

    r = run("boundaries", "import", tmp_path / "redraw.gpkg", "--description", "demo redraw")
    assert r.exit_code == 0, r.output
    r = run("boundaries", "check")
    assert r.exit_code == 0, r.output
    assert "no_worker" in r.output  # the new halves have no worker yet: a warning
    r = run("boundaries", "diff", "--format", "json", "--out", tmp_path / "diff.json")
    diff = json.loads((tmp_path / "diff.json").read_text())
    grid = diff["counts"]["areas"]["grid"]
    assert (grid["added"], grid["removed"], grid["reshaped"]) == (3, 1, 6)
    assert len(diff["grids_without_worker"]) == 3
    assert run("boundaries", "activate", "--commit").exit_code == 1  # refused: no workers
    r = run("workers", "assign", tmp_path / "redraw-assignments.csv", "--actor", "planner 王")
    assert r.exit_code == 0, r.output
    r = run("boundaries", "activate")  # a dry run
    assert r.exit_code == 0 and "check passes" in r.output
    r = run("boundaries", "activate", "--commit", "--actor", "planner 王")
    assert r.exit_code == 0, r.output
    with city_db.connect() as conn:
        active = conn.scalar(sa.select(Generation.id).where(Generation.status == GenerationStatus.active))
        assert active == diff["new"]
        moved = [i for m in diff["case_moves"] for i in m["report_ids"]]
        moved_to = dict(conn.execute(sa.select(sa.cast(Report.id, sa.String), Report.grid_code)
                                     .where(sa.cast(Report.id, sa.String).in_(moved))).all())
        assert moved_to == {i: m["to"] for m in diff["case_moves"] for i in m["report_ids"]}
        actions = [a for (a,) in conn.execute(sa.select(AuditEvent.action).where(AuditEvent.holder == "planner 王"))]
        assert {"boundaries.import", "assignments.plan", "boundaries.activate"} <= set(actions)
    r = run("boundaries", "history")
    text = " ".join(r.output.split())
    assert r.exit_code == 0 and "demo redraw" in text and "by planner 王" in text and "demo loader" in text
    r = run("boundaries", "history", "--grid", diff["grids_without_worker"][0], "--json")
    assert r.exit_code == 0, r.output


def test_bad_files_say_which_feature_and_field(city_db, tmp_path):
    (tmp_path / "empty.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    r = run("boundaries", "import", tmp_path / "empty.zip")
    assert r.exit_code == 1
    exported = tmp_path / "grids.geojson"
    run("boundaries", "export", "--out", exported)
    r = run("boundaries", "import", exported, "--field", "code=WGBM")
    assert r.exit_code == 1 and "no field 'WGBM' for the code" in " ".join(r.output.split())
    r = run("boundaries", "import", exported, "--field", "colour=x")
    assert r.exit_code == 1 and "unknown target 'colour'" in r.output
    r = run("boundaries", "import", exported, "--crs", "EPSG:999999")
    assert r.exit_code == 1 and "EPSG:999999" in r.output
    with city_db.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(Generation)) == 1  # no draft was left
