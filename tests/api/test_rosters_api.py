"""/api/v1/workers/{id}/roster: read, replace the week, add and remove leave; routing follows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.api.report_helpers import INSIDE_G1, body
from tests.tiny_city import GRIDS

G1, G2, G3, G4 = GRIDS
ALL_WEEK = {"shifts": [{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(1, 8)]}


@pytest.fixture()
def api(client, tokens, tiny):
    h = {"Authorization": tokens["dispatcher"]}
    ids = {code: tiny.workers[code].id for code in GRIDS} | {"lead": tiny.workers["lead"].id}
    return client, h, ids


def field_of(r) -> str:
    return r.json()["error"]["fields"][0]["field"]


def test_a_leave_with_a_cover_routes_new_cases_to_the_cover(api):
    client, h, ids = api
    base = f"/api/v1/workers/{ids[G1]}/roster"
    r = client.put(f"{base}/shifts", json=ALL_WEEK, headers=h)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["rostered"] and out["on_duty"] and out["timezone"] == "Asia/Shanghai" and len(out["shifts"]) == 7
    assert out["shifts"][0] == {"weekday": 1, "start": "00:00", "end": "24:00", "overnight": False}
    now = datetime.now(UTC)
    leave = {"kind": "leave", "starts_at": (now - timedelta(hours=1)).isoformat(),
             "ends_at": (now + timedelta(hours=2)).isoformat(), "cover_worker_id": ids[G3], "note": "年假"}
    r = client.post(f"{base}/exceptions", json=leave, headers=h)
    assert r.status_code == 201, r.text
    exception_id = r.json()["id"]
    again = client.post(f"{base}/exceptions", json=leave, headers=h)
    assert again.status_code == 200 and again.json()["id"] == exception_id  # a retry adds nothing
    got = client.get(base, headers=h).json()
    assert not got["on_duty"] and [e["id"] for e in got["exceptions"]] == [exception_id]
    # A new case in grid 001 goes to the cover; dispatch says so too.
    r = client.post("/api/v1/reports", json=body())
    assert r.status_code == 201 and r.json()["worker"]["id"] == ids[G3], r.text
    d = client.get("/api/v1/dispatch", params={"lon": INSIDE_G1[0], "lat": INSIDE_G1[1]}, headers=h).json()
    assert d["responsible"]["worker"]["id"] == ids[G3]
    # Removing the leave gives the grid back to its primary.
    assert client.delete(f"{base}/exceptions/{exception_id}", headers=h).status_code == 200
    assert client.delete(f"{base}/exceptions/{exception_id}", headers=h).json()["error"]["code"] == \
        "roster_exception_not_found"
    r = client.post("/api/v1/reports", json=body())
    assert r.json()["worker"]["id"] == ids[G1]


def test_bad_rosters_are_refused_naming_the_field(api):
    client, h, ids = api
    base = f"/api/v1/workers/{ids[G1]}/roster"
    bad_week = [
        ([{"weekday": 8, "start": "08:30", "end": "17:30"}], "shifts.0.weekday"),
        ([{"weekday": 1, "start": "8:30", "end": "17:30"}], "shifts.0.start"),
        ([{"weekday": 1, "start": "24:00", "end": "06:00"}], "shifts.0.start"),
        ([{"weekday": 1, "start": "08:30", "end": "08:30"}], "shifts.0.end"),
        ([{"weekday": 1, "start": "22:00", "end": "06:00"}, {"weekday": 2, "start": "05:00", "end": "09:00"}],
         "shifts.1"),  # Monday night runs into Tuesday 05:00
    ]
    for shifts, where in bad_week:
        r = client.put(f"{base}/shifts", json={"shifts": shifts}, headers=h)
        assert r.status_code == 422 and field_of(r) == where, (shifts, r.text)
    now = datetime.now(UTC)

    def leave(**kw):
        return {"kind": "leave", "starts_at": (now + timedelta(days=1)).isoformat(),
                "ends_at": (now + timedelta(days=2)).isoformat()} | kw

    # Without a week the worker's duty is the flag: no exceptions.
    r = client.post(f"{base}/exceptions", json=leave(), headers=h)
    assert r.status_code == 422 and field_of(r) == "worker_id"
    assert client.put(f"{base}/shifts", json=ALL_WEEK, headers=h).status_code == 200
    for payload, where in [
        (leave(ends_at=now.isoformat()), "ends_at"),
        (leave(cover_worker_id=ids[G1]), "cover_worker_id"),
        (leave(cover_worker_id=10**9), "cover_worker_id"),
        (leave(kind="duty", cover_worker_id=ids[G3]), "cover_worker_id"),
        (leave(starts_at="2026-12-07T08:00:00"), "starts_at"),  # no offset
        (leave(kind="holiday"), "kind"),
    ]:
        r = client.post(f"{base}/exceptions", json=payload, headers=h)
        assert r.status_code == 422 and field_of(r) == where, (payload, r.text)
    assert client.post(f"{base}/exceptions", json=leave(), headers=h).status_code == 201
    r = client.post(f"{base}/exceptions", json=leave(kind="duty"), headers=h)
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "roster_overlap" and err["field"] == "starts_at" and err["conflicts_with"]
    r = client.put(f"{base}/shifts", json={"shifts": []}, headers=h)
    assert r.status_code == 422 and field_of(r) == "shifts"
    assert client.get("/api/v1/workers/999999999/roster", headers=h).json()["error"]["code"] == "worker_not_found"
