"""gridmap batch match / rematch / aggregate on a small archive of the session's city, through
--scheduler (a small in-process cluster started here), checked against the single-machine path."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cli.main import app
from tests.batch_archive import archive_from_database
from geo.batch.engine import archive_parts, batch_client
from geo.batch.match import single_machine
from geo.cityconfig import load_city_config
from geo.matching.matcher import matcher_for

TABLE = "batch_cli_test_matches"


@pytest.fixture(scope="module")
def scheduler():
    # Worker processes, as a real cluster has: an in-process (threaded) cluster that a second
    # client joins through --scheduler stalled now and then in the full suite.
    with batch_client(workers=1, processes=True, memory_limit="1GiB") as client:
        yield client.scheduler.address


@pytest.fixture()
def archive(tmp_path, monkeypatch, database_url, engine, small_city):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)
    root = tmp_path / "archive"
    with Session(engine) as s:
        archive_from_database(s, root, zone=load_city_config().timezone)
    return root


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_batch_match_writes_what_the_single_machine_path_gives(archive, tmp_path, scheduler, engine):
    out = tmp_path / "out"
    r = run("batch", "match", "--archive", archive, "--out", out, "--table", TABLE, "--scheduler", scheduler)
    try:
        assert r.exit_code == 0, r.output
        assert "matched" in r.output
        meta = json.loads((out / "matches.json").read_text())
        got = pd.concat([pq.read_table(p).to_pandas() for p in sorted(out.glob("month=*/part-0.parquet"))])
        assert sum(meta["months"].values()) == len(got) > 0
        with Session(engine) as s:
            gen, matcher = matcher_for(s)
            want = single_machine(s, parts=archive_parts(archive), matcher=matcher, generation=gen,
                                  snap_tolerance_m=load_city_config().snap_tolerance_m).to_pandas()
            stored = s.execute(sa.text(f"SELECT count(*) FROM {TABLE}")).scalar()
        cols = ["id", "grid_code", "match_kind", "snap_distance_m"]
        pd.testing.assert_frame_equal(got[cols].sort_values("id", ignore_index=True),
                                      want[cols].sort_values("id", ignore_index=True))
        assert stored == len(got)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {TABLE}"))


def test_batch_aggregate_checks_equal_to_postgis_and_rematch_dry_run(archive, tmp_path, scheduler):
    r = run("batch", "aggregate", "--archive", archive, "--check", "--out", tmp_path / "counts.parquet",
            "--scheduler", scheduler)
    assert r.exit_code == 0, r.output
    assert "DIFF 0" in r.output
    assert pd.read_parquet(tmp_path / "counts.parquet")["n"].sum() > 0
    r = run("batch", "rematch", "--archive", archive, "--out", tmp_path / "plan.parquet", "--scheduler", scheduler)
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "dry run" in text and ": 0 change grid" in text  # same generation: nothing moves
    assert pq.read_table(tmp_path / "plan.parquet").num_rows > 0


def test_batch_errors_say_what_to_do(tmp_path, monkeypatch, database_url):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)
    r = run("batch", "aggregate", "--archive", tmp_path)
    assert r.exit_code == 1 and "gridmap reports archive" in r.output
    r = run("batch", "match", "--archive", tmp_path)
    assert r.exit_code == 1 and "--out" in r.output
    r = run("batch", "match", "--archive", tmp_path, "--table", "reports")
    assert r.exit_code == 1 and "table of its own" in r.output


def test_an_unreachable_scheduler_says_how_to_start_one(tmp_path, monkeypatch, database_url):
    import dask

    from geo.archive.layout import ArchiveMeta, write_meta, write_month

    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)
    write_month(tmp_path, "2026-11", pd.DataFrame({"id": ["a"], "category": "30", "h3_cell": 0, "change_seq": 0,
                                                   "reported_at": pd.Timestamp("2026-11-02T00:00Z"),
                                                   "lon": [116.4], "lat": [39.9]}))
    write_meta(tmp_path, ArchiveMeta(timezone="Asia/Shanghai"))
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        r = run("batch", "aggregate", "--archive", tmp_path, "--scheduler", "tcp://127.0.0.1:9")
    assert r.exit_code == 1 and "dask scheduler" in r.output, r.output
