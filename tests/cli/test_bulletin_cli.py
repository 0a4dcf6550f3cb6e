"""gridmap bulletin against the session's small city (committed; its reports end 2026-11-15)."""

from __future__ import annotations

import lxml.html
import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.conftest import STAFF

END = "2026-11-14"  # the week of 8–14 November 2026, against 1–7 November


@pytest.fixture()
def cli_env(monkeypatch, database_url, small_city):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)


def run(*args):
    return CliRunner().invoke(app, list(args))


def test_cli_writes_the_html_and_the_pdf(cli_env, tmp_path, client):
    r = run("bulletin", "--period", "week", "--end", END, "--out", str(tmp_path / "out"))
    assert r.exit_code == 0, r.output
    html, pdf = tmp_path / "out" / f"bulletin-week-{END}.html", tmp_path / "out" / f"bulletin-week-{END}.pdf"
    assert html.is_file() and pdf.is_file() and pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 20_000
    assert "2026-11-08 – 2026-11-14" in r.output
    page = lxml.html.fromstring(html.read_text(encoding="utf-8"))
    assert len(list(tmp_path.joinpath("out").iterdir())) == 2  # one file each: nothing beside it to copy
    # Self-contained: no script, stylesheet or image loaded from anywhere.
    assert not page.xpath("//script[@src] | //link[not(starts-with(@href, 'data:'))] | //img[@src]")
    # The small city's district, as the stats API counts it.
    api = client.get("/api/v1/stats", params={"level": "district", "since": "2026-11-08", "until": "2026-11-15"},
                     headers=STAFF).json()["areas"]
    row = page.xpath('//table[contains(@class,"gm-areas")]//tr[@data-code="211102"]')[0]
    total = next(a["total"] for a in api if a["code"] == "211102")
    assert total > 0 and row.xpath('.//td[contains(@class,"gm-n")]')[0].text_content() == str(total)
    assert len(page.xpath('//svg[contains(@class,"gm-chart")]')) == 5  # four groups' trends and the districts


def test_cli_refuses_bad_input(cli_env, tmp_path):
    r = run("bulletin", "--period", "year", "--out", str(tmp_path))
    assert r.exit_code == 1 and "--period" in r.output and "week, fortnight or month" in r.output
    r = run("bulletin", "--end", "2999-01-01", "--out", str(tmp_path))
    assert r.exit_code == 1 and "--end" in r.output and "before today" in r.output
    r = run("bulletin", "--end", "30/11/2026", "--out", str(tmp_path))
    assert r.exit_code == 1 and "not a date" in r.output
    assert not list(tmp_path.iterdir())
