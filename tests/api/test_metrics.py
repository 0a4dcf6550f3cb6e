"""/metrics: who may read it, and what it says after reports, escalation and webhooks.

Scraped through the client and parsed with prometheus_client's own parser. The session
database may hold small_city's committed reports, so database figures are compared before
and after (the tiny city's reports are the only change in between).
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session

from api.app import create_app
from api.settings import ApiSettings
from geo.models import Report
from geo.reports.workflow import escalate_overdue
from geo.settings import DatabaseSettings
from geo.webhooks import enqueue
from tests.api.report_helpers import body
from tests.conftest import STAFF

SCRAPE = "scrape-token-for-tests-0123456789"


def scrape(client, headers=STAFF) -> dict:
    """(sample name, sorted labels) -> value."""
    r = client.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: dict, name: str, **labels) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.fixture()
def metrics_client(client):
    client.app.state.metrics.cache_s = 0  # each scrape reads the database (the default caches 5 s)
    return client


def test_only_admin_or_the_scrape_token_reads_metrics(engine, db, tokens):
    app = create_app(engine=engine, api_settings=ApiSettings(staff_tokens="admin-bootstrap", metrics_token=SCRAPE,
                                                             escalation_interval_s=0, intake_batching=False))
    from api.deps import get_session_opener
    from contextlib import nullcontext
    app.dependency_overrides[get_session_opener] = lambda: (lambda: nullcontext(db))
    with TestClient(app) as c:
        c.app.state.authenticator._sessionmaker = lambda: nullcontext(db)
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE}x"}).status_code == 401
        for role in ("worker", "dispatcher", "planner", "system"):
            r = c.get("/metrics", headers={"Authorization": tokens[role]})
            assert r.status_code == 403, (role, r.text)
            assert "GRIDMAP_METRICS_TOKEN" not in r.text or "admin" in r.text
        assert c.get("/metrics", headers={"Authorization": tokens["admin"]}).status_code == 200
        assert c.get("/metrics", headers={"Authorization": "Bearer admin-bootstrap"}).status_code == 200
        assert c.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE}"}).status_code == 200
        # The scrape token opens /metrics only: elsewhere it is an unknown token.
        assert c.get("/api/v1/categories", headers={"Authorization": f"Bearer {SCRAPE}"}).status_code == 401
        # A cookie does not carry it.
        c.cookies.set("gridmap_staff", SCRAPE)
        assert c.get("/metrics").status_code == 401


def test_metrics_after_reports_escalation_and_webhooks(metrics_client, db, tiny, tokens):
    client = metrics_client
    before = scrape(client)
    assert value(before, "gridmap_active_generation") == tiny.generation
    ids = []
    for _ in range(3):
        payload = body()
        assert client.post("/api/v1/reports", json=payload).status_code == 201
        ids.append(payload["id"])
    retry = client.post("/api/v1/reports", json=payload)
    assert retry.status_code == 200  # a retry is not a registration
    batch = client.post("/api/v1/reports/batch", json={"reports": [body(), body()]}, headers=STAFF)
    assert batch.json()["created"] == 2
    # Two of the single reports are overdue by an hour.
    db.execute(sa.update(Report).where(Report.id.in_([uuid.UUID(i) for i in ids[:2]]))
               .values(due_at=datetime.now(UTC) - timedelta(hours=1)))
    # A webhook for the system's filings, and a case it files: its events wait to be sent.
    assert client.post("/api/v1/webhooks", json={"url": "https://hotline.example/gridmap", "system": "test-hotline"},
                       headers={"Authorization": tokens["admin"]}).status_code == 201
    assert client.post("/api/v1/reports", json=body(), headers={"Authorization": tokens["system"]}).status_code == 201
    queued = enqueue(db, now=datetime.now(UTC))
    assert queued >= 1
    db.flush()

    after = scrape(client)
    d = lambda name, **lab: value(after, name, **lab) - value(before, name, **lab)  # noqa: E731
    assert d("gridmap_reports_registered_total", path="single") == 4
    assert d("gridmap_reports_registered_total", path="batch") == 2
    assert value(after, "gridmap_reports_registered_total", path="open311") == 0
    assert d("gridmap_overdue_cases") == 2
    assert d("gridmap_webhook_backlog", status="pending") == queued
    assert d("gridmap_webhook_backlog", status="failed") == 0
    assert value(after, "gridmap_intake_queue_depth") == 0  # batching is off in this client
    assert value(after, "gridmap_http_request_duration_seconds_count",
                 method="POST", route="/api/v1/reports", status="201") == 4
    assert value(after, "gridmap_http_request_duration_seconds_count",
                 method="POST", route="/api/v1/reports", status="200") == 1
    assert value(after, "gridmap_http_request_duration_seconds_count",
                 method="GET", route="/metrics", status="200") >= 1
    assert ("gridmap_escalation_last_run_timestamp_seconds", ()) not in after  # never ran

    # What the escalation loop does after each run (api.jobs.run_periodic).
    ran_at = time.time()
    run = escalate_overdue(db, config=client.app.state.city_config, now=datetime.now(UTC))
    client.app.state.metrics.escalation_ran(moved=run.moved, failed=len(run.failed))
    later = scrape(client)
    assert value(later, "gridmap_escalation_escalated_cases_total") - value(
        after, "gridmap_escalation_escalated_cases_total") == run.moved >= 2
    assert ran_at <= value(later, "gridmap_escalation_last_run_timestamp_seconds") <= time.time()


def test_database_figures_are_cached(client, db, tiny):
    client.app.state.metrics.cache_s = 300
    first = scrape(client)
    payload = body()
    assert client.post("/api/v1/reports", json=payload).status_code == 201
    db.execute(sa.update(Report).where(Report.id == uuid.UUID(payload["id"]))
               .values(due_at=datetime.now(UTC) - timedelta(hours=1)))
    assert value(scrape(client), "gridmap_overdue_cases") == value(first, "gridmap_overdue_cases")
    client.app.state.metrics.cache_s = 0
    assert value(scrape(client), "gridmap_overdue_cases") == value(first, "gridmap_overdue_cases") + 1


def test_the_running_service_counts_its_batcher_and_escalation_loop(scratch_database):
    """The real wiring: the intake batcher and the escalation loop of a served app."""
    from tests.tiny_city import add_workers, build_tiny_city

    engine = sa.create_engine(scratch_database)
    try:
        with Session(engine) as session:
            build_tiny_city(session)
            add_workers(session)
            session.commit()
        app = create_app(db_settings=DatabaseSettings(url=scratch_database), api_settings=ApiSettings(
            staff_tokens="admin-bootstrap", metrics_token=SCRAPE, escalation_interval_s=0.2, intake_batching=True,
            metrics_cache_s=0))
        headers = {"Authorization": f"Bearer {SCRAPE}"}
        with TestClient(app) as c:
            ids = []
            for _ in range(3):
                payload = body()
                assert c.post("/api/v1/reports", json=payload).status_code == 201
                ids.append(uuid.UUID(payload["id"]))
            with engine.begin() as conn:
                conn.execute(sa.update(Report).where(Report.id == ids[0])
                             .values(due_at=datetime.now(UTC) - timedelta(hours=1)))
            assert c.get("/openapi.json").status_code == 200
            s = scrape(c, headers)
            assert value(s, "gridmap_reports_registered_total", path="single") == 3
            # The batched intake and /openapi.json are plain routes at the top: still by template.
            assert value(s, "gridmap_http_request_duration_seconds_count",
                         method="POST", route="/api/v1/reports", status="201") == 3
            assert value(s, "gridmap_http_request_duration_seconds_count",
                         method="GET", route="/openapi.json", status="200") == 1
            assert value(s, "gridmap_intake_pass_seconds_count") == 3  # one report at a time: a pass each
            assert value(s, "gridmap_intake_pass_reports_sum") == 3
            assert value(s, "gridmap_intake_pass_seconds_sum") > 0
            assert value(s, "gridmap_intake_queue_depth") == 0
            assert value(s, "gridmap_intake_pass_errors_total") == 0
            assert value(s, "gridmap_escalation_interval_seconds") == 0.2
            deadline = time.monotonic() + 30
            while value(s, "gridmap_escalation_escalated_cases_total") < 1:  # the loop's next run takes it
                assert time.monotonic() < deadline, "the escalation loop never escalated the overdue case"
                time.sleep(0.1)
                s = scrape(c, headers)
            assert time.time() - 30 < value(s, "gridmap_escalation_last_run_timestamp_seconds") <= time.time()
            assert 0 <= value(s, "gridmap_escalation_lag_seconds") < 5
    finally:
        engine.dispose()


def test_queue_depth_and_failed_passes_of_the_batcher():
    """While a pass runs, the reports arriving wait in the queue; a failing pass is counted."""
    import asyncio
    import threading

    from api.batcher import IntakeBatcher
    from api.metrics import Metrics
    from geo.cityconfig import load_city_config

    metrics = Metrics(escalation_interval_s=0)
    batcher = IntakeBatcher(None, load_city_config(), metrics=metrics)
    metrics.queue_depth = batcher.depth
    release, entered = threading.Event(), threading.Event()

    def register(items):  # stands in for the database: blocks the first pass, then fails
        entered.set()
        release.wait(10)
        raise RuntimeError("database gone")

    batcher._register = register

    async def run():
        await batcher.start()
        try:
            first = asyncio.ensure_future(batcher.submit("a"))
            await asyncio.to_thread(entered.wait, 10)
            rest = [asyncio.ensure_future(batcher.submit(x)) for x in "bc"]
            await asyncio.sleep(0.05)
            depth = metrics.registry.get_sample_value("gridmap_intake_queue_depth")
            release.set()
            results = await asyncio.gather(first, *rest, return_exceptions=True)
            return depth, results
        finally:
            await batcher.stop()

    depth, results = asyncio.run(run())
    assert depth == 2
    assert all(isinstance(r, RuntimeError) for r in results)
    assert metrics.registry.get_sample_value("gridmap_intake_pass_errors_total") == 2  # the first pass, then b and c
    assert metrics.registry.get_sample_value("gridmap_intake_pass_seconds_count") == 0
