"""gridmap reports import: every row registered or rejected with a reason; re-import adds nothing."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cli.main import app
from geo.maintenance import purge_reports
from geo.models import Report

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
        assert first.exit_code == 0, first.output
        assert "created 2" in first.output and "rejected 2" in first.output
        rejected = pd.read_csv(tmp_path / "hotline.rejected.csv")
        assert list(rejected["row"]) == [2, 3]
        assert "unknown category" in rejected["reason"][0] and "swapped" in rejected["reason"][1]
        again = CliRunner().invoke(app, ["reports", "import", str(path)])
        assert "created 0, already there 2" in again.output
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
