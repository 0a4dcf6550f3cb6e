"""The duty rule and what reads it: routing (cover, backup, lead), escalation's lead, the
nearest on-duty workers, the stored flag's refresh. Tiny city (tests/tiny_city.py): grid i's
primary is T00i, its backup the next grid's worker; T002's flag is off; T100 leads."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from geo.cityconfig import CityConfig
from geo.errors import InvalidInput, RosterConflict
from geo.models import ExceptionKind, Report, ReportSource, Worker
from geo.reports.dispatch import nearest_on_duty
from geo.reports.intake import ReportInput
from geo.reports.registration import submit_batch
from geo.reports.routing import lead_of, responsible_workers
from geo.rosters.rules import DutyClock
from geo.rosters.service import ExceptionInput, Shift, add_exception, duty_now, refresh_duty, replace_shifts
from geo.spatial import point
from tests.tiny_city import COMMUNITY, GRIDS

CONFIG = CityConfig()  # Asia/Shanghai
TZ = ZoneInfo("Asia/Shanghai")
G1, G2, G3, G4 = GRIDS
MONDAY = datetime(2026, 11, 30, tzinfo=TZ)  # a Monday


def at(day: int, hh: int, mm: int = 0) -> datetime:
    """Local time ``day`` days after that Monday."""
    return MONDAY + timedelta(days=day, hours=hh, minutes=mm)


def office_week(db, worker: Worker, *, start="08:30", end="17:30") -> None:
    h, m = map(int, start.split(":"))
    eh, em = map(int, end.split(":"))
    replace_shifts(db, worker_id=worker.id, shifts=[Shift(d, h * 60 + m, eh * 60 + em) for d in range(1, 6)],
                   config=CONFIG, now=at(0, 7))


def leave(db, worker: Worker, start: datetime, end: datetime, cover: Worker | None = None, now: datetime | None = None):
    row, created = add_exception(db, worker_id=worker.id, config=CONFIG, now=now or at(0, 7), item=ExceptionInput(
        ExceptionKind.leave, start, end, cover.id if cover else None, "年假"))
    assert created
    return row


def routed(db, grid: str, when: datetime) -> int | None:
    pick = responsible_workers(db, grid_codes=[grid], clock=DutyClock.of(when, TZ))[grid]
    return pick.id if pick else None


def test_primary_on_leave_with_a_cover_the_cover_gets_the_new_case(db, tiny):
    w = tiny.workers
    office_week(db, w[G1])
    office_week(db, w[G3], start="12:00", end="13:00")  # the cover's own week: lunchtime only
    leave(db, w[G1], at(0, 9), at(2, 18), cover=w[G3])  # Monday 09:00 to Wednesday 18:00
    assert routed(db, G1, at(0, 8, 45)) == w[G1].id  # before the leave: the primary
    assert routed(db, G1, at(0, 10)) == w[G3].id  # on leave: the named cover
    # The cover stands in for the primary's hours only: at night the grid's usual order holds
    # (the backup T002 is off duty by flag, so the community lead).
    assert routed(db, G1, at(0, 22)) == w["lead"].id
    assert duty_now(db, worker_ids=[w[G3].id], clock=DutyClock.of(at(0, 10), TZ)) == {w[G3].id: True}
    # A real report filed then is assigned to the cover.
    now = at(1, 11)
    x, y = (GRIDS[G1][0] + GRIDS[G1][2]) / 2, (GRIDS[G1][1] + GRIDS[G1][3]) / 2
    item = ReportInput(id=uuid.uuid4(), category="30", description="路灯不亮", source=ReportSource.citizen,
                       x=x, y=y, reported_at=now)
    (outcome,) = submit_batch(db, items=[(0, item)], config=CONFIG, now=now, duplicates=False)
    assert outcome.grid_code == G1 and outcome.worker.id == w[G3].id
    assert db.get(Report, item.id).assigned_worker_id == w[G3].id


def test_primary_off_duty_without_a_cover_goes_to_the_backup(db, tiny):
    w = tiny.workers  # grid 004's backup is T001 (unrostered, flag on)
    office_week(db, w[G4])
    assert routed(db, G4, at(0, 10)) == w[G4].id
    assert routed(db, G4, at(0, 17, 30)) == w[G1].id  # the shift ended at 17:30 (half-open)
    assert routed(db, G4, at(5, 10)) == w[G1].id  # Saturday: no shift
    leave(db, w[G4], at(1, 0), at(2, 0))  # Tuesday, no cover
    assert routed(db, G4, at(1, 10)) == w[G1].id
    # Primary and backup both off: the community lead, as before rosters.
    office_week(db, w[G1], start="12:00", end="13:00")
    assert routed(db, G4, at(1, 10)) == w["lead"].id


def test_overnight_shift_runs_into_the_next_day_and_sunday_into_monday(db, tiny):
    w = tiny.workers[G1]
    replace_shifts(db, worker_id=w.id, shifts=[Shift(1, 22 * 60, 6 * 60), Shift(7, 22 * 60, 6 * 60)],
                   config=CONFIG, now=at(0, 7))

    def on(when):
        return duty_now(db, worker_ids=[w.id], clock=DutyClock.of(when, TZ))[w.id]

    assert not on(at(0, 21, 59)) and on(at(0, 22)) and on(at(0, 23, 59))
    assert on(at(1, 0)) and on(at(1, 5, 59)) and not on(at(1, 6))  # Tuesday morning
    assert not on(at(1, 23))  # Tuesday night: no shift
    assert on(at(0, 3))  # Monday 03:00: Sunday's night shift
    assert on(at(6, 23)) and not on(at(6, 21))
    # The same instant written in UTC is judged on the city's clock.
    assert on(at(0, 23).astimezone(ZoneInfo("UTC")))


def test_a_worker_without_a_roster_keeps_the_flag(db, tiny):
    w = tiny.workers
    clock = DutyClock.of(at(0, 10), TZ)
    assert duty_now(db, worker_ids=[w[G2].id, w[G3].id], clock=clock) == {w[G2].id: False, w[G3].id: True}
    office_week(db, w[G1])
    # The tiny city's workers only: the session database may hold a loaded demo's rosters too.
    mine = [w[G1].id, w[G2].id, w[G3].id]
    assert refresh_duty(db, config=CONFIG, now=at(0, 10), worker_ids=mine) == 1  # only the rostered worker changes
    assert refresh_duty(db, config=CONFIG, now=at(0, 20), worker_ids=mine) == 1
    flags = {r.id: r.on_duty for r in db.execute(sa.select(Worker.id, Worker.on_duty).where(
        Worker.id.in_([w[G1].id, w[G2].id, w[G3].id])))}
    assert flags == {w[G1].id: False, w[G2].id: False, w[G3].id: True}
    assert refresh_duty(db, config=CONFIG, now=at(0, 20), worker_ids=mine) == 0  # nothing differs the second time
    assert routed(db, G2, at(0, 10)) == w[G3].id  # T002 off by flag → backup T003, unchanged behaviour
    # Without a week, no exceptions: the flag alone is their duty.
    with pytest.raises(InvalidInput) as e:
        leave(db, w[G2], at(0, 9), at(0, 12))
    assert e.value.details["field"] == "worker_id"


def test_extra_duty_and_leave_precedence(db, tiny):
    w = tiny.workers[G1]
    office_week(db, w)
    add_exception(db, worker_id=w.id, config=CONFIG, now=at(0, 7), item=ExceptionInput(
        ExceptionKind.duty, at(5, 9), at(5, 17)))  # Saturday cover duty
    clock = DutyClock.of(at(5, 10), TZ)
    assert duty_now(db, worker_ids=[w.id], clock=clock) == {w.id: True}
    with pytest.raises(RosterConflict) as e:
        leave(db, w, at(5, 12), at(6, 12))
    assert e.value.details["field"] == "starts_at"


def test_exception_checks_name_their_field(db, tiny):
    w = tiny.workers

    def field(**kw):
        args = {"kind": ExceptionKind.leave, "starts_at": at(0, 9), "ends_at": at(0, 12)} | kw
        with pytest.raises(InvalidInput) as e:
            add_exception(db, worker_id=w[G1].id, config=CONFIG, now=at(0, 7), item=ExceptionInput(**args))
        return e.value.details["field"]

    office_week(db, w[G1])
    assert field(ends_at=at(0, 8)) == "ends_at"
    assert field(cover_worker_id=w[G1].id) == "cover_worker_id"
    assert field(cover_worker_id=10**12) == "cover_worker_id"
    assert field(kind=ExceptionKind.duty, cover_worker_id=w[G3].id) == "cover_worker_id"
    office_week(db, w[G3])
    leave(db, w[G3], at(0, 10), at(0, 11))
    assert field(cover_worker_id=w[G3].id) == "cover_worker_id"  # the cover is on leave then
    # The same leave sent twice is one leave.
    item = ExceptionInput(ExceptionKind.leave, at(3, 9), at(3, 12), None, "复诊")
    first, made = add_exception(db, worker_id=w[G1].id, config=CONFIG, now=at(0, 7), item=item)
    again, made_again = add_exception(db, worker_id=w[G1].id, config=CONFIG, now=at(0, 7), item=item)
    assert made and not made_again and first.id == again.id


def test_a_lead_on_leave_with_a_cover_hands_escalations_to_the_cover(db, tiny):
    w = tiny.workers
    lead = w["lead"]
    office_week(db, lead, start="00:00", end="24:00")
    leave(db, lead, at(0, 0), at(7, 0), cover=w[G3])
    assert lead_of(db, area_code=COMMUNITY, clock=DutyClock.of(at(0, 10), TZ)).id == w[G3].id
    assert lead_of(db, area_code=COMMUNITY, clock=DutyClock.of(at(8, 10), TZ)).id == lead.id  # back
    assert lead_of(db, area_code=COMMUNITY).id == lead.id  # no clock: as before


def test_nearest_on_duty_honours_the_roster(db, tiny):
    w = tiny.workers
    for k, code in enumerate((G1, G3, G4)):
        w[code].last_position = point(116.405 + 0.001 * k, 39.905)
        w[code].last_seen_at = at(0, 7)
    db.flush()
    office_week(db, w[G1])
    leave(db, w[G1], at(0, 9), at(0, 12), now=at(0, 8, 45))  # stored flag: on duty at 08:45
    assert db.scalar(sa.select(Worker.on_duty).where(Worker.id == w[G1].id))
    here = {"lon": 116.405, "lat": 39.905}
    ids = {n.id for n in nearest_on_duty(db, **here, limit=10, clock=DutyClock.of(at(0, 10), TZ))}
    mine = {w[G1].id, w[G3].id, w[G4].id}
    assert ids & mine == {w[G3].id, w[G4].id}  # on leave now, even before the next refresh
    assert refresh_duty(db, config=CONFIG, now=at(0, 10), worker_ids=sorted(mine)) == 1
    assert {n.id for n in nearest_on_duty(db, **here, limit=10, exact=False)} & mine == {w[G3].id, w[G4].id}
    # Back from leave: offered again from the next refresh on (the scan reads the flag).
    assert w[G1].id not in {n.id for n in nearest_on_duty(db, **here, limit=10, clock=DutyClock.of(at(0, 13), TZ))}
    assert refresh_duty(db, config=CONFIG, now=at(0, 13), worker_ids=sorted(mine)) == 1
    assert w[G1].id in {n.id for n in nearest_on_duty(db, **here, limit=10, clock=DutyClock.of(at(0, 13), TZ))}
