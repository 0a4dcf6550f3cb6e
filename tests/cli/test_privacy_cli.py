"""gridmap privacy anonymise|forget|purge-audit on a database of the test's own (they commit)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cli.main import app
from geo.cityconfig import load_city_config
from geo.models import AuditEvent, Report, ReportSource
from geo.reports.intake import ReportInput
from geo.reports.registration import submit_report
from geo.reports.workflow import apply_transition
from tests.tiny_city import add_workers, build_tiny_city

NOW = datetime.now(UTC)
CONFIG = load_city_config()
PHONE = "13700024680"


@pytest.fixture()
def city(scratch_database, monkeypatch):
    """The tiny city with four cases: closed 200 and 20 days ago, rejected 300 days ago, and
    one open; the open one and the one closed 20 days ago have the reporter PHONE."""
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", scratch_database)
    monkeypatch.setenv("COLUMNS", "200")
    engine = sa.create_engine(scratch_database)
    ids = {}
    with Session(engine) as s:
        build_tiny_city(s)
        add_workers(s)
        for name, days, path, phone in (("old", 200, ("start", "resolve", "close"), "13900000001"),
                                        ("recent", 20, ("start", "resolve", "close"), PHONE),
                                        ("rejected", 300, ("reject",), "13900000002"), ("open", 1, (), PHONE)):
            at = NOW - timedelta(days=days)
            item = ReportInput(category="30", subcategory="3001", description="垃圾", source=ReportSource.citizen,
                               x=116.405, y=39.915, reported_at=at - timedelta(minutes=5), reporter_name="王小明",
                               reporter_phone=phone, id=uuid.uuid4())
            ids[name] = submit_report(s, item=item, config=CONFIG, now=at).report_id
            for i, action in enumerate(path, 1):
                apply_transition(s, report_id=ids[name], action=action, actor="t", config=CONFIG,
                                 now=at + timedelta(minutes=i))
        s.execute(sa.insert(AuditEvent).values(role="admin", holder="t", action="test.old", at=NOW - 1200 * timedelta(days=1)))
        s.commit()
    yield engine, ids
    engine.dispose()


def run(*args, stdin: str | None = None):
    return CliRunner().invoke(app, list(args), input=stdin)


def phones(engine) -> dict:
    with engine.connect() as c:
        return dict(c.execute(sa.select(Report.id, Report.reporter_phone)).all())


def test_anonymise_forget_and_purge_the_audit(city):
    engine, ids = city
    before = phones(engine)
    dry = run("privacy", "anonymise")
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.output and ": 2" in dry.output and "closed" in dry.output and "rejected" in dry.output
    assert phones(engine) == before

    done = run("privacy", "anonymise", "--apply")
    assert done.exit_code == 0, done.output
    assert "anonymised 2 case(s)" in done.output
    after = phones(engine)
    assert after[ids["old"]] is None and after[ids["rejected"]] is None
    assert after[ids["recent"]] == PHONE and after[ids["open"]] == PHONE

    dry = run("privacy", "forget", "--phone", "+86 137 0002 4680")
    assert dry.exit_code == 0 and "2 case(s)" in dry.output and "dry run" in dry.output
    assert str(ids["open"]) in dry.output and phones(engine) == after
    forgot = run("privacy", "forget", "--phone", "-", "--apply", stdin=PHONE + "\n")
    assert forgot.exit_code == 0, forgot.output
    assert "deleted" in forgot.output and PHONE not in forgot.output
    assert set(phones(engine).values()) == {None}
    with engine.connect() as c:
        detail = c.scalar(sa.select(AuditEvent.detail).where(AuditEvent.action == "privacy.forget"))
    assert detail["cases"] == 2 and PHONE[3:] not in str({k: v for k, v in detail.items() if k != "report_ids"})

    assert run("privacy", "forget", "--phone", "12").exit_code == 1  # not a phone: says so

    dry = run("privacy", "purge-audit")
    assert dry.exit_code == 0 and "(1095 days): 1" in dry.output
    purged = run("privacy", "purge-audit", "--apply")
    assert purged.exit_code == 0 and "deleted 1 audit row(s)" in purged.output
    with engine.connect() as c:
        assert c.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.action == "test.old")) == 0
        assert c.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.action == "audit.purge")) == 1
