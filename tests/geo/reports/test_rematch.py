"""Re-matching open reports after a boundary change moves them, logs it and hands them over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from geo.boundaries.generations import activate_generation, carry_forward, create_generation, rebuild_pieces
from geo.cityconfig import load_city_config
from geo.matching.matcher import GridMatcher
from geo.models import AreaLevel, Report, ReportEvent, ReportSource, ReportStatus
from geo.reports.intake import ReportInput
from geo.reports.registration import submit_report
from geo.reports.rematch import plan_rematch, rematch_chunk
from geo.reports.workflow import apply_transition
from tests.tiny_city import SANITATION, COMMUNITY, add_area, add_department_staff, add_workers, build_tiny_city, tiny_config

G1, G2 = f"{COMMUNITY}001", f"{COMMUNITY}002"


def test_rematch_after_boundary_change(db):
    # Only this test's reports are open here (the session's generated city is closed for the test).
    db.execute(sa.update(Report).values(status=ReportStatus.closed))
    old = build_tiny_city(db)
    workers = add_workers(db)
    config, now = load_city_config(), datetime.now(UTC)

    def report(lon, lat):
        item = ReportInput(category="30", subcategory="3001", description="", source=ReportSource.citizen,
                           x=lon, y=lat, reported_at=now - timedelta(minutes=5))
        return submit_report(db, item=item, config=config, now=now).report_id

    moving, staying, closed = report(116.412, 39.915), report(116.405, 39.915), report(116.413, 39.915)
    for action in ("start", "resolve", "close"):
        apply_transition(db, report_id=closed, action=action, actor="t", config=config, now=now)
    # A case a department holds moves grid with the boundaries, but stays with the department's staff.
    desk = add_department_staff(db)["TD-SA-01"]
    held = report(116.4125, 39.915)
    apply_transition(db, report_id=held, action="transfer", actor="t", config=tiny_config(), now=now,
                     department=SANITATION, note="环卫")

    new = create_generation(db).id
    carry_forward(db, from_generation=old, to_generation=new,
                  codes=["110100", "110101", "110101001", COMMUNITY, f"{COMMUNITY}003", f"{COMMUNITY}004"])
    add_area(db, gen=new, code=G1, level=AreaLevel.grid, parent=COMMUNITY, bounds=(116.40, 39.91, 116.415, 39.92))
    add_area(db, gen=new, code=G2, level=AreaLevel.grid, parent=COMMUNITY, bounds=(116.415, 39.91, 116.42, 39.92))
    db.flush()
    rebuild_pieces(db, generation=new)
    activate_generation(db, generation=new)

    # The dry run: what would move, and to whom, with nothing changed.
    plan = plan_rematch(db, matcher=GridMatcher.from_session(db, generation=new), generation=new, config=config)
    assert sorted((m.report_id, m.from_code, m.grid_code, m.worker_id) for m in plan.moves) == sorted([
        (moving, G2, G1, workers[G1].id), (held, G2, G1, None)])
    assert db.scalar(sa.select(Report.grid_code).where(Report.id == moving)) == G2
    assert db.scalar(sa.select(sa.func.count()).select_from(ReportEvent).where(ReportEvent.action == "rematch")) == 0

    chunk = rematch_chunk(db, matcher=GridMatcher.from_session(db, generation=new), generation=new,
                          config=config, now=now)
    assert (chunk.examined, chunk.moved) == (3, 2)  # the closed case is left as it was handled
    rows = {r.id: r for r in db.scalars(sa.select(Report).where(Report.id.in_([moving, staying, closed])))}
    for r in rows.values():
        db.refresh(r)
    assert (rows[moving].grid_code, rows[moving].generation_id) == (G1, new)
    assert rows[moving].assigned_worker_id == workers[G1].id
    assert (rows[staying].grid_code, rows[staying].generation_id) == (G1, new)
    held_now = db.get(Report, held)
    db.refresh(held_now)
    assert (held_now.grid_code, held_now.assigned_worker_id, held_now.department_code) == (G1, desk.id, SANITATION)
    assert (rows[closed].grid_code, rows[closed].generation_id) == (G2, old)
    event = db.scalars(sa.select(ReportEvent).where(ReportEvent.report_id == moving, ReportEvent.action == "rematch")).one()
    assert event.data == {"from": G2, "to": G1, "generation": new}
    assert rematch_chunk(db, matcher=GridMatcher.from_session(db, generation=new), generation=new, config=config,
                         now=now, after=chunk.last_id).examined == 0


def test_rematch_stores_what_intake_stores(db):
    """The drift a copy of the matching rule caused: rematch lost `edge` and kept stale snap
    distances. Both now come from geo.matching.rule.match_points."""
    db.execute(sa.update(Report).values(status=ReportStatus.closed))
    old = build_tiny_city(db)
    add_workers(db)
    config, now = load_city_config(), datetime.now(UTC)

    def report(lon, lat):
        item = ReportInput(category="30", subcategory="3001", description="", source=ReportSource.citizen,
                           x=lon, y=lat, reported_at=now - timedelta(minutes=5))
        return submit_report(db, item=item, config=config, now=now)

    edge, snapped = report(116.41, 39.915), report(116.3999, 39.915)  # on G1|G2; ~8.5 m west of G1
    assert (edge.match, snapped.match) == ("edge", "snapped") and 8 < snapped.distance_m < 9

    new = create_generation(db).id  # G1 reaches 4 m further west; the G1|G2 edge stays
    carry_forward(db, from_generation=old, to_generation=new,
                  codes=["110100", "110101", "110101001", COMMUNITY, G2, f"{COMMUNITY}003", f"{COMMUNITY}004"])
    add_area(db, gen=new, code=G1, level=AreaLevel.grid, parent=COMMUNITY, bounds=(116.39995, 39.91, 116.41, 39.92))
    db.flush()
    rebuild_pieces(db, generation=new)
    activate_generation(db, generation=new)
    rematch_chunk(db, matcher=GridMatcher.from_session(db, generation=new), generation=new, config=config, now=now)

    rows = {r.id: r for r in db.scalars(sa.select(Report).where(Report.id.in_([edge.report_id, snapped.report_id])))
            .all()}
    for r in rows.values():
        db.refresh(r)
    assert (rows[edge.report_id].match_kind.value, rows[edge.report_id].grid_code) == ("edge", G1)
    assert rows[edge.report_id].snap_distance_m is None
    moved = rows[snapped.report_id]
    assert moved.match_kind.value == "snapped" and 4 < moved.snap_distance_m < 5  # fresh, not the old 8.5 m
