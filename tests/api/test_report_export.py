"""GET /api/v1/reports/export: streamed, public rules for the public, full rows for dispatchers."""

from __future__ import annotations

import asyncio
import csv
import io
import json

import pyarrow.parquet as pq
import sqlalchemy as sa

from geo.access.privacy import coarse_point
from geo.models import AuditEvent
from tests.api.report_helpers import G1, body
from tests.tiny_city import COMMUNITY

DISPUTE_AT = (116.4072, 39.9188)
URL = "/api/v1/reports/export"


def file_cases(client):
    urban, dispute = body(), body(category="10", subcategory="1001", description="邻居吵架",
                                  location={"lon": DISPUTE_AT[0], "lat": DISPUTE_AT[1]})
    for b in (urban, dispute):
        assert client.post("/api/v1/reports", json=b).status_code == 201
    return urban["id"], dispute["id"]


def csv_rows(r) -> dict[str, dict]:
    assert r.status_code == 200, r.text
    return {row["id"]: row for row in csv.DictReader(io.StringIO(r.content.decode(), newline=""))}


def test_the_public_gets_the_public_rules(client, tiny):
    urban, dispute = file_cases(client)
    r = client.get(URL, params={"area": COMMUNITY})
    assert r.headers["content-type"].startswith("text/csv") and "attachment" in r.headers["content-disposition"]
    assert r.headers["cache-control"] == "no-store"
    rows = csv_rows(r)
    assert set(rows) == {urban, dispute}
    assert "reporter_name" not in rows[urban] and rows[urban]["description"] == "小区门口垃圾堆积"
    d = rows[dispute]
    assert (float(d["lon"]), float(d["lat"])) == coarse_point(*DISPUTE_AT)
    assert (d["grid_code"], d["description"], d["worker_id"]) == (COMMUNITY, "", "")
    # The bbox tests the public location: the exact point's box finds nothing, the cell's does.
    assert dispute not in csv_rows(client.get(URL, params={"bbox": "116.406,39.918,116.408,39.9195"}))
    assert dispute in csv_rows(client.get(URL, params={"bbox": "116.404,39.9195,116.406,39.9205"}))
    assert set(csv_rows(client.get(URL, params={"area": G1}))) == {urban}  # not the sensitive case's grid


def test_a_dispatcher_gets_full_rows_and_is_audited(client, db, tokens):
    urban, dispute = file_cases(client)
    h = {"Authorization": tokens["dispatcher"]}
    rows = csv_rows(client.get(URL, params={"category": "disputes", "area": COMMUNITY}, headers=h))
    assert set(rows) == {dispute}
    d = rows[dispute]
    assert (d["reporter_name"], d["grid_code"], float(d["lon"])) == ("王小明", G1, DISPUTE_AT[0])
    # (Only this test's roles: the CLI tests commit exports audited as admin in the same database.)
    audit = db.execute(sa.select(AuditEvent.role, AuditEvent.detail).where(
        AuditEvent.action == "personal.export", AuditEvent.role.in_(("dispatcher", "planner")))).all()
    assert [(role, detail["categories"], detail["format"]) for role, detail in audit] == [("dispatcher", ["10"], "csv")]
    # A planner holds no personal data: the public record, and nothing audited.
    rows = csv_rows(client.get(URL, params={"category": "disputes", "area": COMMUNITY}, headers={"Authorization": tokens["planner"]}))
    assert "reporter_name" not in rows[dispute] and rows[dispute]["grid_code"] == COMMUNITY


def test_geojsonseq_and_parquet(client, tiny):
    urban, dispute = file_cases(client)
    r = client.get(URL, params={"format": "geojsonseq", "area": COMMUNITY})
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json-seq"
    features = [json.loads(t) for t in r.content.decode().split("\x1e")[1:]]
    assert {f["id"] for f in features} == {urban, dispute}
    by_id = {f["id"]: f for f in features}
    assert by_id[dispute]["geometry"] == {"type": "Point", "coordinates": list(coarse_point(*DISPUTE_AT))}
    assert by_id[dispute]["properties"]["description"] is None
    r = client.get(URL, params={"format": "parquet", "area": COMMUNITY})
    assert r.headers["content-type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(r.content))
    assert set(table.column("id").to_pylist()) == {urban, dispute} and b"geo" in table.schema.metadata


def test_bad_input_names_the_field(client, tiny):
    for params, field in (({"format": "xlsx"}, "format"), ({"format": "parquet", "excel": "true"}, "excel"),
                          ({"bbox": "1,2,3"}, "bbox"), ({"category": "nope"}, "category"),
                          ({"fromat": "csv"}, "fromat")):
        r = client.get(URL, params=params)
        assert r.status_code == 422, (params, r.text)
        assert [f["field"] for f in r.json()["error"]["fields"]] == [field]


def test_the_answer_is_streamed(client, tiny, monkeypatch):
    """The body leaves in pieces as the rows come (one per row here), not once it is all built."""
    from geo.reports import export

    file_cases(client)
    monkeypatch.setattr(export, "CHUNK_BYTES", 1)
    messages, asked = [], []

    async def receive():
        if not asked:
            asked.append(True)
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client stays connected

    async def send(message):
        messages.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": URL, "raw_path": URL.encode(), "root_path": "", "query_string": f"format=csv&area={COMMUNITY}".encode(),
             "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 1), "server": ("testserver", 80),
             "state": {}}
    asyncio.run(client.app(scope, receive, send))
    start = messages[0]
    assert start["type"] == "http.response.start" and start["status"] == 200
    assert not any(k.lower() == b"content-length" for k, _ in start["headers"])
    pieces = [m for m in messages[1:] if m.get("body")]
    assert len(pieces) == 3 and all(m["more_body"] for m in pieces)  # header, two rows; then the end
    assert messages[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


def test_a_staff_export_with_a_bbox_is_audited_with_it(client, db, tokens):
    # Found by schemathesis: the audit of a bbox export failed (500) after the filters applied.
    urban, dispute = file_cases(client)
    box = "116.40,39.91,116.41,39.92"
    rows = csv_rows(client.get(URL, params={"bbox": box}, headers={"Authorization": tokens["dispatcher"]}))
    assert {urban, dispute} <= set(rows)
    detail = db.execute(sa.select(AuditEvent.detail).where(
        AuditEvent.action == "personal.export", AuditEvent.role == "dispatcher")).scalars().all()[-1]
    assert detail["bbox"] == [116.40, 39.91, 116.41, 39.92]
