"""gridmap reports export: the listing's filters, full records by default, --public the public ones."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cli.main import app
from geo.access.privacy import coarse_points
from geo.models import Report


def test_export_formats_and_filters(tmp_path, monkeypatch, database_url, engine, small_city):
    import pyogrio

    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)
    with Session(engine) as s:
        disputes = s.scalar(sa.select(sa.func.count()).select_from(Report).where(Report.category == "10"))
        dispatched = s.scalar(sa.select(sa.func.count()).select_from(Report).where(Report.status == "dispatched"))
    assert disputes and dispatched

    full = tmp_path / "disputes.csv"
    r = CliRunner().invoke(app, ["reports", "export", "--category", "disputes", "--out", str(full)])
    assert r.exit_code == 0, r.output
    assert f"wrote {disputes:,} report(s)" in " ".join(r.output.split())
    frame = pd.read_csv(full, dtype=str)
    assert len(frame) == disputes and (frame["category"] == "10").all() and "reporter_phone" in frame

    public = tmp_path / "disputes.parquet"
    r = CliRunner().invoke(app, ["reports", "export", "--public", "--category", "10", "-o", str(public)])
    assert r.exit_code == 0, r.output
    table = pq.read_table(public).to_pandas()
    assert "reporter_phone" not in table and table["description"].isna().all()
    assert (table["grid_code"].str.len() == 12).all()
    clon, clat = coarse_points(table["lon"], table["lat"])
    assert (clon == table["lon"]).all() and (clat == table["lat"]).all()  # at their cells' centres

    gpkg = tmp_path / "dispatched.gpkg"
    r = CliRunner().invoke(app, ["reports", "export", "--status", "dispatched", "--format", "gpkg", "-o", str(gpkg)])
    assert r.exit_code == 0, r.output
    assert len(pyogrio.read_dataframe(gpkg)) == dispatched and not list(tmp_path.glob(".*partial*"))


def test_export_refuses_what_it_cannot_do(tmp_path, monkeypatch, database_url):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)
    for args, says in ((["-o", str(tmp_path / "x.xlsx")], "cannot tell the format"),
                       (["-o", str(tmp_path / "x.csv"), "--status", "lost"], "--status 'lost' is not a state"),
                       (["-o", str(tmp_path / "x.csv"), "--bbox", "1,2"], "--bbox '1,2' is not 4 numbers"),
                       (["-o", str(tmp_path / "x.parquet"), "--excel"], "--excel: is for CSV only")):
        r = CliRunner().invoke(app, ["reports", "export", *args])
        assert r.exit_code == 1 and says in " ".join(r.output.split()), r.output
    assert not list(tmp_path.iterdir())
