"""gridmap reports import: every row registered or rejected with a reason; re-import adds nothing."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cli.main import app
from geo.models import Report
from geo.reports.maintenance import purge_reports

MARK = "cli-import-test"


def test_import_csv_twice(tmp_path, monkeypatch, database_url, engine, small_city):
    with Session(engine) as s:
        (x1, y1), (x2, y2) = s.execute(
            sa.select(sa.func.ST_X(Report.location), sa.func.ST_Y(Report.location)).limit(2)
        ).all()
    path = tmp_path / "hotline.csv"
    pd.DataFrame([
        {"category": "30", "subcategory": "3001", "description": MARK, "lon": x1, "lat": y1, "reported_at": "2026-11-20T10:00:00+08:00"},
        {"category": "20", "subcategory": "", "description": MARK, "lon": x2, "lat": y2, "reported_at": "2026-11-20T11:00:00+08:00"},
        {"category": "99", "subcategory": "", "description": MARK, "lon": x2, "lat": y2, "reported_at": "2026-11-20T11:00:00+08:00"},
        {"category": "30", "subcategory": "", "description": MARK, "lon": y2, "lat": x2, "reported_at": "2026-11-20T11:00:00+08:00"},
    ]).to_csv(path, index=False)
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)
    try:
        first = CliRunner().invoke(app, ["reports", "import", str(path)])
        # Some rows were rejected: that is a failure the shell (and a cron job) must see.
        assert first.exit_code == 1, first.output
        out = " ".join(first.output.split())
        assert "created 2" in out and "2 of 4 row(s) rejected" in out and "Traceback" not in out
        rejected = pd.read_csv(tmp_path / "hotline.rejected.csv", dtype={"category": str})
        # Lines as an editor counts them: the header is line 1, the third row is line 4.
        assert list(rejected["row"]) == [4, 5]
        assert "unknown category" in rejected["reason"][0] and "swapped" in rejected["reason"][1]
        # The rejected rows themselves, to be fixed and imported again.
        assert list(rejected["category"]) == ["99", "30"] and (rejected["description"] == MARK).all()
        again = CliRunner().invoke(app, ["reports", "import", str(path)])
        assert "created 0, already there 2" in again.output and again.exit_code == 1
        with Session(engine) as s:
            assert s.scalar(sa.select(sa.func.count()).select_from(Report).where(Report.description == MARK)) == 2
    finally:
        with engine.begin() as conn:
            purge_reports(conn, where=Report.description == MARK)


def test_import_missing_columns(tmp_path, monkeypatch, database_url):
    path = tmp_path / "bad.csv"
    pd.DataFrame([{"what": 1}]).to_csv(path, index=False)
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)
    r = CliRunner().invoke(app, ["reports", "import", str(path)])
    assert r.exit_code == 1 and "lacks" in r.output and "category, lat, lon, reported_at" in " ".join(r.output.split())


def test_import_where_every_row_is_rejected_fails(tmp_path, monkeypatch, database_url, small_city):
    import geopandas as gpd
    from shapely.geometry import Point

    path = tmp_path / "all_bad.geojson"
    gpd.GeoDataFrame({"category": ["99", "98"], "reported_at": ["2026-11-20T10:00:00+08:00"] * 2},
                     geometry=[Point(122.0, 41.0), Point(122.0, 41.0)], crs=4326).to_file(path, driver="GeoJSON")
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)
    r = CliRunner().invoke(app, ["reports", "import", str(path)])
    assert r.exit_code == 1 and "2 of 2 row(s) rejected" in " ".join(r.output.split())
    # Features count from 1.
    assert list(pd.read_csv(tmp_path / "all_bad.rejected.csv")["row"]) == [1, 2]


def test_rejected_rows_can_be_fixed_and_imported_again(tmp_path, monkeypatch, database_url, engine, small_city):
    from geo.matching.coords import wgs84_to_gcj02

    with Session(engine) as s:
        lon, lat = s.execute(sa.select(sa.func.ST_X(Report.location), sa.func.ST_Y(Report.location)).limit(1)).one()
    x, y = (float(v) for v in wgs84_to_gcj02(lon, lat))
    path = tmp_path / "gcj.csv"
    # A description over two lines (quoted): the next record starts on line 4, not 3.
    path.write_text(
        "category,description,lon,lat,reported_at,id\n"
        f'30,"{MARK}\nsecond line",{x},{y},2026-11-20T10:00:00+08:00,\n'
        f"99,{MARK},{x},{y},2026-11-20T10:00:00+08:00,\n"
        f"30,{MARK},{x},{y},2026-11-20T10:00:00+08:00,not-a-uuid\n", encoding="utf-8")
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)
    try:
        r = CliRunner().invoke(app, ["reports", "import", str(path), "--crs", "gcj02"])
        assert r.exit_code == 1 and "Traceback" not in r.output, r.output
        rejected = pd.read_csv(tmp_path / "gcj.rejected.csv", dtype=str)
        assert list(rejected["row"]) == ["4", "5"]
        assert "unknown category" in rejected["reason"][0] and "not a UUID" in rejected["reason"][1]
        # The id it was given and the crs it is in travel with the row.
        assert list(rejected["crs"]) == ["gcj02", "gcj02"] and rejected["id"][0] != ""
        fixed = rejected.drop(columns=["row", "reason"]).assign(category="30", id=[rejected["id"][0], ""])
        fixed.to_csv(tmp_path / "fixed.csv", index=False)
        for _ in range(2):  # and a second time adds nothing
            again = CliRunner().invoke(app, ["reports", "import", str(tmp_path / "fixed.csv")])
            assert again.exit_code == 0, again.output
        with Session(engine) as s:
            ids = set(s.scalars(sa.select(Report.id).where(Report.description == MARK)))
            assert len(ids) == 2
            assert s.scalar(sa.select(sa.func.count()).select_from(Report).where(
                Report.description == MARK, Report.orig_crs == "gcj02")) == 2
            assert {str(i) for i in ids} >= {rejected["id"][0]}
    finally:
        with engine.begin() as conn:
            purge_reports(conn, where=Report.description.startswith(MARK))


def test_rematch_dry_run_stores_nothing(monkeypatch, database_url, engine, small_city):
    def state():
        with Session(engine) as s:
            return s.scalar(sa.select(sa.func.max(Report.updated_at))), s.scalar(sa.select(sa.func.count(Report.generation_id)))

    before = state()
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)
    r = CliRunner().invoke(app, ["reports", "rematch", "--dry-run"])
    out = " ".join(r.output.split())
    assert r.exit_code == 0, r.output
    # The city was matched to the active generation: nothing would move, and nothing was written.
    assert "dry run" in out and ", 0 would change grid" in out and "nothing was stored" in out
    assert state() == before


def test_import_geojson_and_parquet_with_content_derived_ids(tmp_path, monkeypatch, database_url, engine, small_city):
    import hashlib
    import uuid

    import geopandas as gpd
    from shapely.geometry import Point

    with Session(engine) as s:
        points = s.execute(sa.select(sa.func.ST_X(Report.location), sa.func.ST_Y(Report.location)).limit(3)).all()
    frame = gpd.GeoDataFrame({"category": ["30", "20", "30"], "description": [f"{MARK}-fmt"] * 3,
                              "reported_at": ["2026-11-20T10:00:00+08:00"] * 3},
                             geometry=[Point(x, y) for x, y in points], crs=4326)
    paths = [tmp_path / "r.geojson", tmp_path / "r.parquet", tmp_path / "plain.parquet"]
    frame.to_file(paths[0], driver="GeoJSON")
    frame.assign(description=f"{MARK}-fmt geo").to_parquet(paths[1])
    # Plain Parquet: lon/lat columns in a projected crs the file names per row.
    from pyproj import Transformer

    xs, ys = Transformer.from_crs(4326, 4547, always_xy=True).transform([p[0] for p in points], [p[1] for p in points])
    pd.DataFrame({"category": ["30"] * 3, "description": [f"{MARK}-fmt plain"] * 3, "lon": xs, "lat": ys,
                  "crs": ["EPSG:4547"] * 3, "reported_at": ["2026-11-20T10:00:00+08:00"] * 3}).to_parquet(paths[2])
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)
    try:
        for path in paths:
            r = CliRunner().invoke(app, ["reports", "import", str(path)])
            assert r.exit_code == 0 and "created 3" in r.output, r.output
            again = CliRunner().invoke(app, ["reports", "import", str(path)])
            assert again.exit_code == 0 and "created 0, already there 3" in again.output, again.output
            # The ids of rows without one are what the import has always given them (a file
            # imported before re-imports as "already there").
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            namespace = uuid.UUID("1d9c7a58-6a0e-4a53-8f0b-9d3f0e2b4c61")
            with Session(engine) as s:
                stored = set(s.scalars(sa.select(Report.id).where(Report.id.in_(
                    [uuid.uuid5(namespace, f"{digest}:{i}") for i in range(3)]))))
            assert len(stored) == 3
        with Session(engine) as s:
            plain = s.execute(sa.select(sa.func.ST_X(Report.location), sa.func.ST_Y(Report.location), Report.orig_crs)
                              .where(Report.description == f"{MARK}-fmt plain").order_by(Report.orig_x)).all()
        assert {c for *_, c in plain} == {"EPSG:4547"}
        for (x, y, _), (px, py) in zip(plain, sorted(points, key=lambda p: xs[points.index(p)])):
            assert abs(x - px) < 1e-7 and abs(y - py) < 1e-7
    finally:
        with engine.begin() as conn:
            purge_reports(conn, where=Report.description.startswith(f"{MARK}-fmt"))


def test_a_reused_id_with_another_body_is_rejected(tmp_path, monkeypatch, database_url, engine, small_city):
    with Session(engine) as s:
        rid, x, y = s.execute(sa.select(Report.id, sa.func.ST_X(Report.location), sa.func.ST_Y(Report.location))
                              .limit(1)).one()
    path = tmp_path / "reuse.csv"
    pd.DataFrame([{"id": str(rid), "category": "30", "description": f"{MARK}-reuse", "lon": x, "lat": y,
                   "reported_at": "2026-11-20T10:00:00+08:00"}]).to_csv(path, index=False)
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)
    r = CliRunner().invoke(app, ["reports", "import", str(path)])
    assert r.exit_code == 1 and "created 0, already there 0, rejected 1" in r.output, r.output
    rejected = pd.read_csv(tmp_path / "reuse.rejected.csv", dtype=str)
    assert list(rejected["row"]) == ["2"] and "different body" in rejected["reason"][0]
    assert rejected["id"][0] == str(rid)
