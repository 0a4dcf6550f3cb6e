"""gridmap reports archive: every report by month, a re-run writes nothing, foreign folders refused."""

from __future__ import annotations

import json

import sqlalchemy as sa
from typer.testing import CliRunner

from cli.main import app
from geo.archive.layout import month_paths, months, read_meta, read_month
from geo.models import Report


def _said(result) -> str:
    return " ".join(result.output.split())


def test_archive_then_nothing_to_do(tmp_path, monkeypatch, database_url, engine, small_city):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)
    with engine.connect() as conn:
        total = conn.scalar(sa.select(sa.func.count()).select_from(Report))
    out = tmp_path / "archive"
    r = CliRunner().invoke(app, ["reports", "archive", "--out", str(out)])
    assert r.exit_code == 0, r.output
    n = len(months(out))
    assert n and f"wrote {n} month(s) ({total:,} reports), 0 unchanged; watermark" in _said(r)
    assert sum(len(read_month(out, m)) for m in months(out)) == total == sum(read_meta(out).months.values())
    assert len(month_paths(out)) == n and "reporter_phone" not in read_month(out, months(out)[0])

    r = CliRunner().invoke(app, ["reports", "archive", "-o", str(out)])
    assert r.exit_code == 0 and f"wrote 0 month(s) (0 reports), {n} unchanged" in _said(r), r.output


def test_archive_refuses_folders_it_did_not_write(tmp_path, monkeypatch, database_url):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)
    other = tmp_path / "other"
    other.mkdir()
    (other / "archive.json").write_text(json.dumps({"timezone": "Europe/Berlin", "watermark": 5, "format": 1,
                                                    "months": {}, "city": "Berlin"}))
    papers = tmp_path / "papers"
    papers.mkdir()
    (papers / "thesis.pdf").write_bytes(b"%PDF")
    future = tmp_path / "future"
    future.mkdir()
    (future / "archive.json").write_text(json.dumps({"timezone": "Asia/Shanghai", "format": 2}))
    for folder, says in ((other, "is the archive of Berlin in Europe/Berlin"), (papers, "is not an archive"),
                         (future, "archive format 2")):
        r = CliRunner().invoke(app, ["reports", "archive", "--out", str(folder)])
        assert r.exit_code == 1 and says in _said(r) and "give another folder" in _said(r), r.output
    assert [p.name for p in papers.iterdir()] == ["thesis.pdf"]
