"""The worker's phone pages in the real browser (Debian's Chromium) at a phone's viewport: sign
in with a worker token, the queue in order, a case started, photographed and resolved, the
position shared; nothing requested from another host, no console error. Screenshots go to
test-output/browser/worker-*.png.

A database of its own (the tiny city, committed): issuing a token closes a service for good,
and the other browser tests use the session's database open.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.access.roles import Principal, Role
from geo.access.tokens import issue_token
from geo.models import Report, ReportEvent, Worker, WorkerRole
from tests import images
from tests.api.report_helpers import body
from tests.conftest import fresh_database, serving
from tests.maps.test_browser import OUT, Watched, browser  # noqa: F401 - the shared fixture
from tests.tiny_city import GRIDS, add_workers, build_tiny_city

__all__ = ["browser"]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True,
         "locale": "zh-CN", "timezone_id": "Asia/Shanghai"}
HERE = {"longitude": 116.4052, "latitude": 39.9147}  # in grid 001, where the worker stands


class City:
    def __init__(self, base: str, token: str, worker_id: int, cases: list[str], url: str):
        self.base, self.token, self.worker_id, self.cases, self.url = base, token, worker_id, cases, url


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> Iterator[City]:
    """The tiny city in a database of its own, a worker token for grid 001's worker, and four
    of their cases with known due times (one overdue), filed through the API."""
    with fresh_database() as url:
        eng = sa.create_engine(url)
        try:
            with Session(eng) as s:
                build_tiny_city(s)
                worker = add_workers(s)[next(iter(GRIDS))]
                # The desk of the demo configuration's city_management (owner of category 30).
                s.add(Worker(staff_no="D-CM-01", name="城管受理员", public_name="城管局受理员",
                             role=WorkerRole.grid_worker, department_code="city_management"))
                token = issue_token(s, role=Role.worker, name="phone of 张网格员1", worker_id=worker.id,
                                    actor=Principal(Role.admin, holder="test")).token
                worker_id = worker.id
                s.commit()
            with serving(url, media_dir=tmp_path_factory.mktemp("media"), token_cache_s=0) as base:
                ids = []
                for i, desc in enumerate(("井盖缺失", "路面垃圾", "路灯不亮", "占道经营")):
                    payload = body(description=desc, location={"lon": 116.403 + i * 0.001, "lat": 39.913})
                    r = httpx.post(f"{base}/api/v1/reports", json=payload)
                    assert r.status_code == 201, r.text
                    ids.append(payload["id"])
                now = datetime.now(UTC)
                dues = [now + timedelta(hours=6), now - timedelta(hours=2), now + timedelta(hours=1), None]
                with eng.begin() as conn:
                    for rid, due in zip(ids, dues):
                        conn.execute(sa.update(Report).where(Report.id == uuid.UUID(rid)).values(due_at=due))
                # overdue first, then by due time, the undated last
                yield City(base, token, worker_id, [ids[1], ids[2], ids[0], ids[3]], url)
        finally:
            eng.dispose()


@pytest.fixture()
def phone(browser, city) -> Iterator[Watched]:  # noqa: F811
    w = Watched.__new__(Watched)
    from urllib.parse import urlsplit

    w.host = urlsplit(city.base).netloc
    w.context = browser.new_context(**PHONE, geolocation=HERE, permissions=["geolocation"])
    w.page = w.context.new_page()
    w.foreign, w.errors, w.fake_pages = [], [], {}
    w.page.route("**/*", w._route)
    w.page.on("console", lambda m: w.errors.append(m.text) if m.type == "error" and not _expected(m.text) else None)
    w.page.on("pageerror", lambda e: w.errors.append(str(e)))
    yield w
    w.close()


def _expected(text: str) -> bool:
    """The sign-in form is served with status 401, which Chromium reports as a failed load."""
    return "status of 401" in text


def test_a_worker_runs_their_queue_from_a_phone(phone, city):
    page, base = phone.page, city.base
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status) if r.url.endswith("/api/v1/me/cases") else None)

    # Not signed in: the form; a wrong token says so; the worker's token opens the queue.
    page.goto(f"{base}/worker", wait_until="load")
    page.fill("#token", "not-a-token")
    page.click("#login button[type=submit]")
    page.wait_for_selector("#login-error")
    page.fill("#token", city.token)
    page.click("#login button[type=submit]")
    page.wait_for_url(f"{base}/worker")
    page.wait_for_selector("#queue li[data-id]")
    assert page.eval_on_selector_all("#queue li[data-id]", "els => els.map(e => e.dataset.id)") == city.cases
    assert page.locator("#queue li").first.get_attribute("class") == "overdue"
    assert "超期" in page.locator("#queue li").first.inner_text()
    assert "共 4 件待办" in page.locator("#count").inner_text()
    assert "张网格员1" in page.locator("#me").inner_text()
    phone.shot("worker-queue")

    # Refresh: the queue is unchanged, so the answer is a 304 and the list stays.
    with page.expect_response(lambda r: r.url.endswith("/api/v1/me/cases")) as answer:
        page.click("#refresh")
    assert answer.value.status == 304 and statuses[0] == 200, statuses
    assert page.locator("#queue li[data-id]").count() == 4

    # Share my position: the browser's WGS-84 fix reaches the worker's record.
    page.click("#share")
    page.wait_for_selector("#status.ok")
    assert "位置已分享" in page.locator("#status").inner_text()
    with sa.create_engine(city.url).connect() as conn:
        lon, lat = conn.execute(sa.select(sa.func.ST_X(Worker.last_position), sa.func.ST_Y(Worker.last_position))
                                .where(Worker.id == city.worker_id)).one()
    assert (round(lon, 4), round(lat, 4)) == (HERE["longitude"], HERE["latitude"])

    # Open the overdue case: details, the map with its point, the trail, its actions.
    first = city.cases[0]
    page.click(f"#queue li[data-id='{first}'] a")
    page.wait_for_url(f"{base}/worker/cases/{first}")
    page.wait_for_selector("#case:not([hidden])")
    assert "路面垃圾" in page.locator("#c-description").inner_text()
    assert "王小明" in page.locator("#c-reporter").inner_text()  # their own case: the reporter's contact
    assert page.locator("#c-reporter a[href^='tel:']").count() == 1
    assert page.locator("#map.leaflet-container").count() == 1
    page.wait_for_selector("#map path.leaflet-interactive")  # the point
    assert page.locator(f"a[href='/cases/{first}']").count() == 1  # the staff case page
    assert page.locator("#act-start").is_visible() and page.locator("#act-resolve").is_visible()
    phone.shot("worker-case")

    page.click("#act-start")
    page.wait_for_function("() => document.getElementById('c-status').textContent.indexOf('处置中') >= 0")
    assert not page.locator("#act-start").is_visible()

    page.set_input_files("#photo", files=[{"name": "after.png", "mimeType": "image/png", "buffer": images.png()}])
    page.click("#send-photo")
    page.wait_for_function("() => document.getElementById('c-photos').textContent === '1'")
    assert "照片已上传" in page.locator("#status").inner_text()

    page.fill("#resolve-note", "已清理完毕")
    page.click("#act-resolve")
    page.wait_for_function("() => document.getElementById('c-status').textContent.indexOf('已处置') >= 0")
    trail = page.locator("#c-trail").inner_text()
    for word in ("开始处置", "添加照片", "处置完成", "已清理完毕"):
        assert word in trail, trail
    phone.shot("worker-case-resolved")

    # Back to the queue: the resolved case has left it.
    page.click("#back")
    page.wait_for_url(f"{base}/worker")
    page.wait_for_function("() => document.querySelectorAll('#queue li[data-id]').length === 3")
    assert page.eval_on_selector_all("#queue li[data-id]", "els => els.map(e => e.dataset.id)") == city.cases[1:]
    with sa.create_engine(city.url).connect() as conn:
        status, photos = conn.execute(sa.select(Report.status, Report.photos).where(Report.id == uuid.UUID(first))).one()
    assert status.value == "resolved" and len(photos) == 1
    phone.check()
    assert (OUT / "worker-queue.png").exists()


def sign_in(page, city: City) -> None:
    page.goto(f"{city.base}/worker/login", wait_until="load")
    page.fill("#token", city.token)
    page.click("#login button[type=submit]")
    page.wait_for_url(f"{city.base}/worker")
    page.wait_for_selector("#queue li[data-id]")


def test_a_worker_transfers_a_case_to_a_department_with_a_reason(phone, city):
    page, rid = phone.page, city.cases[-1]
    sign_in(page, city)
    page.goto(f"{city.base}/worker/cases/{rid}", wait_until="load")
    page.wait_for_selector("#transfer:not([hidden])")
    page.click("#transfer summary")
    page.wait_for_selector("#department option[value='city_management']", state="attached")
    names = page.eval_on_selector_all("#department option", "els => els.map(e => e.value)")
    assert names[0] == "" and "city_management" in names and "housing" in names
    page.select_option("#department", "city_management")
    page.click("#act-transfer")  # no reason yet: the browser asks for one, nothing is sent
    assert page.eval_on_selector("#transfer-note", "e => e.validity.valueMissing") is True
    page.fill("#transfer-note", "违法建设，属城管执法")
    phone.shot("worker-transfer")
    page.click("#act-transfer")
    page.wait_for_function("() => document.getElementById('c-trail').textContent.indexOf('转办') >= 0")
    assert page.locator("#transfer").is_hidden() and page.locator("#act-start").is_hidden()
    # No longer theirs: the page shows the public trail (the reason is the department's to read).
    assert "违法建设" not in page.locator("#c-trail").inner_text()
    with sa.create_engine(city.url).connect() as conn:
        dept, worker = conn.execute(sa.select(Report.department_code, Worker.staff_no)
                                    .join(Worker, Worker.id == Report.assigned_worker_id)
                                    .where(Report.id == uuid.UUID(rid))).one()
        note = conn.scalar(sa.select(ReportEvent.note).where(ReportEvent.report_id == uuid.UUID(rid),
                                                             ReportEvent.action == "transfer"))
    assert (dept, worker, note) == ("city_management", "D-CM-01", "违法建设，属城管执法")
    page.click("#back")
    page.wait_for_selector("#queue li[data-id]")
    assert rid not in page.eval_on_selector_all("#queue li[data-id]", "els => els.map(e => e.dataset.id)")
    phone.check()
