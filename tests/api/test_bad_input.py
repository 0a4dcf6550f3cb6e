"""Input the database or the readers downstream could not take: refused with a 422 naming
the field, for that item alone (hardening issue, defects 1, 2, 6 and 8)."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from geo.models import Report
from geo.reports.outcomes import Outcome
from tests.api.report_helpers import INSIDE_G1, body
from tests.conftest import STAFF
from tests.tiny_city import COMMUNITY


def post(client, payload, **kw):
    return client.post("/api/v1/reports", json=payload, **kw)


def field_of(r) -> str:
    return r.json()["error"]["fields"][0]["field"]


@pytest.mark.parametrize(("over", "field"), [
    ({"description": "垃圾\u0000堆积"}, "description"),
    ({"reporter": {"name": "王\u0000", "phone": "13912345678"}}, "reporter.name"),
    ({"photos": ["https://example.org/a\u0000.jpg"]}, "photos.0"),
    ({"photos": ["javascript:alert(1)"]}, "photos.0"),
    ({"photos": ["data:image/png;base64,AAAA"]}, "photos.0"),
    ({"location": {"crs": "wgs\u000084"}}, "location.crs"),
])
def test_text_the_database_cannot_store_is_422_naming_the_field(client, db, tiny, over, field):
    payload = body(**over)
    r = post(client, payload)
    assert r.status_code == 422, r.text
    assert field_of(r) == field
    assert db.get(Report, uuid.UUID(payload["id"])) is None


def test_http_photo_links_are_kept(client, tiny):
    payload = body(photos=["https://photos.example.org/a.jpg"])
    assert post(client, payload).status_code == 201
    assert client.get(f"/api/v1/reports/{payload['id']}").json()["photos"] == ["https://photos.example.org/a.jpg"]


def test_one_bad_item_never_sinks_a_batch(client, db, tiny):
    good = [body() for _ in range(4)]
    bad = body(description="nul \u0000 here")
    r = client.post("/api/v1/reports/batch", json={"reports": [good[0], good[1], bad, good[2], good[3]]}, headers=STAFF)
    assert r.status_code == 200, r.text
    assert [x["status"] for x in r.json()["results"]] == [201, 201, 422, 201, 201]
    assert r.json()["results"][2]["error"]["fields"][0]["field"] == "description"
    ids = [uuid.UUID(g["id"]) for g in good]
    assert db.scalar(sa.select(sa.func.count()).select_from(Report).where(Report.id.in_(ids))) == 4


def test_a_write_the_database_refuses_fails_that_item_alone(db, tiny, monkeypatch):
    """The safety net behind validation: if the database still refuses a row, the rows are
    halved until the refused one stands alone; it fails (not_stored), the others are stored."""
    from datetime import UTC, datetime

    import geo.reports.intake
    from geo.cityconfig import load_city_config
    from geo.models import ReportSource
    from geo.reports.intake import ReportInput
    from geo.reports.registration import submit_batch

    monkeypatch.setattr(geo.reports.intake, "check_text", lambda value, *, field: None)  # let a NUL through
    now = datetime.now(UTC)

    def item(description):
        return ReportInput(id=uuid.uuid4(), category="30", description=description, source=ReportSource.citizen,
                           x=INSIDE_G1[0], y=INSIDE_G1[1], reported_at=now)

    items = [item(f"ok {i}") for i in range(3)] + [item("slips \u0000 past")] + [item(f"ok {i}") for i in range(3, 6)]
    outcomes = submit_batch(db, items=list(enumerate(items)), config=load_city_config(), now=now)
    C, N = Outcome.created, Outcome.not_stored
    assert [o.kind for o in outcomes] == [C, C, C, N, C, C, C]
    assert outcomes[3].error.code == "not_stored"
    assert db.get(Report, items[3].id) is None
    stored = [i.id for k, i in enumerate(items) if k != 3]
    assert db.scalar(sa.select(sa.func.count()).select_from(Report).where(Report.id.in_(stored))) == 6


@pytest.mark.parametrize("reported_at", [
    "0001-01-01T00:00:00+14:00",  # 1 BC in UTC: stored, then unreadable
    "1999-12-31T23:59:59+08:00",  # before the configured earliest date (2000-01-01)
    1700000000,  # a number is not a date
    0.5,
    "1700000000",
    "2026-11-22T09:30:00",  # no offset
    "2026-11-22",  # a day, not an instant
    "9999-12-31T23:59:59-14:00",
])
def test_report_times_outside_the_rules_are_422(client, tiny, reported_at):
    r = post(client, body(reported_at=reported_at))
    assert r.status_code == 422, r.text
    assert field_of(r) == "reported_at"


def test_batch_items_follow_the_same_time_rules(client, tiny):
    r = client.post("/api/v1/reports/batch", json={"reports": [body(reported_at=1700000000), body()]}, headers=STAFF)
    assert [x["status"] for x in r.json()["results"]] == [422, 201]


def test_historical_imports_may_lower_the_earliest_date(db, tiny):
    from datetime import UTC, datetime

    from geo.cityconfig import load_city_config
    from geo.models import ReportSource
    from geo.reports.intake import ReportInput
    from geo.reports.registration import submit_batch

    old = ReportInput(id=uuid.uuid4(), category="30", description="1998 case", source=ReportSource.hotline_12345,
                      x=INSIDE_G1[0], y=INSIDE_G1[1], reported_at=datetime(1998, 5, 1, tzinfo=UTC))
    config, now = load_city_config(), datetime.now(UTC)
    (refused,) = submit_batch(db, items=[(0, old)], config=config, now=now)
    assert refused.kind == Outcome.invalid and refused.error.details["field"] == "reported_at"
    (taken,) = submit_batch(db, items=[(0, old)], config=config, now=now, earliest=datetime(1990, 1, 1, tzinfo=UTC))
    assert taken.kind == Outcome.created


def test_the_same_instant_in_another_offset_is_a_replay(client, tiny):
    payload = body(reported_at="2026-11-22T09:30:00+08:00")
    assert post(client, payload).status_code == 201
    again = post(client, {**payload, "reported_at": "2026-11-22T01:30:00Z"})
    assert again.status_code == 200, again.text
    other = post(client, {**payload, "reported_at": "2026-11-22T09:31:00+08:00"})
    assert other.status_code == 409


@pytest.mark.parametrize(("url", "params", "field"), [
    ("/api/v1/reports", {"until": "0.5"}, "until"),
    ("/api/v1/reports", {"since": "1700000000"}, "since"),
    ("/api/v1/reports", {"since": "2026-01-01T00:00:00"}, "since"),
    ("/api/v1/reports", {"since": "2026-02-01", "until": "2026-01-01"}, "until"),
    ("/api/v1/reports", {"since": "0001-01-01T00:00:00+14:00"}, "since"),
    ("/api/v1/stats", {"until": "0.5"}, "until"),
    ("/maps/hotspots", {"until": "0.5"}, "until"),
    ("/maps/hotspots", {"since": "2026-01-01T00:00:00"}, "since"),
    ("/maps/command-center", {"since": "1e9"}, "since"),
    ("/embed/hotspots", {"until": "0.5"}, "until"),
])
def test_every_window_takes_the_same_time_rules(client, tiny, url, params, field):
    r = client.get(url, params=params, headers=STAFF)
    assert r.status_code == 422, r.text
    assert field_of(r) == field


def test_a_bare_date_is_the_citys_day(client, tiny):
    assert client.get("/api/v1/reports", params={"since": "2026-01-01", "until": "2026-01-02"}).status_code == 200
    r = client.get("/api/v1/stats", params={"since": "2026-01-01", "until": "2026-01-02"})
    assert r.json()["since"].startswith("2026-01-01T00:00:00+08:00")


@pytest.mark.parametrize(("x", "y"), [(1e18, 1e18), (-1e18, 5e6), (float("1e308"), 0.0)])
def test_projected_points_outside_the_projection_are_422(client, db, tiny, x, y):
    payload = body(location={"lon": x, "lat": y, "crs": "EPSG:3857"})
    r = post(client, payload)
    assert r.status_code == 422, r.text
    assert field_of(r).startswith("location.")
    assert db.get(Report, uuid.UUID(payload["id"])) is None
    d = client.get("/api/v1/dispatch", params={"lon": x, "lat": y, "crs": "EPSG:3857"})
    assert d.status_code == 422


@pytest.mark.parametrize(("method", "url", "kw"), [
    ("post", "/api/v1/reports", {"content": b'{"category": "30"}', "headers": {"content-type": "text/plain"}}),
    ("post", "/api/v1/reports", {"data": {"category": "30"}}),  # a cross-site HTML form
    ("post", "/api/v1/reports/batch", {"content": b"{}", "headers": {"content-type": "text/plain", **STAFF}}),
    ("post", f"/api/v1/reports/{uuid.uuid4()}/transitions",
     {"content": b"{}", "headers": {"content-type": "application/x-www-form-urlencoded", **STAFF}}),
    ("put", "/api/v1/workers/1/position", {"content": b"{}", "headers": {"content-type": "text/plain", **STAFF}}),
    ("post", f"/api/v1/reports/{uuid.uuid4()}/photos", {"content": b"{}", "headers": {"content-type": "application/json"}}),
])
def test_writes_in_another_media_type_are_415(client, tiny, method, url, kw):
    r = getattr(client, method)(url, **kw)
    assert r.status_code == 415, r.text
    assert r.json()["error"]["code"] == "unsupported_media_type"


def test_json_with_a_charset_is_json(client, tiny):
    payload = body()
    r = client.post("/api/v1/reports", content=__import__("json").dumps(payload).encode(),
                    headers={"content-type": "application/json; charset=utf-8"})
    assert r.status_code == 201


@pytest.mark.parametrize(("url", "params", "field"), [
    ("/api/v1/grids", {"generation": 2**31}, "generation"),
    ("/api/v1/grids", {"offset": 2**63}, "offset"),
    ("/api/v1/grids", {"offset": 10_001}, "offset"),
    ("/api/v1/reports", {"offset": 2**63}, "offset"),
    ("/api/v1/reports", {"offset": 4.6e18}, "offset"),
    ("/api/v1/reports", {"limit": 2**63}, "limit"),
    ("/api/v1/locate", {"lon": 116.405, "lat": 39.915, "generation": 2**40}, "generation"),
    ("/api/v1/reports", {"after": "not-a-cursor"}, "after"),
])
def test_large_numbers_are_422_not_500(client, tiny, url, params, field):
    r = client.get(url, params=params)
    assert r.status_code == 422, r.text
    assert field_of(r) == field


def test_large_ids_in_paths_and_bodies_are_422(client, tiny):
    r = client.put(f"/api/v1/workers/{2**63}/position", json={"lon": 116.4, "lat": 39.9}, headers=STAFF)
    assert r.status_code == 422 and field_of(r) == "worker_id"
    rid = body()
    post(client, rid)
    r = client.post(f"/api/v1/reports/{rid['id']}/transitions",
                    json={"action": "dispatch", "actor": "x", "worker_id": 2**63}, headers=STAFF)
    assert r.status_code == 422 and field_of(r) == "worker_id"
    r = client.post(f"/api/v1/reports/{rid['id']}/transitions", json={"action": "fly", "actor": "x"}, headers=STAFF)
    assert r.status_code == 422 and field_of(r) == "action"


def test_position_times_follow_the_rules(client, tiny):
    worker = tiny.workers[next(iter(tiny.workers))].id
    for at in ("0001-01-01T00:00:00+14:00", 1700000000, "2999-01-01T00:00:00Z"):
        r = client.put(f"/api/v1/workers/{worker}/position", json={"lon": 116.4, "lat": 39.9, "at": at}, headers=STAFF)
        assert r.status_code == 422 and field_of(r) == "at", r.text


def test_keyset_paging_walks_every_report_once(client, tiny):
    ids = set()
    for _ in range(7):
        payload = body()
        post(client, payload)
        ids.add(payload["id"])
    # Within the tiny city: a committed city of another test would take hundreds of pages.
    seen, url, params = [], "/api/v1/reports", {"limit": 3, "area": COMMUNITY}
    while url:
        page = client.get(url, params=params).json()
        seen += [item["id"] for item in page["items"]]
        url, params = page["next"], None
        assert url is None or "after=" in url and "offset=" not in url
    assert len(seen) == len(set(seen)) and ids <= set(seen)
