from __future__ import annotations

import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app


def test_healthz_reports_versions(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["database"].startswith("PostgreSQL ") and body["postgis"][0] == "3"


def test_healthz_is_503_when_database_is_down():
    # A port nothing listens on: the check must fail fast and say so, without leaking details.
    dead = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    with TestClient(create_app(engine=dead)) as c:
        r = c.get("/healthz")
    assert r.status_code == 503
    assert r.json() == {"status": "unavailable", "database": None, "postgis": None}
