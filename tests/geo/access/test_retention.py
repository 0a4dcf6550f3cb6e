"""Retention of personal data on the tiny city (real PostGIS): anonymisation after the cases
ended, a reporter's request to be forgotten, and the audit's own retention."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from geo.access.retention import anonymise, forget_reporter, purge_audit, run_retention
from geo.access.roles import Principal, Role
from geo.cityconfig import load_city_config
from geo.errors import InvalidInput
from geo.models import AreaLevel, AuditEvent, Report, ReportEvent, ReportSource
from geo.reports.intake import ReportInput
from geo.reports.queries import area_stats
from geo.reports.registration import submit_report
from geo.reports.workflow import apply_transition, rate
from tests.tiny_city import FRAME

CONFIG = load_city_config()
NOW = datetime.now(UTC)
DAY = timedelta(days=1)
ADMIN = Principal(Role.admin, holder="test")


def phone() -> str:
    return f"137{random.randrange(10**8):08d}"


def case(db, *, at: datetime, path=(), reporter_phone: str | None = None, name: str | None = "王小明",
         description: str = "小区门口垃圾堆积", note: str | None = None, duplicate_of=None) -> uuid.UUID:
    """A report in grid 001 registered at ``at`` (dispatched to its worker), then taken along
    ``path`` one minute apart; returns its id."""
    item = ReportInput(category="30", subcategory="3001", description=description, source=ReportSource.citizen,
                       x=116.405, y=39.915, reported_at=at - timedelta(minutes=5), reporter_name=name,
                       reporter_phone=reporter_phone or phone(), id=uuid.uuid4())
    rid = submit_report(db, item=item, config=CONFIG, now=at).report_id
    for i, action in enumerate(path, 1):
        apply_transition(db, report_id=rid, action=action, actor="李网格员", config=CONFIG, now=at + i * timedelta(minutes=1),
                         note=note, duplicate_of=duplicate_of if action == "mark_duplicate" else None)
    return rid


def reporter(db, rid):
    db.expire_all()
    r = db.get(Report, rid)
    return r.reporter_name, r.reporter_phone, r.request_hash


def tiny_figures(db, generation: int):
    """Every statistic of the tiny city, and its trail, to compare before and after."""
    box = sa.func.ST_MakeEnvelope(*FRAME, 4326)
    in_tiny = sa.func.ST_Intersects(Report.location, box)
    stats = [area_stats(db, level=lvl, generation=generation, now=NOW) for lvl in (AreaLevel.grid, AreaLevel.district)]
    counts = db.execute(sa.select(Report.status, sa.func.count(), sa.func.sum(Report.rating))
                        .where(in_tiny).group_by(Report.status).order_by(Report.status)).all()
    trail = db.execute(sa.select(ReportEvent.id, ReportEvent.action, ReportEvent.at, ReportEvent.data, ReportEvent.note)
                       .join(Report, Report.id == ReportEvent.report_id).where(in_tiny).order_by(ReportEvent.id)).all()
    return stats, counts, trail


@pytest.fixture()
def clean(db):
    """Whatever the session's database already holds that is due (the small city's history) is
    anonymised first, inside the test's rolled-back transaction, so the counts are the test's."""
    anonymise(db, config=CONFIG, now=NOW, apply=True)
    return db


def test_anonymise_removes_reporters_of_cases_ended_long_ago_only(clean, tiny):
    db = clean
    closed_old = case(db, at=NOW - 200 * DAY, path=("start", "resolve", "close"))
    rate(db, report_id=closed_old, rating=5, comment="很快", now=NOW - 199 * DAY)
    closed_recent = case(db, at=NOW - 100 * DAY, path=("start", "resolve", "close"))
    rejected_old = case(db, at=NOW - 200 * DAY, path=("reject",))
    duplicate_old = case(db, at=NOW - 200 * DAY, path=("mark_duplicate",), duplicate_of=closed_old)
    open_old = case(db, at=NOW - 300 * DAY)  # dispatched, never finished: kept, however old
    resolved_old = case(db, at=NOW - 300 * DAY, path=("start", "resolve"))  # awaiting verification: kept
    rejected_recent = case(db, at=NOW - 100 * DAY, path=("reject",))
    # A later write moves updated_at, not when the case ended: the trail's reject event decides.
    db.execute(sa.update(Report).where(Report.id == rejected_old).values(updated_at=NOW))
    # ...and the reverse: updated_at long ago does not make a recent rejection due.
    db.execute(sa.update(Report).where(Report.id == rejected_recent).values(updated_at=NOW - 400 * DAY))
    db.flush()
    due, kept = [closed_old, rejected_old, duplicate_old], [closed_recent, open_old, resolved_old, rejected_recent]
    before = {rid: reporter(db, rid) for rid in due + kept}
    figures = tiny_figures(db, tiny.generation)

    dry = anonymise(db, config=CONFIG, now=NOW)
    assert dry.by_status == {"closed": 1, "rejected": 1, "duplicate": 1} and not dry.applied and dry.done == 0
    assert {rid: reporter(db, rid) for rid in due + kept} == before  # a dry run changes nothing

    done = anonymise(db, config=CONFIG, now=NOW, apply=True, batch=2)  # two batches
    assert done.done == 3 and done.finished
    for rid in due:
        assert reporter(db, rid) == (None, None, None)
    for rid in kept:
        assert reporter(db, rid) == before[rid] and before[rid][1] is not None
    assert tiny_figures(db, tiny.generation) == figures  # counts, rates, ratings and the trail intact
    rows = db.scalars(sa.select(AuditEvent).where(AuditEvent.action == "privacy.anonymise")
                      .order_by(AuditEvent.id.desc()).limit(2)).all()
    assert sorted(r.detail["cases"] for r in rows) == [1, 2]
    assert anonymise(db, config=CONFIG, now=NOW).due == 0  # nothing left to do


def test_the_periodic_job_stops_at_its_share_and_comes_back(clean, tiny):
    db = clean
    ids = [case(db, at=NOW - 200 * DAY, path=("reject",)) for _ in range(3)]
    first = run_retention(db, config=CONFIG, now=NOW, max_rows=2)
    assert first.anonymised == 2 and not first.finished
    second = run_retention(db, config=CONFIG, now=NOW, max_rows=2)
    assert second.anonymised == 1 and second.finished
    assert all(reporter(db, rid)[:2] == (None, None) for rid in ids)


def test_forget_one_reporter_everywhere_without_keeping_the_phone(db, tiny):
    number = phone()
    spaced = f"{number[:3]} {number[3:7]} {number[7:]}"
    mine = [
        case(db, at=NOW - 2 * DAY, reporter_phone=number),  # open
        case(db, at=NOW - 10 * DAY, reporter_phone=spaced, path=("start", "resolve", "close"),
             description=f"请回电 {number}"),
        case(db, at=NOW - 400 * DAY, reporter_phone=f"+86 {number}", path=("reject",), note=f"已电话联系 {number}"),
    ]
    other = case(db, at=NOW - 2 * DAY, reporter_phone=phone(), description=f"邻居电话 {number}")
    figures = tiny_figures(db, tiny.generation)

    dry = forget_reporter(db, phone=number, actor=ADMIN, now=NOW)
    assert sorted(dry.report_ids) == sorted(mine) and not dry.applied
    assert dry.by_status == {"dispatched": 1, "closed": 1, "rejected": 1} and dry.texts == 1
    assert len(dry.trail_notes) == 1  # the reject event's note
    assert all(reporter(db, rid)[1] is not None for rid in mine)

    done = forget_reporter(db, phone=f"+86-{number}", actor=ADMIN, now=NOW, apply=True)
    db.flush()
    assert sorted(done.report_ids) == sorted(mine)
    for rid in mine:
        assert reporter(db, rid) == (None, None, None)
    assert db.get(Report, mine[1]).description == "请回电 [已删除]"
    assert reporter(db, other)[1] is not None  # another reporter keeps theirs...
    assert number in db.get(Report, other).description  # ...and their text: not the requester's case
    stats, counts, trail = tiny_figures(db, tiny.generation)
    assert (stats, counts) == figures[:2] and [e.id for e in trail] == [e.id for e in figures[2]]
    assert any(e.note and number in e.note for e in trail)  # the append-only trail is kept as it was

    event = db.scalars(sa.select(AuditEvent).where(AuditEvent.action == "privacy.forget")
                       .order_by(AuditEvent.id.desc()).limit(1)).one()
    assert event.detail["cases"] == 3 and sorted(event.detail["report_ids"]) == sorted(map(str, mine))
    written = json.dumps([{k: v for k, v in event.detail.items() if k != "report_ids"}, event.subject_id,
                          event.holder, event.action], ensure_ascii=False)
    assert number[3:] not in written.replace(" ", "").replace("-", "")  # the phone, in no form
    assert forget_reporter(db, phone=number, actor=ADMIN, now=NOW).report_ids == []  # nothing left
    with pytest.raises(InvalidInput) as err:
        forget_reporter(db, phone="12-3", actor=ADMIN, now=NOW)
    assert err.value.details["field"] == "phone"


def test_audit_retention_deletes_only_old_rows_through_the_trigger(db, tiny):
    old = db.scalar(sa.insert(AuditEvent).values(role="admin", holder="test", action="test.old",
                                                 at=NOW - 1200 * DAY, detail={}).returning(AuditEvent.id))
    kept = db.scalar(sa.insert(AuditEvent).values(role="admin", holder="test", action="test.kept",
                                                  at=NOW - 1000 * DAY, detail={}).returning(AuditEvent.id))
    recent = db.scalar(sa.insert(AuditEvent).values(role="admin", holder="test", action="test.recent",
                                                    at=NOW - 10 * DAY, detail={}).returning(AuditEvent.id))
    dry = purge_audit(db, config=CONFIG, now=NOW)
    assert dry.due >= 1 and db.get(AuditEvent, old) is not None

    # Without the retention's declaration, or for rows younger than it, the audit stays append-only.
    for statement in (sa.delete(AuditEvent).where(AuditEvent.id == old),
                      sa.update(AuditEvent).where(AuditEvent.id == old).values(holder="x")):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.begin_nested():
            db.execute(statement)
    for cutoff, victim in ((NOW - 1100 * DAY, recent), (NOW - DAY, recent), (NOW - DAY, old)):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.begin_nested():
            db.execute(sa.select(sa.func.set_config("gridmap.audit_retention_cutoff", cutoff.isoformat(), True)))
            db.execute(sa.delete(AuditEvent).where(AuditEvent.id == victim))  # too young, or a cutoff too recent
    db.execute(sa.select(sa.func.set_config("gridmap.audit_retention_cutoff", "", True)))

    done = purge_audit(db, config=CONFIG, now=NOW, apply=True, batch=1)
    assert done.deleted == dry.due and done.finished
    db.expire_all()
    assert db.get(AuditEvent, old) is None
    assert db.get(AuditEvent, kept) is not None and db.get(AuditEvent, recent) is not None
    purge = db.scalars(sa.select(AuditEvent).where(AuditEvent.action == "audit.purge")
                       .order_by(AuditEvent.id.desc()).limit(1)).one()
    assert purge.detail["deleted"] == done.deleted and purge.detail["audit_days"] == 1095
