"""Activation against other processes, on committed data in a database of its own: a
scheduled activation fired by two servers at once happens once, and reports filed while the
city switches are each stored once, under exactly one generation, matched by its rule."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from shapely.geometry import box
from sqlalchemy.orm import Session

from geo.boundaries.activation import run_due_activation, schedule_activation
from geo.boundaries.planning import activate
from geo.boundaries.reading import read_boundaries
from geo.boundaries.redraw import import_boundaries
from geo.cityconfig import load_city_config
from geo.access import Principal, Role
from geo.models import Generation, GenerationStatus, Report, ReportEvent, ReportSource
from geo.reports.intake import ReportInput
from geo.reports.registration import submit_report
from tests.geo.boundaries.test_redraw import G1, G2, G3, G4, GRIDS, write
from tests.tiny_city import COMMUNITY, add_workers, build_tiny_city

CONFIG = load_city_config()
NEW = f"{COMMUNITY}005"


@pytest.fixture()
def city(scratch_database, tmp_path):
    """The tiny city committed, with a committed draft splitting 001 at lon 116.405."""
    engine = sa.create_engine(scratch_database, pool_size=8)
    with Session(engine) as s:
        old = build_tiny_city(s)
        add_workers(s)
        path = write(tmp_path, [(G1, box(116.40, 39.91, 116.405, 39.92)), (None, box(116.405, 39.91, 116.41, 39.92)),
                                (G2, box(*GRIDS[G2])), (G3, box(*GRIDS[G3])), (G4, box(*GRIDS[G4]))])
        draft = import_boundaries(s, features=read_boundaries(path), actor="test").generation
        s.commit()
    yield engine, old, draft
    engine.dispose()


def _server(url: str, barrier, results) -> None:
    """One server process's periodic loop, once: fire the due activation if it is due."""
    engine = sa.create_engine(url)
    with Session(engine) as s:
        barrier.wait()
        fired = run_due_activation(s, config=CONFIG, now=datetime.now(UTC))
        s.commit()
    results.put(fired is not None)
    engine.dispose()


def test_a_scheduled_activation_fired_by_two_server_processes_at_once_happens_once(city):
    import multiprocessing

    engine, old, draft = city
    now = datetime.now(UTC)
    with Session(engine) as s:
        schedule_activation(s, at=now - timedelta(seconds=1), actor="planner", lead_covers=True)
        s.commit()
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    url = engine.url.render_as_string(hide_password=False)
    procs = [ctx.Process(target=_server, args=(url, barrier, results)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    assert sorted(results.get(timeout=5) for _ in procs) == [False, True]
    with Session(engine) as s:
        statuses = dict(s.execute(sa.select(Generation.id, Generation.status)).all())
        assert statuses == {old: GenerationStatus.retired, draft: GenerationStatus.active}
        assert s.get(Generation, draft).summary["scheduled"]["due"]


def test_reports_filed_during_the_switch_are_stored_once_under_one_generation(city):
    engine, old, draft = city
    sent: list[uuid.UUID] = []
    stop, errors = threading.Event(), []

    def intake():
        rng = __import__("random").Random(7)
        while not stop.is_set() or len(sent) < 40:
            rid = uuid.uuid4()
            lon, lat = 116.401 + rng.random() * 0.008, 39.911 + rng.random() * 0.008  # all in old 001
            item = ReportInput(id=rid, category="30", subcategory="3001", description="", x=lon, y=lat,
                               source=ReportSource.citizen, reported_at=datetime.now(UTC) - timedelta(minutes=1))
            try:
                with Session(engine) as s:
                    submit_report(s, item=item, config=CONFIG, now=datetime.now(UTC))
                    s.commit()
                sent.append(rid)
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)
                return

    worker = threading.Thread(target=intake)
    worker.start()
    while len(sent) < 15:
        threading.Event().wait(0.01)
    with Session(engine) as s:
        result = activate(s, actor=Principal(Role.planner, holder="planner"), config=CONFIG, now=datetime.now(UTC),
                          lead_covers=True)
        s.commit()
    stop.set()
    worker.join(60)
    assert not errors, errors
    assert result.generation == draft
    with Session(engine) as s:
        rows = s.execute(sa.select(Report.id, Report.grid_code, Report.generation_id, sa.func.ST_X(Report.location))
                         .where(Report.id.in_(sent))).all()
        assert len(rows) == len(sent) == len(set(sent))  # nothing lost, nothing twice
        for rid, grid, gen, lon in rows:
            assert gen == draft, (rid, gen)  # open: moved by the activation, or filed after it
            assert grid == (G1 if lon <= 116.405 else NEW), (rid, lon, grid)
        created = dict(s.execute(sa.select(ReportEvent.report_id, sa.func.count()).where(
            ReportEvent.report_id.in_(sent), ReportEvent.action == "register").group_by(ReportEvent.report_id)).all())
        assert set(created.values()) == {1} and len(created) == len(sent)
