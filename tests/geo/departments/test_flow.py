"""Departments on the tiny city (tests/tiny_city.py): a transfer/accept/return chain with its
due times, a department's escalation up to the city, the illegal hops, who may, the figures."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from geo.access.roles import Principal, Role, may_move
from geo.departments.flow import missing_contacts
from geo.departments.stats import department_stats
from geo.errors import Forbidden, IllegalTransition, InvalidInput
from geo.models import Report, ReportSource, ReportStatus
from geo.reports.intake import ReportInput
from geo.reports.registration import submit_report
from geo.reports.rules import allowed_actions
from geo.reports.workflow import apply_transition, escalate_overdue, rate, trail
from tests.tiny_city import CITY_CENTRE, GRIDS, ROADS, SANITATION, add_department_staff, tiny_config

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday; this file's cases, apart from any other test's
H = timedelta(hours=1)
G1 = next(iter(GRIDS))


@pytest.fixture()
def city(db, tiny):
    staff = add_department_staff(db)
    return tiny_config(), staff, tiny.workers


def new_case(db, config, *, subcategory="3001", category="30", at=T0) -> uuid.UUID:
    item = ReportInput(category=category, subcategory=subcategory, description="垃圾", source=ReportSource.citizen,
                       x=116.405, y=39.915, reported_at=at - timedelta(minutes=5))
    return submit_report(db, item=item, config=config, now=at).report_id


def move(db, config, rid, action, at, **kw) -> Report:
    kw.setdefault("actor", "王芳 (dispatch desk)")
    return apply_transition(db, report_id=rid, action=action, config=config, now=at, **kw)


def test_transfer_accept_return_and_transfer_again_keep_one_trail(db, city):
    config, staff, workers = city
    rid = new_case(db, config)  # exposed rubbish: the grid worker has the city's 4 h
    report = db.get(Report, rid)
    assert (report.status, report.assigned_worker_id, report.due_at) == (ReportStatus.dispatched, workers[G1].id, T0 + 4 * H)
    assert "accept" not in allowed_actions(report) and "return" not in allowed_actions(report)

    # To roads, which does not list 3001: its default 48 h from the transfer.
    report = move(db, config, rid, "transfer", T0 + H, department=ROADS, note="路面塌陷，道路处负责")
    assert (report.status, report.department_code, report.department_accepted_at) == (ReportStatus.dispatched, ROADS, None)
    assert report.assigned_worker_id == staff["TD-RD-01"].id and report.due_at == T0 + H + 48 * H
    assert allowed_actions(report)[-2:] == ["accept", "return"]
    report = move(db, config, rid, "accept", T0 + 2 * H, actor="道路处受理台")
    assert report.department_accepted_at == T0 + 2 * H and report.status == ReportStatus.dispatched
    assert "accept" not in allowed_actions(report) and "return" in allowed_actions(report)
    # "Not ours": back to the dispatcher, unassigned, no due time, counted.
    report = move(db, config, rid, "return", T0 + 3 * H, actor="道路处受理台", note="是垃圾，不是路面")
    assert (report.status, report.department_code, report.department_accepted_at, report.assigned_worker_id,
            report.due_at, report.return_count) == (ReportStatus.registered, None, None, None, None, 1)
    assert "return" not in allowed_actions(report) and "transfer" in allowed_actions(report)
    # To sanitation, which lists 3001: 6 h.
    report = move(db, config, rid, "transfer", T0 + 4 * H, department=SANITATION, note="暴露垃圾，环卫处负责")
    assert report.assigned_worker_id == staff["TD-SA-01"].id and report.due_at == T0 + 10 * H
    # A hand-over inside sanitation keeps its clock (and its not-yet-accepted state).
    report = move(db, config, rid, "transfer", T0 + 5 * H, worker_id=staff["TD-SA-04"].id, note="片区同事处理")
    assert (report.assigned_worker_id, report.department_code, report.due_at) == (staff["TD-SA-04"].id, SANITATION,
                                                                                   T0 + 10 * H)
    # Starting work accepts the case first.
    report = move(db, config, rid, "start", T0 + 6 * H, actor="环卫处")
    assert report.department_accepted_at == T0 + 6 * H and report.status == ReportStatus.in_progress
    move(db, config, rid, "resolve", T0 + 7 * H)
    report = move(db, config, rid, "close", T0 + 8 * H)
    assert report.id == rid and report.department_code == SANITATION and report.return_count == 1

    events = [(e.action, e.from_status, e.to_status) for e in trail(db, report_id=rid)]
    assert events == [("register", None, "registered"), ("dispatch", "registered", "dispatched"),
                      ("transfer", "dispatched", "dispatched"), ("accept", "dispatched", "dispatched"),
                      ("return", "dispatched", "registered"), ("transfer", "registered", "dispatched"),
                      ("transfer", "dispatched", "dispatched"), ("accept", "dispatched", "dispatched"),
                      ("start", "dispatched", "in_progress"), ("resolve", "in_progress", "resolved"),
                      ("close", "resolved", "closed")]
    data = [e.data for e in trail(db, report_id=rid)]
    assert data[2] == {"department": ROADS, "worker_id": staff["TD-RD-01"].id, "due_at": (T0 + 49 * H).isoformat()}
    assert data[3] == {"department": ROADS} and data[4] == {"department": ROADS}
    assert data[6]["within_department"] is True and data[7] == {"department": SANITATION, "implied_by": "start"}
    assert [e.note for e in trail(db, report_id=rid)][4] == "是垃圾，不是路面"


def test_a_grid_worker_transfer_and_the_rules_of_a_transfer(db, city):
    config, staff, workers = city
    rid = new_case(db, config)
    for kw, field in (({}, "department"), ({"department": "nope"}, "department"), ({"worker_id": 10**12}, "worker_id"),
                      ({"department": ROADS, "worker_id": staff["TD-SA-01"].id}, "worker_id"),
                      ({"worker_id": workers[G1].id}, "worker_id")):  # to whom it already belongs
        with pytest.raises(InvalidInput) as err:
            move(db, config, rid, "transfer", T0 + H, note="why", **kw)
        assert err.value.details["field"] == field, kw
    with pytest.raises(InvalidInput) as err:  # the reason is required
        move(db, config, rid, "transfer", T0 + H, department=ROADS, note="  ")
    assert err.value.details["field"] == "note"
    with pytest.raises(InvalidInput) as err:
        move(db, config, rid, "start", T0 + H, department=ROADS)
    assert err.value.details["field"] == "department"
    # To a worker of a department: the case goes into that department.
    report = move(db, config, rid, "transfer", T0 + H, worker_id=staff["TD-RD-02"].id, note="直接给道路处")
    assert (report.department_code, report.assigned_worker_id, report.due_at) == (ROADS, staff["TD-RD-02"].id, T0 + 49 * H)
    # To a grid worker: out of the department, the city's limit.
    report = move(db, config, rid, "transfer", T0 + 2 * H, worker_id=workers[G1].id, note="回网格")
    assert (report.department_code, report.assigned_worker_id, report.due_at) == (None, workers[G1].id, T0 + 6 * H)


def test_illegal_hops_are_409_with_the_allowed_ones(db, city):
    config, _, _ = city
    rid = new_case(db, config)
    with pytest.raises(IllegalTransition) as err:
        move(db, config, rid, "accept", T0 + H)
    assert "no department holds" in err.value.message
    assert err.value.details["allowed"] == allowed_actions(db.get(Report, rid))
    assert "accept" not in err.value.details["allowed"]
    with pytest.raises(IllegalTransition):
        move(db, config, rid, "return", T0 + H, note="not ours")
    move(db, config, rid, "transfer", T0 + H, department=SANITATION, note="环卫")
    move(db, config, rid, "accept", T0 + 2 * H)
    with pytest.raises(IllegalTransition) as err:
        move(db, config, rid, "accept", T0 + 3 * H)
    assert "already accepted" in err.value.message and err.value.details["department"] == SANITATION
    move(db, config, rid, "resolve", T0 + 3 * H)
    with pytest.raises(IllegalTransition) as err:  # resolved: neither returned nor transferred
        move(db, config, rid, "return", T0 + 4 * H, note="not ours")
    assert err.value.details["allowed"] == ["close", "reopen"]
    with pytest.raises(IllegalTransition):
        move(db, config, rid, "transfer", T0 + 4 * H, department=ROADS, note="x")


def test_idempotency_and_expected_level_hold_for_the_new_actions(db, city):
    config, _, _ = city
    rid = new_case(db, config)
    report = move(db, config, rid, "transfer", T0 + H, department=SANITATION, note="环卫", request_key="k1")
    again = move(db, config, rid, "transfer", T0 + 2 * H, department=SANITATION, note="环卫", request_key="k1")
    assert again.due_at == report.due_at == T0 + 7 * H
    assert [e.action for e in trail(db, report_id=rid)].count("transfer") == 1
    move(db, config, rid, "return", T0 + 2 * H, note="not ours", request_key="k2")
    move(db, config, rid, "return", T0 + 2 * H, note="not ours", request_key="k2")
    assert db.get(Report, rid).return_count == 1
    with pytest.raises(IllegalTransition):
        move(db, config, rid, "transfer", T0 + 3 * H, department=SANITATION, note="x", expected_level=2)


def test_an_overdue_department_case_climbs_its_contacts_then_the_city(db, city):
    config, staff, _ = city
    rid = new_case(db, config)
    db.execute(sa.update(Report).where(Report.id != rid, Report.due_at.is_not(None)).values(due_at=None))
    move(db, config, rid, "transfer", T0, department=SANITATION, note="环卫")
    report = db.get(Report, rid)
    assert report.due_at == T0 + 6 * H
    steps = [(1, "TD-SA-02", None), (2, "TD-SA-03", None), (4, CITY_CENTRE, "110100")]
    for level, staff_no, to in steps:
        now = report.due_at + timedelta(minutes=1)
        assert escalate_overdue(db, config=config, now=now).moved == 1
        db.refresh(report)
        assert (report.escalation_level, report.escalated_to, report.assigned_worker_id) == (level, to, staff[staff_no].id)
        assert report.due_at == now + 6 * H, "each level gets a full period of the department's limit"
        assert report.department_code == SANITATION
        assert escalate_overdue(db, config=config, now=now).moved == 0
    assert escalate_overdue(db, config=config, now=report.due_at + 24 * H).moved == 0  # the city is the top
    ups = [e.data for e in trail(db, report_id=rid) if e.action == "escalate"]
    assert [(d["level"], d["level_name"], d["staff_no"]) for d in ups] == [
        (1, "department", "TD-SA-02"), (2, "department", "TD-SA-03"), (4, "city", None)]
    assert all(d["department"] == SANITATION for d in ups)
    # Returned, the case leaves the department's chain: the dispatcher starts from level 0.
    report = move(db, config, rid, "return", report.due_at, note="not ours")
    assert (report.escalation_level, report.escalated_to) == (0, None)


def test_who_may_move_a_department_case(db, city):
    config, staff, workers = city
    rid = new_case(db, config)
    report = move(db, config, rid, "transfer", T0 + H, department=SANITATION, note="环卫")
    colleague = Principal(Role.worker, holder="w", token_id=1, worker_id=staff["TD-SA-04"].id, department_code=SANITATION)
    other = Principal(Role.worker, holder="w", token_id=2, worker_id=staff["TD-RD-01"].id, department_code=ROADS)
    grid = Principal(Role.worker, holder="w", token_id=3, worker_id=workers[G1].id)
    dispatcher = Principal(Role.dispatcher, holder="d", token_id=4)
    for action in ("accept", "return", "start", "resolve", "escalate"):
        assert may_move(colleague, report, action) and not may_move(other, report, action), action
        assert not may_move(grid, report, action) and may_move(dispatcher, report, action)
    assert not may_move(colleague, report, "close") and not may_move(colleague, report, "reject")
    # Department staff transfer within the department only; a case not theirs goes back with return.
    assert may_move(colleague, report, "transfer", to_department=SANITATION)
    assert not may_move(colleague, report, "transfer", to_department=ROADS)
    assert not may_move(colleague, report, "transfer", to_department=None)
    with pytest.raises(Forbidden):
        move(db, config, rid, "accept", T0 + 2 * H, by=other)
    with pytest.raises(Forbidden):
        move(db, config, rid, "transfer", T0 + 2 * H, department=ROADS, note="x", by=colleague)
    move(db, config, rid, "accept", T0 + 2 * H, by=colleague)
    # A grid worker transfers their own case anywhere.
    mine = new_case(db, config)
    assert may_move(grid, db.get(Report, mine), "transfer", to_department=ROADS)
    assert move(db, config, mine, "transfer", T0 + H, department=ROADS, note="道路", by=grid).department_code == ROADS
    assert [e.data.get("by") for e in trail(db, report_id=mine)][-1] == "w"


def test_department_figures_from_the_trail(db, city):
    config, staff, _ = city
    # A: sanitation receives, accepts, solves in 3 h from receipt, closed, rated 5.
    a = new_case(db, config)
    move(db, config, a, "transfer", T0, department=SANITATION, note="环卫")
    move(db, config, a, "accept", T0 + H)
    move(db, config, a, "resolve", T0 + 2 * H)
    move(db, config, a, "close", T0 + 3 * H)
    rate(db, report_id=a, rating=5, comment=None, now=T0 + 4 * H)
    # B: roads receives and returns it; sanitation receives it, solves in 9 h (starting: an
    # implied accept), closed, rated 2.
    b = new_case(db, config)
    move(db, config, b, "transfer", T0, department=ROADS, note="道路")
    move(db, config, b, "return", T0 + H, note="not ours")
    move(db, config, b, "transfer", T0 + H, department=SANITATION, note="环卫")
    move(db, config, b, "transfer", T0 + 2 * H, worker_id=staff["TD-SA-04"].id, note="同事")  # not a new receipt
    move(db, config, b, "start", T0 + 3 * H)
    move(db, config, b, "resolve", T0 + 4 * H)
    move(db, config, b, "close", T0 + 10 * H)
    rate(db, report_id=b, rating=2, comment=None, now=T0 + 11 * H)
    # C: sanitation receives, never acts: overdue after its 6 h.
    c = new_case(db, config)
    move(db, config, c, "transfer", T0, department=SANITATION, note="环卫")
    # D: received before the window: counted only as overdue now.
    d = new_case(db, config, at=T0 - 48 * H)
    move(db, config, d, "transfer", T0 - 48 * H, department=ROADS, note="道路")

    got = {s.code: s for s in department_stats(db, config=config, now=T0 + 12 * H, since=T0 - H, until=T0 + 24 * H)}
    assert list(got) == [SANITATION, ROADS]
    s, r = got[SANITATION], got[ROADS]
    assert (s.received, s.accepted, s.returned, s.solved, s.overdue) == (3, 2, 0, 2, 1)
    assert s.median_hours_to_close == 6.0 and s.satisfaction_rate == 0.5  # (3 + 9) / 2; one of two 4–5
    assert (r.received, r.accepted, r.returned, r.solved, r.overdue) == (1, 0, 1, 0, 1)
    assert (r.median_hours_to_close, r.satisfaction_rate, r.name_zh) == (None, None, "道路处")
    everything = {s.code: s.received for s in department_stats(db, config=config, now=T0 + 12 * H)}
    assert everything == {SANITATION: 3, ROADS: 2}


def test_missing_contacts_are_named(db, city):
    config, _, _ = city
    assert missing_contacts(db, config=config) == []
    broken = config.model_copy(update={"departments": [config.departments[0].model_copy(
        update={"contact": "NOBODY-1", "escalation": ["TD-SA-02", "NOBODY-2"]})]})
    assert missing_contacts(db, config=broken) == [
        "department sanitation: the desk contact staff_no 'NOBODY-1' is not a worker",
        "department sanitation: the escalation 2 contact staff_no 'NOBODY-2' is not a worker"]
