"""The intake plan is pure: from accepted reports and where the rule put them, the rows,
trail events and outcomes follow, with no database (geo.reports.planning)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np

from geo.cityconfig import load_city_config
from geo.matching.rule import MatchOutcome, PointMatches
from geo.models import MatchKind, ReportSource, ReportStatus, WorkerRole
from geo.reports.intake import ReportInput
from geo.reports.outcomes import Outcome
from geo.reports.planning import Accepted, Placement, plan_reports
from geo.reports.routing import MAX_ESCALATION, Responsible

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WORKER = Responsible(7, "王网格员", WorkerRole.grid_worker, True, "13900000000")


def _accepted(index: int, category: str = "30", lon: float = 116.405, lat: float = 39.915) -> Accepted:
    item = ReportInput(category=category, description="case", source=ReportSource.citizen, x=lon, y=lat,
                       reported_at=NOW - timedelta(minutes=5), reporter_phone="13912345678")
    return Accepted(index, item, "wgs84", uuid.uuid4(), item.fingerprint(), lon, lat)


def _placement(codes, kinds, distances, city=None) -> Placement:
    # As match_points builds them: what no grid covered is the fallback's answer, by position.
    fallbacks = {k: MatchOutcome(MatchKind(kind), 3, code, d, code or "G9")
                 for k, (code, kind, d) in enumerate(zip(codes, kinds, distances))
                 if kind in (MatchKind.snapped.value, MatchKind.unassigned.value)}
    matches = PointMatches(np.array(codes, dtype=object), np.array(kinds, dtype=object), distances, fallbacks)
    return Placement(3, matches, {"G1": WORKER, "G2": None}, city)


def test_a_plan_dispatches_registers_and_escalates_by_the_placement():
    config = load_city_config()
    reports = [_accepted(0), _accepted(4), _accepted(9)]
    plan = plan_reports(reports, config=config, now=NOW, placement=_placement(
        ["G1", "G2", None], [MatchKind.edge.value, MatchKind.snapped.value, MatchKind.unassigned.value],
        [None, 12.5, 800.0], city="CITY"))

    dispatched, registered, unassigned = plan.rows
    assert (dispatched.status, dispatched.assigned_worker_id, dispatched.dispatched_at) == ("dispatched", 7, NOW)
    assert (dispatched.match_kind, dispatched.snap_distance_m, dispatched.generation_id) == ("edge", None, 3)
    assert (registered.status, registered.assigned_worker_id) == ("registered", None)
    assert (registered.match_kind, registered.snap_distance_m) == ("snapped", 12.5)
    assert (unassigned.grid_code, unassigned.generation_id, unassigned.snap_distance_m) == (None, None, None)
    assert (unassigned.escalation_level, unassigned.escalated_to) == (MAX_ESCALATION, "CITY")
    assert all(r.due_at > NOW for r in plan.rows)
    assert [r.id for r in plan.rows] == [r.id for r in reports]

    actions = [(e.report_id, e.action) for e in plan.events]
    assert actions == [(reports[0].id, "register"), (reports[0].id, "dispatch"), (reports[1].id, "register"),
                       (reports[2].id, "register"), (reports[2].id, "escalate")]
    assert plan.events[2].data["distance_m"] == 12.5  # the register event keeps the distance of a snap
    assert plan.events[3].data["distance_m"] == 800.0  # and of the nearest grid when unassigned

    assert [(o.index, o.kind, o.report_status) for o in plan.outcomes] == [
        (0, Outcome.created, ReportStatus.dispatched.value), (4, Outcome.created, ReportStatus.registered.value),
        (9, Outcome.created, ReportStatus.registered.value)]
    assert plan.outcomes[0].worker == WORKER and plan.outcomes[1].distance_m == 12.5


def test_a_sensitive_report_gets_a_public_cell_and_an_ordinary_one_none():
    plan = plan_reports([_accepted(0, category="10", lon=116.4071, lat=39.9163), _accepted(1)], config=load_city_config(), now=NOW,
                        placement=_placement(["G1", "G1"], ["inside", "inside"], [None, None]))
    sensitive, ordinary = plan.rows
    assert sensitive.public_cell is not None and sensitive.public_cell != sensitive.h3_cell
    assert ordinary.public_cell is None


def test_nothing_to_plan_is_an_empty_plan():
    plan = plan_reports([], config=load_city_config(), now=NOW, placement=_placement([], [], []))
    assert (plan.rows, plan.events, plan.outcomes) == ([], [], [])
