"""Single-report intake through the micro-batcher (the production path), on committed data."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.app import create_app
from api.batcher import IntakeBatcher
from api.settings import ApiSettings
from geo.cityconfig import load_city_config
from geo.models import Report, ReportEvent, ReportSource
from geo.reports.intake import ReportInput
from tests.api.report_helpers import body


def test_concurrent_posts_share_passes_and_never_duplicate(engine, small_city, committed_reports):
    with Session(engine) as s:
        points = s.execute(
            sa.select(sa.func.ST_X(Report.location), sa.func.ST_Y(Report.location)).limit(30)
        ).all()
    distinct = [body(location={"lon": x, "lat": y}) for x, y in points]
    retried = distinct[0]
    payloads = distinct + [retried] * 5
    committed_reports.extend(uuid.UUID(p["id"]) for p in distinct)

    async def run():
        app = create_app(engine=engine, api_settings=ApiSettings(escalation_interval_s=0, intake_batching=True))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gridmap.test") as c:
                return await asyncio.gather(*(c.post("/api/v1/reports", json=p) for p in payloads)), app

    responses, app = asyncio.run(run())
    # /metrics' view of it: every report in some pass, fewer passes than reports, each new one counted once.
    sample = app.state.metrics.registry.get_sample_value
    assert sample("gridmap_intake_pass_reports_sum") == len(payloads)
    assert sample("gridmap_intake_pass_seconds_count") < len(payloads)
    assert sample("gridmap_reports_registered_total", {"path": "single"}) == len(distinct)
    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == len(distinct) and statuses.count(200) == 5, statuses
    answers = {r.json()["id"]: r.json() for r in responses if r.status_code == 201}
    assert all(a["grid_code"] and a["status"] == "dispatched" for a in answers.values())
    assert {r.json()["grid_code"] for r in responses if r.json()["id"] == retried["id"]} == {answers[retried["id"]]["grid_code"]}
    ids = [uuid.UUID(p["id"]) for p in distinct]
    with Session(engine) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Report).where(Report.id.in_(ids))) == len(distinct)
        assert s.scalar(sa.select(sa.func.count()).select_from(ReportEvent).where(ReportEvent.report_id.in_(ids))) == 2 * len(distinct)


def test_invalid_report_is_answered_without_queueing(engine, small_city):
    async def run():
        app = create_app(engine=engine, api_settings=ApiSettings(escalation_interval_s=0, intake_batching=True))
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
                return await c.post("/api/v1/reports", json=body(category="99"))

    r = asyncio.run(run())
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "category"


def test_direct_endpoint_answers_like_the_documented_route(engine, small_city, committed_reports):
    """With batching on, POST /api/v1/reports is served by the plain endpoint: same 422s (naming
    the field), same Idempotency-Key replay, and the route is still in the OpenAPI document."""
    with Session(engine) as s:
        lon, lat = s.execute(sa.select(sa.func.ST_X(Report.location), sa.func.ST_Y(Report.location)).limit(1)).one()
    payload = body(location={"lon": lon, "lat": lat})
    payload.pop("id")
    key = f"direct-{uuid.uuid4()}"

    async def run():
        app = create_app(engine=engine, api_settings=ApiSettings(escalation_interval_s=0, intake_batching=True))
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
                missing = await c.post("/api/v1/reports", json={k: v for k, v in payload.items() if k != "location"})
                long_key = await c.post("/api/v1/reports", json=payload, headers={"Idempotency-Key": "k" * 201})
                first = await c.post("/api/v1/reports", json=payload, headers={"Idempotency-Key": key})
                again = await c.post("/api/v1/reports", json=payload, headers={"Idempotency-Key": key})
                docs = await c.get("/openapi.json")
                return missing, long_key, first, again, docs

    missing, long_key, first, again, docs = asyncio.run(run())
    assert missing.status_code == 422 and missing.json()["error"]["fields"][0]["field"] == "location"
    assert long_key.status_code == 422 and long_key.json()["error"]["fields"][0]["field"] == "idempotency-key"
    assert first.status_code == 201 and again.status_code == 200
    committed_reports.append(uuid.UUID(first.json()["id"]))
    assert again.json()["id"] == first.json()["id"] and first.json()["grid_code"]
    assert "post" in docs.json()["paths"]["/api/v1/reports"]


def test_batcher_survives_a_lost_connection(engine, small_city, committed_reports):
    """A connection that died between passes (server restart, idle cut) costs no report:
    the pass after it reconnects."""
    with Session(engine) as s:
        lon, lat = s.execute(sa.select(sa.func.ST_X(Report.location), sa.func.ST_Y(Report.location)).limit(1)).one()

    def item():
        rid = uuid.uuid4()
        committed_reports.append(rid)
        return ReportInput(id=rid, category="30", description="batcher reconnect", source=ReportSource.citizen,
                           x=lon, y=lat, reported_at=datetime.now(UTC))

    async def run():
        batcher = IntakeBatcher(engine, load_city_config())
        await batcher.start()
        try:
            first = await batcher.submit(item())
            batcher._conn.invalidate()  # as if the server had dropped it
            second = await batcher.submit(item())
            return first, second
        finally:
            await batcher.stop()

    first, second = asyncio.run(run())
    assert first.created and second.created and second.grid_code


def test_bad_reports_in_a_pass_never_fail_their_neighbours(engine, small_city, committed_reports):
    """60 concurrent posts, 10 of them with a NUL in a text field: the 50 good ones are 201."""
    with Session(engine) as s:
        points = s.execute(sa.select(sa.func.ST_X(Report.location), sa.func.ST_Y(Report.location)).limit(50)).all()
    good = [body(location={"lon": x, "lat": y}) for x, y in points]
    bad = [body(description=f"bad \u0000 {i}") if i % 2 else body(reporter={"name": "\u0000", "phone": None})
           for i in range(10)]
    committed_reports.extend(uuid.UUID(p["id"]) for p in good)
    payloads = good[:25] + bad + good[25:]

    async def run():
        app = create_app(engine=engine, api_settings=ApiSettings(escalation_interval_s=0, intake_batching=True))
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
                return await asyncio.gather(*(c.post("/api/v1/reports", json=p) for p in payloads))

    responses = asyncio.run(run())
    statuses = [r.status_code for r in responses]
    assert statuses == [201] * 25 + [422] * 10 + [201] * 25, statuses
    assert {r.json()["error"]["fields"][0]["field"] for r in responses[25:35]} == {"description", "reporter.name"}


def test_the_batched_endpoint_refuses_unknown_query_parameters_too(engine, small_city):
    payload = body()

    async def run():
        app = create_app(engine=engine, api_settings=ApiSettings(escalation_interval_s=0, intake_batching=True))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gridmap.test") as c:
                return await c.post("/api/v1/reports", params={"dryrun": "1"}, json=payload)

    r = asyncio.run(run())
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "dryrun"
    with Session(engine) as s:
        assert s.get(Report, uuid.UUID(payload["id"])) is None


def test_a_pass_the_database_refuses_is_run_again_isolated(engine, small_city, committed_reports, monkeypatch):
    """The batcher writes a pass without a savepoint; when the database refuses the write (a
    NUL slipped past validation) the pass is rolled back and run again isolated: the refused
    report alone is not stored, its neighbours are, each with its trail."""
    import geo.reports.intake

    monkeypatch.setattr(geo.reports.intake, "check_text", lambda value, *, field: None)  # let a NUL through
    with Session(engine) as s:
        points = s.execute(sa.select(sa.func.ST_X(Report.location), sa.func.ST_Y(Report.location)).limit(5)).all()
    items = [ReportInput(id=uuid.uuid4(), category="30", description="slips \u0000 past" if k == 2 else "refused pass",
                         source=ReportSource.citizen, x=x, y=y, reported_at=datetime.now(UTC))
             for k, (x, y) in enumerate(points)]
    committed_reports.extend(i.id for i in items)
    batcher = IntakeBatcher(engine, load_city_config())
    try:
        outcomes = batcher._register(items)  # one pass of all five
    finally:
        if batcher._conn is not None:
            batcher._conn.close()
    assert [o.kind.value for o in outcomes] == ["created", "created", "not_stored", "created", "created"]
    good = [i.id for k, i in enumerate(items) if k != 2]
    with Session(engine) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Report).where(Report.id.in_(good))) == 4
        assert s.get(Report, items[2].id) is None
        assert s.scalar(sa.select(sa.func.count()).select_from(ReportEvent).where(ReportEvent.report_id.in_(good))) >= 4
