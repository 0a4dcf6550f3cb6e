"""A row Python cannot read (a time before year 1, stored before the rules existed) spoils
only itself: escalation and the live feed go on for every other case (hardening, defect 2)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from geo.analytics.mapdata import live_reports
from geo.cityconfig import load_city_config
from geo.models import Report, ReportSource
from geo.reports.intake import ReportInput
from geo.reports.registration import submit_batch
from geo.reports.workflow import escalate_overdue
from tests.api.report_helpers import INSIDE_G1


def _file(db, n: int, now: datetime) -> list[uuid.UUID]:
    items = [ReportInput(id=uuid.uuid4(), category="30", description=f"case {i}", source=ReportSource.citizen,
                         x=INSIDE_G1[0], y=INSIDE_G1[1], reported_at=now) for i in range(n)]
    outcomes = submit_batch(db, items=list(enumerate(items)), config=load_city_config(), now=now)
    assert all(o.created for o in outcomes)
    return [i.id for i in items]


def _spoil(db, rid: uuid.UUID) -> None:
    # What intake accepted before this release: 0001-01-01T00:00:00+14:00 is 1 BC in UTC.
    db.execute(sa.text("UPDATE reports SET due_at = '0001-01-01 00:00:00+14' WHERE id = :id"), {"id": rid})


def test_escalation_skips_an_unreadable_case_and_moves_the_others(db, tiny):
    now = datetime.now(UTC)
    ids = _file(db, 4, now)
    _spoil(db, ids[1])
    with pytest.raises(sa.exc.DataError):  # the row really cannot be read back
        with db.begin_nested():
            db.execute(sa.select(Report.due_at).where(Report.id == ids[1])).all()
    run = escalate_overdue(db, config=load_city_config(), now=now + timedelta(days=30))
    assert run.failed == [ids[1]]
    assert run.moved >= 3  # the other three (and any open case of the session's city)
    levels = dict(db.execute(sa.select(Report.id, Report.escalation_level).where(Report.id.in_(ids))).all())
    assert [levels[i] for i in ids] == [1, 0, 1, 1]


def test_the_live_feed_serves_every_readable_case(db, tiny):
    now = datetime.now(UTC)
    ids = _file(db, 3, now - timedelta(minutes=1))
    _spoil(db, ids[0])
    features = live_reports(db, now=now, window=timedelta(hours=1))
    got = {f["id"] for f in features}
    assert {str(i) for i in ids} <= got  # the spoiled case keeps its readable fields
    assert all(f["properties"]["reported_at"] for f in features)


def test_intake_times_are_readable_by_construction(db, tiny):
    """The database itself refuses a reported_at outside 1900–2200 (migration 0008)."""
    rid = _file(db, 1, datetime.now(UTC))[0]
    with pytest.raises(sa.exc.IntegrityError, match="reported_at_readable"):
        with db.begin_nested():
            db.execute(sa.text("UPDATE reports SET reported_at = '0001-01-01 00:00:00+14' WHERE id = :id"), {"id": rid})
