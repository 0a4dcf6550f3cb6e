"""Diff, activation, scheduling and revert of a redrawn tiny city (known answers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from shapely.geometry import box

from geo.boundaries.activation import activate_draft, revert_to_previous, run_due_activation, schedule_activation
from geo.boundaries.assignments import PlannedAssignment, plan_assignments
from geo.boundaries.diffs import diff_generations
from geo.boundaries.drafts import current_draft
from geo.boundaries.generations import active_generation_id
from geo.cityconfig import load_city_config
from geo.errors import InvalidState
from geo.models import AssignmentRole, Generation, GenerationStatus, Report, ReportEvent, ReportSource, ReportStatus
from geo.reports.intake import ReportInput
from geo.reports.registration import submit_report
from geo.reports.workflow import apply_transition
from tests.geo.boundaries.test_redraw import G1, G2, G3, G4, GRIDS, do_import, write
from tests.tiny_city import COMMUNITY

NEW = f"{COMMUNITY}005"
CONFIG = load_city_config()


@pytest.fixture()
def city(db, tiny):
    db.execute(sa.update(Report).values(status=ReportStatus.closed))  # only this test's cases are open
    now = datetime.now(UTC)

    def report(lon, lat):
        item = ReportInput(category="30", subcategory="3001", description="", source=ReportSource.citizen,
                           x=lon, y=lat, reported_at=now - timedelta(minutes=5))
        return submit_report(db, item=item, config=CONFIG, now=now).report_id

    ids = {"east": report(116.408, 39.915), "west": report(116.402, 39.915), "closed": report(116.407, 39.915)}
    for action in ("start", "resolve", "close"):
        apply_transition(db, report_id=ids["closed"], action=action, actor="t", config=CONFIG, now=now)
    return tiny, ids, now


def split_001(db, tmp_path):
    west, east = box(116.40, 39.91, 116.405, 39.92), box(116.405, 39.91, 116.41, 39.92)
    return do_import(db, write(tmp_path, [(G1, west), (None, east), (G2, box(*GRIDS[G2])), (G3, box(*GRIDS[G3])),
                                          (G4, box(*GRIDS[G4]))]))


def test_diff_shows_the_split_its_households_and_the_case_that_moves(db, city, tmp_path):
    tiny, ids, now = city
    split_001(db, tmp_path)
    draft = current_draft(db)
    plan_assignments(db, generation=draft.id, actor="t",
                     planned=[PlannedAssignment(NEW, tiny.workers[G3].id, AssignmentRole.primary, 1)])
    diff = diff_generations(db, old=tiny.generation, new=draft.id, config=CONFIG, now=now)
    grids = {c["code"]: c["changes"] for c in diff.changes if c["level"] == "grid"}
    assert grids == {G1: ["reshaped"], NEW: ["added"]}
    assert diff.unchanged["grid"] == 3 and diff.unchanged["community"] == 1
    assert diff.households_moved == [{"from": G1, "to": NEW, "households": 150, "population": 450}]
    east = db.get(Report, ids["east"])
    assert diff.case_moves == [{"from": G1, "to": NEW, "from_worker": east.assigned_worker_id,
                                "to_worker": tiny.workers[G3].id, "report_ids": [str(ids["east"])]}]
    assert diff.unstaffed == []
    load = {w["worker_id"]: w for w in diff.workers}
    assert load[tiny.workers[G3].id]["after"] == {"grids": 2, "households": 450, "open_cases": 1}
    # The dry run changed nothing.
    assert db.get(Report, ids["east"]).grid_code == G1 and active_generation_id(db) == tiny.generation


def test_activation_moves_open_cases_and_keeps_closed_ones(db, city, tmp_path):
    tiny, ids, now = city
    split_001(db, tmp_path)
    draft = current_draft(db)
    with pytest.raises(InvalidState, match="no primary worker"):
        activate_draft(db, actor="planner", config=CONFIG, now=now)
    plan_assignments(db, generation=draft.id, actor="t",
                     planned=[PlannedAssignment(NEW, tiny.workers[G3].id, AssignmentRole.primary, 1)])
    due_before = db.get(Report, ids["east"]).due_at
    result = activate_draft(db, actor="planner", config=CONFIG, now=now)
    assert (result.generation, result.previous, result.moved) == (draft.id, tiny.generation, 1)
    assert active_generation_id(db) == draft.id
    east, west, closed = (db.get(Report, ids[k]) for k in ("east", "west", "closed"))
    for r in (east, west, closed):
        db.refresh(r)
    assert (east.grid_code, east.generation_id, east.assigned_worker_id) == (NEW, draft.id, tiny.workers[G3].id)
    assert east.due_at == due_before
    assert (west.grid_code, west.generation_id) == (G1, draft.id)
    assert (closed.grid_code, closed.generation_id) == (G1, tiny.generation)
    event = db.scalars(sa.select(ReportEvent).where(ReportEvent.report_id == ids["east"],
                                                    ReportEvent.action == "rematch")).one()
    assert event.data == {"from": G1, "to": NEW, "generation": draft.id}
    assert db.get(Generation, draft.id).activated_by == "planner"

    # Revert: the old four grids again, as a new generation; the case follows back.
    back = revert_to_previous(db, actor="planner", config=CONFIG, now=now)
    assert back.generation > draft.id and back.moved == 1
    db.refresh(east)
    assert east.grid_code == G1 and east.assigned_worker_id == tiny.workers[G1].id


def test_activation_refuses_a_draft_with_errors(db, city, tmp_path):
    _, _, now = city
    do_import(db, write(tmp_path, [(G1, box(116.40, 39.91, 116.4106, 39.92)), (G2, box(*GRIDS[G2])),
                                   (G3, box(*GRIDS[G3])), (G4, box(*GRIDS[G4]))]))
    with pytest.raises(InvalidState, match="error"):
        activate_draft(db, actor="planner", config=CONFIG, now=now)
    assert current_draft(db) is not None


def test_a_scheduled_activation_fires_once_when_due(db, city, tmp_path):
    tiny, _, now = city
    split_001(db, tmp_path)
    with pytest.raises(InvalidState, match="no primary worker"):  # refused when scheduled, not when due
        schedule_activation(db, at=now + timedelta(hours=1), actor="planner")
    schedule_activation(db, at=now + timedelta(hours=1), actor="planner", lead_covers=True)
    assert run_due_activation(db, config=CONFIG, now=now) is None
    fired = run_due_activation(db, config=CONFIG, now=now + timedelta(hours=2))
    assert fired is not None and db.get(Generation, fired.generation).status == GenerationStatus.active
    summary = db.get(Generation, fired.generation).summary
    assert summary["scheduled"]["due"] == (now + timedelta(hours=1)).isoformat()
    assert run_due_activation(db, config=CONFIG, now=now + timedelta(hours=3)) is None


def test_history_under_new_boundaries_is_kept_apart_from_the_grid_a_case_was_handled_under(db, city, tmp_path):
    from geo.matching.matcher import GridMatcher
    from geo.models import ReportCurrentGrid
    from geo.reports.restate import restate_chunk

    tiny, ids, now = city
    split_001(db, tmp_path)
    activate_draft(db, actor="planner", config=CONFIG, now=now, lead_covers=True)
    gen = active_generation_id(db)
    matcher = GridMatcher.from_session(db, generation=gen)
    after, written = None, 0
    while True:
        chunk = restate_chunk(db, matcher=matcher, generation=gen, config=CONFIG, after=after)
        if chunk.last_id is None:
            break
        after, written = chunk.last_id, written + chunk.changed
    current = {r.report_id: r.grid_code for r in db.scalars(sa.select(ReportCurrentGrid).where(
        ReportCurrentGrid.report_id.in_(list(ids.values()))))}
    assert current[ids["closed"]] == NEW  # under today's boundaries ...
    closed = db.get(Report, ids["closed"])
    db.refresh(closed)
    assert (closed.grid_code, closed.generation_id) == (G1, tiny.generation)  # ... handled under 001, forever
    assert current[ids["east"]] == NEW and current[ids["west"]] == G1
    again = restate_chunk(db, matcher=matcher, generation=gen, config=CONFIG)
    assert again.changed == 0  # a second run writes nothing


def test_an_escalated_case_that_moves_goes_to_the_lead_of_its_new_chain(db, city, tmp_path):
    tiny, ids, now = city
    # The east case was escalated to its community (level 1) and handed to someone else since.
    db.execute(sa.update(Report).where(Report.id == ids["east"]).values(
        escalation_level=1, assigned_worker_id=tiny.workers[G4].id))
    split_001(db, tmp_path)
    activate_draft(db, actor="planner", config=CONFIG, now=now, lead_covers=True)
    east = db.get(Report, ids["east"])
    db.refresh(east)
    assert east.grid_code == NEW and east.escalation_level == 1
    assert east.assigned_worker_id == tiny.workers["lead"].id  # the community lead of the new chain
