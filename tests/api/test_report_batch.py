"""POST /api/v1/reports/batch: per-item answers, same rules as single intake, no duplicates."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from geo.matching.coords import wgs84_to_gcj02
from geo.models import Report, ReportEvent
from tests.api.report_helpers import G1, G2, body
from tests.conftest import STAFF


def batch(client, reports):
    r = client.post("/api/v1/reports/batch", json={"reports": reports}, headers=STAFF)
    assert r.status_code == 200, r.text
    return r.json()


def test_batch_answers_each_item(client, db, tiny):
    gcj = [float(v) for v in wgs84_to_gcj02(116.405, 39.915)]
    items = [
        body(),
        body(location={"lon": 116.41, "lat": 39.915}),  # shared edge
        body(location={"lon": gcj[0], "lat": gcj[1], "crs": "gcj02"}),
        body(location={"lon": 116.4201, "lat": 39.915}),  # snaps to 002
        body(location={"lon": 116.5, "lat": 39.915}),  # unassigned
        body(category="99"),
        {"category": "30"},
        body(location={"lon": 39.915, "lat": 116.405}),
    ]
    out = batch(client, items)
    assert (out["created"], out["replayed"], out["failed"]) == (5, 0, 3)
    res = out["results"]
    assert [r["index"] for r in res] == list(range(len(items)))
    assert [r["status"] for r in res] == [201, 201, 201, 201, 201, 422, 422, 422]
    assert [(r["report"]["grid_code"], r["report"]["match"]) for r in res[:5]] == [
        (G1, "inside"), (G1, "edge"), (G1, "inside"), (G2, "snapped"), (None, "unassigned")]
    assert res[0]["report"]["worker"]["public_name"] == "张网格员1"
    assert res[0]["report"]["status"] == "dispatched" and res[0]["report"]["due_at"]
    assert res[4]["report"]["status"] == "registered" and res[4]["report"]["escalation_level"] == 4
    assert res[5]["error"]["fields"][0]["field"] == "category"
    assert {f["field"] for f in res[6]["error"]["fields"]} >= {"source", "location", "reported_at"}
    assert "swapped" in res[7]["error"]["fields"][0]["reason"]
    ids = [uuid.UUID(i["id"]) for i in items[:5]]
    assert db.scalar(sa.select(sa.func.count()).select_from(Report).where(Report.id.in_(ids))) == 5
    events = db.scalars(sa.select(ReportEvent.action).where(ReportEvent.report_id == ids[0]).order_by(ReportEvent.id))
    assert list(events) == ["register", "dispatch"]


def test_batch_matches_single_intake(client, db, tiny):
    """The vectorised path stores the same row the single endpoint stores."""
    single, batched = body(), body()
    client.post("/api/v1/reports", json=single)
    batch(client, [batched])
    cols = [Report.grid_code, Report.generation_id, Report.match_kind, Report.status, Report.assigned_worker_id,
            Report.orig_crs, Report.escalation_level, sa.func.ST_AsText(Report.location)]
    a = db.execute(sa.select(*cols).where(Report.id == uuid.UUID(single["id"]))).one()
    b = db.execute(sa.select(*cols).where(Report.id == uuid.UUID(batched["id"]))).one()
    assert a == b


def test_batch_retries_and_conflicts(client, db, tiny):
    a, b = body(), body()
    first = batch(client, [a, b])
    assert [r["status"] for r in first["results"]] == [201, 201]
    again = batch(client, [a, {**b, "description": "changed"}, a])
    assert [r["status"] for r in again["results"]] == [200, 409, 200]
    assert again["results"][0]["report"]["id"] == a["id"]
    assert again["results"][1]["error"]["code"] == "idempotency_conflict"
    ids = [uuid.UUID(a["id"]), uuid.UUID(b["id"])]
    assert db.scalar(sa.select(sa.func.count()).select_from(Report).where(Report.id.in_(ids))) == 2
    # The same id twice inside one fresh batch is one report.
    c = body()
    dup = batch(client, [c, c])
    assert [r["status"] for r in dup["results"]] == [201, 200]


def test_batch_size_limit(client, tiny):
    r = client.post("/api/v1/reports/batch", json={"reports": [{}] * 10_001}, headers=STAFF)
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "reports"


def test_batch_duplicates_on_request(client, tiny):
    first = body()
    batch(client, [first])
    near = body(location={"lon": 116.4055, "lat": 39.915})
    plain = batch(client, [near])["results"][0]["report"]
    assert plain["possible_duplicates"] == []  # not asked for
    r = client.post("/api/v1/reports/batch", params={"duplicates": "true"},
                    json={"reports": [body(location={"lon": 116.4052, "lat": 39.915})]}, headers=STAFF)
    assert set(r.json()["results"][0]["report"]["possible_duplicates"]) == {first["id"], near["id"]}
