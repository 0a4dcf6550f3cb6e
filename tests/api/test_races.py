"""Concurrent requests on one case, on committed data through the real app: every 201 is a
photo kept and the limit holds; a double escalation escalates once; crossed duplicate marks
never deadlock into a 503 (hardening issue, defects 5 and 8)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.app import create_app
from api.settings import ApiSettings
from geo.models import Report, ReportEvent
from tests import images
from tests.api.report_helpers import body
from tests.conftest import STAFF, STAFF_TOKEN


def png(i: int) -> bytes:
    return images.png((16, 16), (i * 17 % 256, i * 5 % 256, 90))


@pytest.fixture()
def point(engine, small_city):
    with Session(engine) as s:
        return s.execute(sa.select(sa.func.ST_X(Report.location), sa.func.ST_Y(Report.location))
                         .where(Report.grid_code.is_not(None)).limit(1)).one()


def run_app(engine, tmp_path: Path, requests):
    """Run ``requests(client)`` (a coroutine factory) against a real app; returns its result."""
    async def go():
        app = create_app(engine=engine, api_settings=ApiSettings(
            escalation_interval_s=0, staff_tokens=STAFF_TOKEN, media_dir=tmp_path))
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", timeout=60) as c:
                return await requests(c)
    return asyncio.run(go())


def file_case(engine, tmp_path, point, committed_reports, **over) -> tuple[str, str]:
    payload = body(location={"lon": point[0], "lat": point[1]}, **over)
    committed_reports.append(uuid.UUID(payload["id"]))

    async def go(c):
        r = await c.post("/api/v1/reports", json=payload)
        assert r.status_code == 201, r.text
        return r.json()["case_token"]
    return payload["id"], run_app(engine, tmp_path, go)


def test_concurrent_photo_uploads_keep_every_201_and_the_limit(engine, tmp_path, point, committed_reports):
    rid, token = file_case(engine, tmp_path, point, committed_reports)

    async def go(c):
        h = {"X-Case-Token": token}
        distinct = await asyncio.gather(*(c.post(f"/api/v1/reports/{rid}/photos", headers=h,
                                                 files={"photo": (f"{i}.png", png(i), "image/png")}) for i in range(12)))
        same = await asyncio.gather(*(c.post(f"/api/v1/reports/{rid}/photos", headers=h,
                                             files={"photo": ("p.png", png(0), "image/png")}) for _ in range(10)))
        return distinct, same

    distinct, same = run_app(engine, tmp_path, go)
    statuses = [r.status_code for r in distinct]
    assert set(statuses) <= {201, 422} and statuses.count(201) == 9, statuses
    assert all(r.json()["error"]["fields"][0]["field"] == "photo" for r in distinct if r.status_code == 422)
    with Session(engine) as s:
        stored = s.get(Report, uuid.UUID(rid)).photos
        events = s.scalar(sa.select(sa.func.count()).select_from(ReportEvent)
                          .where(ReportEvent.report_id == uuid.UUID(rid), ReportEvent.action == "photo"))
    assert len(stored) == 9 and events == 9
    answered = {r.json()["photos"][-1] for r in distinct if r.status_code == 201}
    assert answered <= set(stored)
    files = sorted(p.name for p in (tmp_path / rid).iterdir())
    assert files == sorted(u.rsplit("/", 1)[1] for u in stored), "every kept photo on disk, no orphans, no temp files"
    # The same photo ten times at once: no 500 (no shared temporary file), nothing new.
    assert {r.status_code for r in same} <= {201, 422}, [r.text for r in same if r.status_code >= 500]


def test_double_escalation_escalates_once(engine, tmp_path, point, committed_reports):
    rid, _ = file_case(engine, tmp_path, point, committed_reports)
    rid2, _ = file_case(engine, tmp_path, point, committed_reports)

    async def go(c):
        expected = await asyncio.gather(*(c.post(f"/api/v1/reports/{rid}/transitions", headers=STAFF, json={
            "action": "escalate", "actor": "desk", "expected_level": 0}) for _ in range(20)))
        keyed = await asyncio.gather(*(c.post(f"/api/v1/reports/{rid2}/transitions",
                                              headers={**STAFF, "Idempotency-Key": "esc-1"},
                                              json={"action": "escalate", "actor": "desk"}) for _ in range(20)))
        return expected, keyed

    expected, keyed = run_app(engine, tmp_path, go)
    assert sorted(r.status_code for r in expected) == [200] + [409] * 19
    assert all(r.json()["error"]["escalation_level"] == 1 for r in expected if r.status_code == 409)
    assert {r.status_code for r in keyed} == {200}
    with Session(engine) as s:
        assert s.get(Report, uuid.UUID(rid)).escalation_level == 1
        assert s.get(Report, uuid.UUID(rid2)).escalation_level == 1


def test_crossed_duplicate_marks_do_not_deadlock(engine, tmp_path, point, committed_reports):
    for _ in range(3):
        a, _ = file_case(engine, tmp_path, point, committed_reports)
        b, _ = file_case(engine, tmp_path, point, committed_reports)

        async def go(c):
            return await asyncio.gather(
                *(c.post(f"/api/v1/reports/{x}/transitions", headers=STAFF,
                         json={"action": "mark_duplicate", "actor": "desk", "duplicate_of": y})
                  for x, y in ((a, b), (b, a)) * 3))

        statuses = sorted(r.status_code for r in run_app(engine, tmp_path, go))
        assert 503 not in statuses and 500 not in statuses, statuses
        assert statuses.count(200) == 1, statuses  # one of the two is the original; the rest are refused
        with Session(engine) as s:
            pair = [s.get(Report, uuid.UUID(x)) for x in (a, b)]
            assert sorted(p.status.value for p in pair) == ["dispatched", "duplicate"]
