"""gridmap webhooks add|list|deliver|log|remove on the session's database (committed)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cli.main import app
from geo.cityconfig import load_city_config
from geo.models import Report, ReportSource, WebhookSubscription
from geo.reports.intake import ReportInput
from geo.reports.registration import submit_report
from tests.geo.webhooks.receiver import Receiver


@pytest.fixture()
def cli_env(monkeypatch, database_url, small_city, engine):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "250")
    yield
    with engine.begin() as conn:
        conn.execute(sa.delete(WebhookSubscription))


def run(*args):
    return CliRunner().invoke(app, list(args))


def test_add_deliver_log_and_remove(cli_env, engine, committed_reports):
    system = f"cli-{uuid.uuid4().hex[:6]}"
    with Receiver() as rx:
        r = run("webhooks", "add", "--system", system, "--url", rx.url)
        assert r.exit_code == 0, r.output
        hook = int(re.search(r"webhook (\d+) for", r.output).group(1))
        rx.secret = re.search(r"^(whsec_\S+)$", r.output, re.M).group(1)
        with Session(engine) as s:
            lon, lat = s.execute(sa.select(sa.func.ST_X(Report.location), sa.func.ST_Y(Report.location))
                                 .where(Report.grid_code.is_not(None)).limit(1)).one()
            item = ReportInput(category="30", description="", source=ReportSource.hotline_12345, x=lon, y=lat,
                               reported_at=datetime.now(UTC) - timedelta(minutes=1), filed_by=f"system:{system}")
            committed_reports.append(submit_report(s, item=item, config=load_city_config(),
                                                   now=datetime.now(UTC)).report_id)
            s.commit()
        r = run("webhooks", "deliver")
        assert r.exit_code == 0 and "delivered 2" in r.output, r.output
    assert [p.payload["action"] for p in rx.received] == ["register", "dispatch"] and all(
        p.verified for p in rx.received)
    listed = run("webhooks", "list")
    assert system in listed.output and "delivered 2" in listed.output and rx.secret not in listed.output
    log = run("webhooks", "log", str(hook))
    assert log.exit_code == 0 and log.output.count("│ delivered │") == 2, log.output
    pruned = run("webhooks", "prune", "--days", "1")
    assert pruned.exit_code == 0 and "deleted 0 deliveries" in pruned.output  # a day has not passed
    assert run("webhooks", "remove", str(hook)).exit_code == 0
    assert "removed" in run("webhooks", "list").output
    bad = run("webhooks", "add", "--system", system, "--url", "ftp://x.example/h")
    assert bad.exit_code == 1 and "http" in bad.output
    assert run("webhooks", "remove", "999999").exit_code == 1
