"""The dispatcher's case page in the real browser (Debian's Chromium; see test_browser.py).

Its own database (tokens issued there close the service for good, which the session's
open-mode browser tests must not see): the tiny city, where grid 003 has nobody on duty
and no community lead, so its new cases wait at the desk as `registered`; then the grid's
worker comes on shift. A dispatcher signs in, opens a case from the command centre's popup,
dispatches it to the grid's worker, escalates it and marks it a duplicate of the case next
to it; the worker sees their own case with their actions only; the reporter's view of the
same URL shows nothing of the desk.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.access.roles import WORKER_ACTIONS
from geo.models import Assignment, AssignmentRole, Report, Worker, WorkerRole
from tests import images
from tests.conftest import fresh_database, serving
from tests.maps.test_browser import Watched, browser  # noqa: F401 - the module's Chromium fixture
from tests.tiny_city import COMMUNITY, GRIDS

G1, G2, G3, G4 = GRIDS
IN_G3 = (116.4050, 39.9050)
NEXT_DOOR = (116.4052, 39.9052)  # ~28 m away: a duplicate candidate
REPORTER = {"name": "王小明", "phone": "13912345678"}


class Desk(NamedTuple):
    base: str
    engine: sa.Engine
    dispatcher: str
    worker: str
    worker_id: int
    case: str  # registered in grid 003, waiting for the desk
    earlier: str  # the report next to it, filed first
    workers_case: str  # dispatched to the grid 003 worker once on shift
    workers_case_token: str
    to_transfer: str  # dispatched in grid 003, for the city management department
    desk_worker_id: int


def _file(base: str, auth: dict, at, description: str, **extra) -> dict:
    body = {"id": str(uuid.uuid4()), "category": "30", "subcategory": "3001", "description": description,
            "source": "hotline_12345", "location": {"lon": at[0], "lat": at[1]},
            "reported_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(), "reporter": REPORTER, **extra}
    r = httpx.post(f"{base}/api/v1/reports", json=body, headers=auth, timeout=10)
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture(scope="module")
def desk(tmp_path_factory) -> Iterator[Desk]:
    from geo.access.roles import Principal, Role
    from geo.access.tokens import issue_token
    from geo.reports.dispatch import update_position
    from tests.tiny_city import add_workers, build_tiny_city

    with fresh_database() as url:
        engine = sa.create_engine(url)
        try:
            with Session(engine) as s:
                build_tiny_city(s)
                workers = add_workers(s)
                mine, backup = workers[G3], workers[G4]  # G4's worker backs up G3
                mine.on_duty = backup.on_duty = False
                s.execute(sa.delete(Assignment).where(Assignment.area_code == COMMUNITY,
                                                      Assignment.role == AssignmentRole.lead))
                now = datetime.now(UTC)
                for w, (lon, lat) in ((workers[G1], (116.4050, 39.9150)), (mine, (116.4060, 39.9040)),
                                      (workers[G2], (116.4150, 39.9150))):
                    update_position(s, worker_id=w.id, lon=lon, lat=lat, at=now - timedelta(minutes=2))
                desk_worker = Worker(staff_no="D-CM-01", name="城管受理", phone="13700000001", public_name="城管受理员",
                                     role=WorkerRole.grid_worker, department_code="city_management")  # city.toml's desk
                s.add(desk_worker)
                s.flush()
                cli = Principal(Role.admin, holder="test")
                dispatcher = issue_token(s, role=Role.dispatcher, name="王芳", actor=cli).token
                worker = issue_token(s, role=Role.worker, name="张网格员3", actor=cli, worker_id=mine.id).token
                worker_id, desk_id = mine.id, desk_worker.id
                s.commit()
            with serving(url, media_dir=tmp_path_factory.mktemp("media")) as base:
                auth = {"Authorization": f"Bearer {dispatcher}"}
                earlier = _file(base, auth, IN_G3, "垃圾堆在路口 rubbish at the crossing")
                case = _file(base, auth, NEXT_DOOR, "路口垃圾没人清 rubbish nobody clears")
                assert case["status"] == "registered" and earlier["id"] in case["possible_duplicates"]
                r = httpx.post(f"{base}/api/v1/reports/{case['id']}/photos", headers=auth, timeout=10,
                               files={"photo": ("p.png", images.png((48, 32), (30, 140, 60)), "image/png")})
                assert r.status_code == 201, r.text
                with Session(engine) as s:  # the grid's worker comes on shift
                    s.get(Worker, worker_id).on_duty = True
                    s.commit()
                theirs = _file(base, auth, (116.4080, 39.9020), "井盖松动 loose manhole cover")
                assert theirs["status"] == "dispatched" and theirs["worker"]["id"] == worker_id
                transfer = _file(base, auth, (116.4020, 39.9080), "占道经营 street stalls on the pavement")
                yield Desk(base, engine, dispatcher, worker, worker_id, case["id"], earlier["id"], theirs["id"],
                           theirs["case_token"], transfer["id"], desk_id)
        finally:
            engine.dispose()


def sign_in(w: Watched, base: str, token: str) -> None:
    w.page.goto(f"{base}/maps/login", wait_until="load")
    w.page.fill("input[name=token]", token)
    w.page.click("button[type=submit]")
    w.page.wait_for_url(f"{base}/maps/command-center", wait_until="load")


def wait_for_desk(page) -> None:
    page.wait_for_selector("#desk:not([hidden])", timeout=10_000)
    page.wait_for_selector("#c-trail tr", timeout=10_000)


def db_row(desk: Desk, rid: str):
    with desk.engine.connect() as conn:
        return conn.execute(sa.select(Report.status, Report.assigned_worker_id, Report.escalation_level,
                                      Report.duplicate_of).where(Report.id == uuid.UUID(rid))).one()


def test_the_dispatchers_desk(browser, desk):  # noqa: F811 - the fixture imported above
    w = Watched(browser, desk.base)
    try:
        page = w.page
        sign_in(w, desk.base, desk.dispatcher)
        # The wall's live layer: the case's marker opens a popup linking to its page.
        marker = page.locator(f".gm-report-{desk.case}")
        marker.wait_for(state="attached", timeout=10_000)
        marker.dispatch_event("click")
        page.locator(".leaflet-popup-content .gm-case-link").wait_for()
        page.wait_for_function("() => getComputedStyle(document.querySelector('.leaflet-popup')).opacity === '1'")
        w.shot("command-center-case-popup")  # once faded in
        page.locator(".leaflet-popup-content .gm-case-link").click()
        page.wait_for_url(f"{desk.base}/cases/{desk.case}")
        wait_for_desk(page)

        assert "Registered" in page.locator("#c-status").inner_text()
        assert "Due in" in page.locator("#c-due").inner_text()
        assert page.locator("#c-grid").inner_text().startswith(G3)
        assert page.locator("#c-reporter").inner_text() == "王小明 · 13912345678"  # a dispatcher reads it
        assert "路口垃圾没人清" in page.locator("#c-description").inner_text()
        assert "城市管理" in page.locator("#c-category").inner_text()
        page.wait_for_selector("#map path.gm-grid-outline")
        page.wait_for_selector("#map path.gm-case-point")
        page.wait_for_function("() => { const i = document.querySelector('#c-photos img'); return i && i.complete && i.naturalWidth === 48; }")
        assert page.locator("#c-trail tr").count() == 2  # registered, photo
        actions = page.locator("#action-buttons button").evaluate_all("bs => bs.map(b => b.dataset.action)")
        allowed = httpx.get(f"{desk.base}/api/v1/reports/{desk.case}", timeout=10,
                            headers={"Authorization": f"Bearer {desk.dispatcher}"}).json()["allowed"]
        assert actions == allowed and {"dispatch", "reject", "mark_duplicate", "escalate"} <= set(actions)
        w.shot("case-desk-registered")

        # Dispatch: the picker offers the grid's worker first, then the nearest on duty.
        page.click("button[data-action=dispatch]")
        page.wait_for_function("() => document.querySelectorAll('#worker option').length >= 2")
        options = page.locator("#worker option").all_inner_texts()
        assert options[0].startswith("责任网格员 grid's worker") and "张网格员3" in options[0], options
        assert any("on duty" in o and "张网格员1" in o for o in options), options
        assert page.locator("#worker").input_value() == str(desk.worker_id)
        page.fill("#note", "请今天处理 today please")
        page.click("#af-send")
        page.wait_for_selector("#c-trail tr.ev-dispatch")
        assert "Dispatched" in page.locator("#c-status").inner_text()
        status, worker, level, _ = db_row(desk, desk.case)
        assert (status.value, worker, level) == ("dispatched", desk.worker_id, 0)

        # Escalate, with the level seen.
        page.click("button[data-action=escalate]")
        assert "level 0, goes to level 1" in page.locator("#af-level").inner_text()
        page.click("#af-send")
        page.wait_for_selector("#c-trail tr.ev-escalate")
        assert page.locator("#c-escalation").inner_text().startswith("第 1 级 level 1")
        assert db_row(desk, desk.case)[2] == 1

        # Mark a duplicate: the candidate next door, from the list (and on the map).
        page.click("button[data-action=mark_duplicate]")
        page.wait_for_selector(f"#candidates input[value='{desk.earlier}']")
        cand = page.locator("#candidates label.cand").first.inner_text()
        assert "suggested at intake" in cand and "垃圾堆在路口" in cand
        assert page.locator("#map .leaflet-overlay-pane path").count() >= 3  # grid, case, candidate
        page.check(f"#candidates input[value='{desk.earlier}']")
        assert page.locator("#duplicate-of").input_value() == desk.earlier
        w.shot("case-desk-duplicate-candidates")
        page.click("#af-send")
        page.wait_for_selector("#c-trail tr.ev-mark_duplicate")
        assert "Duplicate" in page.locator("#c-status").inner_text()
        assert page.locator("#c-duplicate a").inner_text() == desk.earlier
        assert page.locator("#no-actions").is_visible()
        status, _, _, original = db_row(desk, desk.case)
        assert status.value == "duplicate" and str(original) == desk.earlier
        trail = page.locator("#c-trail").inner_text()
        assert "请今天处理" in trail and "dispatcher 王芳" in trail
        w.shot("case-desk-done")
        w.check()
    finally:
        w.close()


def test_transfer_to_the_owning_department_and_back(browser, desk):  # noqa: F811
    w = Watched(browser, desk.base)
    try:
        page = w.page
        sign_in(w, desk.base, desk.dispatcher)
        page.goto(f"{desk.base}/cases/{desk.to_transfer}", wait_until="load")
        wait_for_desk(page)
        page.click("button[data-action=transfer]")
        page.wait_for_function("() => document.querySelectorAll('#department option').length >= 6")
        picked = page.locator("#department option:checked").inner_text()
        assert picked.startswith("city_management") and picked.endswith("★"), picked  # it owns category 30
        page.click("#af-send")  # no reason: refused here, nothing sent
        assert page.locator("#c-trail tr.ev-transfer").count() == 0
        page.fill("#note", "占道经营归城管 street trading is the bureau's")
        page.click("#af-send")
        page.wait_for_selector("#c-trail tr.ev-transfer")
        assert page.locator("#c-department").inner_text() == "city_management · 待签收 not accepted yet"
        assert page.locator("#c-worker").inner_text().startswith("城管受理员")
        with desk.engine.connect() as conn:
            dept, worker = conn.execute(sa.select(Report.department_code, Report.assigned_worker_id)
                                        .where(Report.id == uuid.UUID(desk.to_transfer))).one()
        assert (dept, worker) == ("city_management", desk.desk_worker_id)
        w.shot("case-desk-transferred")
        # The department says it is not theirs (a dispatcher may record that on its behalf).
        page.click("button[data-action=return]")
        page.fill("#note", "不属本局 not ours")
        page.click("#af-send")
        page.wait_for_selector("#c-trail tr.ev-return")
        assert "Registered" in page.locator("#c-status").inner_text()
        assert page.locator("#c-department").inner_text() == "退回 returned 1×"
        w.check()
    finally:
        w.close()


def test_a_worker_sees_their_own_case_with_their_actions(browser, desk):  # noqa: F811
    w = Watched(browser, desk.base)
    try:
        sign_in(w, desk.base, desk.worker)
        w.page.goto(f"{desk.base}/cases/{desk.workers_case}", wait_until="load")
        wait_for_desk(w.page)
        actions = w.page.locator("#action-buttons button").evaluate_all("bs => bs.map(b => b.dataset.action)")
        assert {"start", "resolve", "escalate"} <= set(actions) <= WORKER_ACTIONS  # never the desk's
        assert w.page.locator("#c-reporter").inner_text() == "王小明 · 13912345678"  # their own case
        w.page.click("button[data-action=start]")
        w.page.click("#af-send")
        w.page.wait_for_selector("#c-trail tr.ev-start")
        assert "In progress" in w.page.locator("#c-status").inner_text()
        w.shot("case-desk-worker")
        w.check()
    finally:
        w.close()


def test_the_reporters_view_of_the_same_url_shows_no_desk(browser, desk):  # noqa: F811
    w = Watched(browser, desk.base)
    api_calls: list[str] = []
    w.page.on("request", lambda r: api_calls.append(r.url) if "/api/" in r.url else None)
    try:
        page = w.page
        page.goto(f"{desk.base}/cases/{desk.case}", wait_until="load")  # no cookie, no token
        page.wait_for_selector("#unlock:not([hidden])")
        html = page.content()
        assert "case_staff" not in html and 'id="desk"' not in html
        assert api_calls == []  # nothing to read without the case token
        page.goto(f"{desk.base}/cases/{desk.workers_case}#t={desk.workers_case_token}", wait_until="load")
        page.wait_for_selector("#case:not([hidden])")
        shown = page.locator("body").inner_text()
        for staff_only in ("王小明", "13912345678", "loose manhole", "张网格员3 ·", "dispatcher 王芳", "Reporter"):
            assert staff_only not in shown, staff_only
        assert "张网格员3" in shown  # the worker's public name, as the reporter's page always showed
        w.shot("case-reporter-view")
        w.check()
    finally:
        w.close()
