"""gridmap workers roster FILE: weekly shifts and exceptions from CSV, on the session's
database (committed, on two workers of the test's own that no grid routes to)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cli.main import app
from geo.models import RosterException, RosterShift, Worker, WorkerRole

STAFF = ("RT-CLI-1", "RT-CLI-2")


@pytest.fixture()
def two_workers(monkeypatch, database_url, small_city, engine):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "250")
    with Session(engine) as s:
        rows = [Worker(staff_no=n, name="测试", public_name="测网格员", role=WorkerRole.grid_worker, on_duty=True)
                for n in STAFF]
        s.add_all(rows)
        s.flush()
        s.add(RosterShift(worker_id=rows[1].id, weekday=3, start_min=600, end_min=660))  # RT-CLI-2's old week
        s.commit()
        ids = [w.id for w in rows]
    yield ids
    with engine.begin() as conn:  # the roster rows go with them (ON DELETE CASCADE)
        conn.execute(sa.delete(Worker).where(Worker.staff_no.in_(STAFF)))


def run(*args):
    return CliRunner().invoke(app, list(args))


def week(engine, worker_id):
    with Session(engine) as s:
        return [(r.weekday, r.start_min, r.end_min) for r in s.scalars(
            sa.select(RosterShift).where(RosterShift.worker_id == worker_id).order_by(RosterShift.weekday))]


def test_shifts_replace_each_week_and_bad_rows_are_listed(two_workers, engine, tmp_path):
    one, two = two_workers
    f = tmp_path / "shifts.csv"
    f.write_text("staff_no,weekday,start,end\n"
                 "RT-CLI-1,1,08:30,17:30\n"
                 "RT-CLI-1,2,22:00,06:00\n"
                 "RT-CLI-2,9,08:30,17:30\n"  # a bad weekday: RT-CLI-2 keeps the old week
                 "RT-CLI-2,1,08:30,17:30\n"
                 "NOBODY,1,08:30,17:30\n", encoding="utf-8")
    dry = run("workers", "roster", str(f), "--dry-run")
    assert dry.exit_code == 1 and "dry run: would have 1 worker(s)' weekly shifts replaced" in dry.output
    assert week(engine, one) == [] and week(engine, two) == [(3, 600, 660)]
    r = run("workers", "roster", str(f))
    assert r.exit_code == 1, r.output
    assert "1 worker(s)' weekly shifts replaced; 3 row(s) rejected of 5" in r.output
    assert "line 4: weekday: '9' is not 1 (Monday) to 7 (Sunday)" in r.output
    assert "line 5: not applied: RT-CLI-2's week has a rejected row" in r.output
    assert "line 6: staff_no: no worker 'NOBODY'" in r.output
    assert week(engine, one) == [(1, 510, 1050), (2, 1320, 360)]
    assert week(engine, two) == [(3, 600, 660)]
    # Overlapping shifts of one worker name the row.
    f.write_text("staff_no,weekday,start,end\nRT-CLI-2,1,08:00,12:00\nRT-CLI-2,1,11:00,13:00\n", encoding="utf-8")
    r = run("workers", "roster", str(f))
    assert r.exit_code == 1 and "line 3: overlaps shift 0" in r.output and week(engine, two) == [(3, 600, 660)]


def test_exceptions_rows_stand_alone_and_repeat_safely(two_workers, engine, tmp_path):
    one, two = two_workers
    f = tmp_path / "shifts.csv"
    f.write_text("staff_no,weekday,start,end\nRT-CLI-1,1,08:30,17:30\n", encoding="utf-8")
    assert run("workers", "roster", str(f)).exit_code == 0
    f = tmp_path / "leave.csv"
    f.write_text("staff_no,kind,starts_at,ends_at,cover_staff_no,note\n"
                 "RT-CLI-1,leave,2026-12-07 08:00,2026-12-09 18:00,RT-CLI-2,年假\n"
                 "RT-CLI-1,leave,2026-12-10T08:00+08:00,2026-12-10T07:00+08:00,,\n"
                 "RT-CLI-1,leave,2026-12-11 08:00,2026-12-11 18:00,RT-CLI-1,\n"
                 "RT-CLI-1,holiday,2026-12-12 08:00,2026-12-12 18:00,,\n"
                 "RT-CLI-1,duty,2026-12-08 08:00,2026-12-08 18:00,,\n", encoding="utf-8")
    r = run("workers", "roster", str(f))
    assert r.exit_code == 1, r.output
    assert "1 exception(s) added, 0 already there; 4 row(s) rejected of 5" in r.output
    assert "line 3: ends_at: must be after starts_at" in r.output
    assert "line 4: cover_staff_no: a worker cannot cover their own leave" in r.output
    assert "line 5: kind: 'holiday' is not leave or duty" in r.output
    assert "line 6: starts_at: overlaps leave" in r.output
    again = run("workers", "roster", str(f))
    assert "0 exception(s) added, 1 already there" in again.output
    with Session(engine) as s:
        (leave,) = s.scalars(sa.select(RosterException).where(RosterException.worker_id == one)).all()
        assert leave.cover_worker_id == two and leave.starts_at.isoformat() == "2026-12-07T00:00:00+00:00"
