"""With no token configured anywhere, the local demo stays open (and says so), but personal
data stays hidden; the first token issued closes it."""

from __future__ import annotations

import logging
from contextlib import nullcontext

import pytest
from fastapi.testclient import TestClient

from tests.api.report_helpers import body


@pytest.fixture()
def open_client(engine, db, tiny, caplog):
    from api.app import create_app
    from api.deps import get_session, get_session_opener
    from api.settings import ApiSettings

    caplog.set_level(logging.WARNING, logger="gridmap.api")
    app = create_app(engine=engine, api_settings=ApiSettings(escalation_interval_s=0, intake_batching=False,
                                                             token_cache_s=0))
    app.dependency_overrides[get_session] = lambda: db
    app.dependency_overrides[get_session_opener] = lambda: (lambda: nullcontext(db))
    app.state.authenticator._sessionmaker = lambda: nullcontext(db)
    with TestClient(app) as c:
        yield c


def test_open_demo_moves_cases_but_hides_personal_data(open_client, caplog):
    assert any("OPEN" in r.getMessage() for r in caplog.get_records("setup")), "start-up must say it is open"
    payload = body()
    open_client.post("/api/v1/reports", json=payload)
    r = open_client.post(f"/api/v1/reports/{payload['id']}/transitions", json={"action": "start", "actor": "demo"})
    assert r.status_code == 200 and r.json()["reporter"] is None
    assert open_client.get("/maps/feeds/workers.geojson").status_code == 200
    assert open_client.get(f"/api/v1/reports/{payload['id']}").json()["reporter"] is None


def test_the_first_token_closes_the_demo(open_client, db):
    from geo.access.roles import Principal, Role
    from geo.access.tokens import issue_token

    assert open_client.get("/maps/feeds/workers.geojson").status_code == 200
    issued = issue_token(db, role=Role.admin, name="first admin", actor=Principal(Role.admin, holder="test"))
    assert open_client.get("/maps/feeds/workers.geojson").status_code == 401
    assert open_client.get("/maps/feeds/workers.geojson",
                           headers={"Authorization": f"Bearer {issued.token}"}).status_code == 200


def test_the_open_demo_shows_workers_at_their_cells(open_client, tiny):
    from geo.access.privacy import WORKER_CELL_DEG, coarse_point

    worker = tiny.workers[next(iter(tiny.workers))]
    r = open_client.put(f"/api/v1/workers/{worker.id}/position", json={"lon": 116.4068, "lat": 39.9167})
    assert r.status_code == 200
    feature = next(f for f in open_client.get("/maps/feeds/workers.geojson").json()["features"]
                   if f["id"] == f"w{worker.id}")
    assert tuple(feature["geometry"]["coordinates"]) == coarse_point(116.4068, 39.9167, deg=WORKER_CELL_DEG)
