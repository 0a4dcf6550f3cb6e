"""Departments over the API on the tiny city: the list, transfer/accept/return through the
transitions endpoint, what a report shows, department staff tokens, the figures."""

from __future__ import annotations

import pytest

from geo.access.roles import Principal, Role
from geo.access.tokens import issue_token
from tests.api.report_helpers import body
from tests.conftest import STAFF
from tests.tiny_city import ROADS, SANITATION, add_department_staff, tiny_config


@pytest.fixture()
def city(client, db, tiny):
    staff = add_department_staff(db)
    client.app.state.city_config = tiny_config()
    client.app.state.test_db = db
    return staff


def worker_token(db, worker) -> dict:
    t = issue_token(db, role=Role.worker, name=f"staff {worker.staff_no}", actor=Principal(Role.admin, holder="t"),
                    worker_id=worker.id)
    return {"Authorization": f"Bearer {t.token}"}


def new_case(client) -> str:
    payload = body()
    assert client.post("/api/v1/reports", json=payload).status_code == 201
    return payload["id"]


def act(client, rid, action, headers=STAFF, key=None, **extra):
    h = {**headers, **({"Idempotency-Key": key} if key else {})}
    return client.post(f"/api/v1/reports/{rid}/transitions", json={"action": action, "actor": "王芳", **extra}, headers=h)


def test_the_departments_are_listed_publicly(client, city):
    r = client.get("/api/v1/departments")
    assert r.status_code == 200
    assert r.json() == [
        {"code": SANITATION, "name_zh": "环卫处", "name_en": "Sanitation", "categories": ["30"],
         "default_time_limit_h": 12.0, "time_limits_h": {"3001": 6.0}},
        {"code": ROADS, "name_zh": "道路处", "name_en": "Roads", "categories": ["3003", "20"],
         "default_time_limit_h": 48.0, "time_limits_h": {"3003": 36.0}},
    ]
    assert "TD-SA-01" not in r.text  # no staff numbers


def test_transfer_accept_return_over_the_api(client, city):
    rid = new_case(client)
    r = act(client, rid, "transfer", department=ROADS)
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "note"
    r = act(client, rid, "transfer", department="nowhere", note="x")
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "department"
    r = act(client, rid, "transfer", department="Not A Code!", note="x")
    assert r.status_code == 422
    r = act(client, rid, "accept")
    assert r.status_code == 409 and "accept" not in r.json()["error"]["allowed"]
    assert "transfer" in r.json()["error"]["allowed"]

    r = act(client, rid, "transfer", department=SANITATION, note="暴露垃圾，环卫处负责", key="t-1")
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["department_code"], out["department_accepted_at"], out["return_count"]) == (SANITATION, None, 0)
    assert out["assigned_worker"]["id"] == city["TD-SA-01"].id and out["allowed"][-2:] == ["accept", "return"]
    assert act(client, rid, "transfer", department=SANITATION, note="暴露垃圾，环卫处负责", key="t-1").status_code == 200
    assert [e["action"] for e in out["trail"]].count("transfer") == 1
    # The department holding the case is public; the reason and the names are not.
    public = client.get(f"/api/v1/reports/{rid}").json()
    assert public["department_code"] == SANITATION and public["trail"][-1]["action"] == "transfer"
    assert public["trail"][-1]["note"] is None and public["trail"][-1]["data"] == {}

    desk = worker_token(client.app.state.test_db, city["TD-SA-01"])
    others = worker_token(client.app.state.test_db, city["TD-RD-01"])
    assert act(client, rid, "accept", headers=others).status_code == 403
    r = act(client, rid, "accept", headers=desk)
    assert r.status_code == 200 and r.json()["department_accepted_at"] is not None
    r = act(client, rid, "transfer", headers=desk, department=ROADS, note="sideways")
    assert r.status_code == 403 and "within the department" in r.json()["error"]["message"]
    r = act(client, rid, "return", headers=desk, note="不是我们的")
    assert r.status_code == 200
    out = r.json()
    assert (out["status"], out["department_code"], out["return_count"], out["due_at"]) == ("registered", None, 1, None)
    assert "accept" not in out["allowed"] and "return" not in out["allowed"]
    assert act(client, rid, "return", headers=desk, note="again").status_code == 403  # no longer theirs
    assert act(client, rid, "return", note="again").status_code == 409


def test_department_figures_over_the_api(client, city):
    rid = new_case(client)
    assert act(client, rid, "transfer", department=ROADS, note="道路").status_code == 200
    assert act(client, rid, "return", note="not ours").status_code == 200
    assert act(client, rid, "transfer", department=SANITATION, note="环卫").status_code == 200
    for step in ("accept", "resolve", "close"):
        assert act(client, rid, step).status_code == 200
    r = client.get("/api/v1/stats", params={"level": "department"})  # public: the default window
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["level"] == "department" and out["areas"] == []
    got = {d["code"]: d for d in out["departments"]}
    assert {k: got[SANITATION][k] for k in ("received", "accepted", "returned", "solved", "overdue")} == {
        "received": 1, "accepted": 1, "returned": 0, "solved": 1, "overdue": 0}
    assert got[SANITATION]["median_hours_to_close"] is not None and got[SANITATION]["satisfaction_rate"] is None
    assert (got[ROADS]["received"], got[ROADS]["returned"], got[ROADS]["solved"]) == (1, 1, 0)
    r = client.get("/api/v1/stats", params={"level": "department", "category": "30"})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "category"
    assert client.get("/api/v1/stats", params={"level": "grid"}).json()["departments"] == []


def test_the_server_warns_of_department_contacts_that_are_no_workers(client, caplog):
    from api.jobs import check_departments

    config = tiny_config()
    client.app.state.city_config = config.model_copy(update={"departments": [
        config.departments[1].model_copy(update={"contact": "NOBODY-DESK"})]})
    with caplog.at_level("WARNING", logger="gridmap.api"):
        check_departments(client.app)  # what the server's warm-up runs at startup
    assert "department roads: the desk contact staff_no 'NOBODY-DESK' is not a worker" in caplog.text
    assert "TD-RD-02" in caplog.text  # its escalation contact: not in this database either (no tiny staff here)


def test_open311_names_the_department_holding_a_case(client, city):
    rid = new_case(client)
    assert act(client, rid, "transfer", department=SANITATION, note="环卫").status_code == 200
    (rec,) = client.get(f"/open311/v2/requests/{rid}.json", params={"jurisdiction_id": "110100"}).json()
    assert rec["agency_responsible"].startswith(f"department {SANITATION}; ")
    assert act(client, rid, "return", note="not ours").status_code == 200
    (rec,) = client.get(f"/open311/v2/requests/{rid}.json", params={"jurisdiction_id": "110100"}).json()
    assert "department" not in rec["agency_responsible"]
