"""Concurrent retries of one report id create exactly one report (committed data, real threads)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.cityconfig import load_city_config
from geo.errors import IdempotencyConflict
from geo.models import Report, ReportEvent, ReportSource
from geo.reports.intake import ReportInput
from geo.reports.registration import submit_report

THREADS = 8


REPORTED_AT = datetime.now(UTC) - timedelta(minutes=1)


def _item(rid: uuid.UUID, lon: float, lat: float, description: str = "井盖缺失") -> ReportInput:
    return ReportInput(id=rid, category="30", subcategory="3006", description=description, source=ReportSource.citizen,
                       x=lon, y=lat, reported_at=REPORTED_AT)


def test_concurrent_retries_create_one_report(engine, small_city, committed_reports):
    with Session(engine) as s:
        lon, lat = s.execute(sa.select(sa.func.ST_X(Report.location), sa.func.ST_Y(Report.location)).limit(1)).one()
    rid = uuid.uuid4()
    committed_reports.append(rid)
    config = load_city_config()
    barrier = threading.Barrier(THREADS)
    outcomes: list[object] = []

    def worker(description: str) -> None:
        with Session(engine) as session:
            barrier.wait()
            try:
                result = submit_report(session, item=_item(rid, lon, lat, description), config=config,
                                       now=datetime.now(UTC))
                session.commit()
                outcomes.append(result.created)
            except IdempotencyConflict:
                session.rollback()
                outcomes.append("conflict")

    threads = [threading.Thread(target=worker, args=("井盖缺失",)) for _ in range(THREADS - 1)]
    threads.append(threading.Thread(target=worker, args=("另一个描述",)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    with Session(engine) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Report).where(Report.id == rid)) == 1
        events = s.scalar(sa.select(sa.func.count()).select_from(ReportEvent).where(ReportEvent.report_id == rid))
        winner_description = s.scalar(sa.select(Report.description).where(Report.id == rid))
    assert events == 2
    assert outcomes.count(True) == 1
    # Every other request either replayed the original or, with a different body, was refused.
    if winner_description == "井盖缺失":
        assert sorted(map(str, outcomes)) == sorted(["True"] + ["False"] * (THREADS - 2) + ["conflict"])
    else:
        assert outcomes.count("conflict") == THREADS - 1


def test_trail_is_append_only(db, small_city):
    event_id = db.scalar(sa.select(ReportEvent.id).limit(1))
    if event_id is None:  # the demo load writes no events; make one through intake
        lon, lat = db.execute(sa.select(sa.func.ST_X(Report.location), sa.func.ST_Y(Report.location)).limit(1)).one()
        submit_report(db, item=_item(uuid.uuid4(), lon, lat), config=load_city_config(), now=datetime.now(UTC))
        event_id = db.scalar(sa.select(ReportEvent.id).limit(1))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with db.begin_nested():
            db.execute(sa.update(ReportEvent).where(ReportEvent.id == event_id).values(note="rewritten"))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with db.begin_nested():
            db.execute(sa.delete(ReportEvent).where(ReportEvent.id == event_id))
