"""GET /api/v1/me/cases: a worker's own queue (tiny city; the worker token is grid 001's T001)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from geo.models import AuditEvent, Report
from tests.api.report_helpers import body
from tests.tiny_city import GRIDS

G4_POINT = {"lon": 116.415, "lat": 39.905}  # grid 004: T004's


def file(client, **over) -> str:
    payload = body(**over)
    r = client.post("/api/v1/reports", json=payload)
    assert r.status_code == 201, r.text
    return payload["id"]


def set_due(db, rid: str, due):
    db.execute(sa.update(Report).where(Report.id == uuid.UUID(rid)).values(due_at=due))
    db.flush()


def queue(client, tokens, **headers):
    return client.get("/api/v1/me/cases", headers={"Authorization": tokens["worker"], **headers})


def test_the_queue_is_overdue_first_then_by_due_time_nulls_last(client, db, tokens):
    now = datetime.now(UTC)
    soon, later, overdue_old, overdue_new, undated = (file(client) for _ in range(5))
    set_due(db, soon, now + timedelta(hours=1))
    set_due(db, later, now + timedelta(hours=5))
    set_due(db, overdue_old, now - timedelta(hours=3))
    set_due(db, overdue_new, now - timedelta(minutes=5))
    set_due(db, undated, None)
    tie_a, tie_b = sorted([file(client), file(client)])  # the same due time: by id
    for rid in (tie_a, tie_b):
        set_due(db, rid, now + timedelta(hours=2))
    file(client, location=G4_POINT)  # another worker's
    closed = file(client)
    db.execute(sa.update(Report).where(Report.id == uuid.UUID(closed)).values(status="closed"))
    db.flush()

    r = queue(client, tokens)
    assert r.status_code == 200, r.text
    q = r.json()
    assert [c["id"] for c in q["cases"]] == [overdue_old, overdue_new, soon, tie_a, tie_b, later, undated]
    assert q["total"] == 7 and q["worker_id"] and q["public_name"] == "张网格员1" and q["department"] is None
    assert [c["overdue"] for c in q["cases"]] == [True, True, False, False, False, False, False]
    first = q["cases"][0]
    assert first["category_name"] == {"zh": "城市管理", "en": "Urban management"}
    assert first["subcategory_name"] == {"zh": "暴露垃圾", "en": "Exposed rubbish"}
    assert first["status"] == "dispatched" and first["escalation_level"] == 0
    assert first["grid_code"] == next(iter(GRIDS)) and first["place"] == f"grid {next(iter(GRIDS))}"
    assert (first["lon"], first["lat"]) == (116.405, 39.915) and first["location_precision_m"] is None
    assert first["allowed"] == ["start", "resolve", "escalate", "transfer"]  # the worker's own part of the loop
    assert first["photo_count"] == 0 and first["may_add_photo"] is True and first["assigned_to_me"] is True
    assert first["reporter"] == {"name": "王小明", "phone": "13912345678"}  # their own case: personal data
    assert first["description"] == "小区门口垃圾堆积"


def test_etag_revalidation_answers_304_until_the_queue_changes(client, tokens):
    rid = file(client)
    r = queue(client, tokens)
    etag = r.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert r.headers["cache-control"] == "private, no-cache"
    again = queue(client, tokens, **{"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert again.headers["cache-control"] == "private, no-cache"
    # A list of tags, a weak form of the same tag: still the same queue.
    assert queue(client, tokens, **{"If-None-Match": f'"other", W/{etag}'}).status_code == 304
    assert queue(client, tokens, **{"If-None-Match": '"something-else"'}).status_code == 200
    # The case moves: the queue is different, so is its tag.
    moved = client.post(f"/api/v1/reports/{rid}/transitions", json={"action": "start", "actor": "w"},
                        headers={"Authorization": tokens["worker"]})
    assert moved.status_code == 200
    changed = queue(client, tokens, **{"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    case = next(c for c in changed.json()["cases"] if c["id"] == rid)
    assert case["status"] == "in_progress" and case["allowed"] == ["resolve", "escalate", "transfer"]
    # Equal bytes, equal tag: asking again gives the same one.
    assert queue(client, tokens).headers["etag"] == changed.headers["etag"]


def test_a_case_falling_due_changes_the_tag(client, db, tokens):
    rid = file(client)
    set_due(db, rid, datetime.now(UTC) + timedelta(hours=1))
    before = queue(client, tokens)
    set_due(db, rid, datetime.now(UTC) - timedelta(seconds=1))  # as time passing would
    after = queue(client, tokens, **{"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200 and after.json()["cases"][0]["overdue"] is True


def worker_token(db, worker) -> dict:
    from geo.access.roles import Principal, Role
    from geo.access.tokens import issue_token

    t = issue_token(db, role=Role.worker, name=f"phone {worker.staff_no}", worker_id=worker.id,
                    actor=Principal(Role.admin, holder="t"))
    return {"Authorization": f"Bearer {t.token}"}


def test_department_staff_also_see_their_departments_open_cases(client, db, tiny, tokens):
    from tests.tiny_city import ROADS, SANITATION, add_department_staff, tiny_config

    staff = add_department_staff(db)
    client.app.state.city_config = tiny_config()
    me = {"Authorization": tokens["worker"]}
    held = file(client)  # grid 001's worker hands it to sanitation: its desk TD-SA-01 carries it
    r = client.post(f"/api/v1/reports/{held}/transitions", headers=me,
                    json={"action": "transfer", "actor": "张网格员1", "department": SANITATION, "note": "环卫处负责"})
    assert r.status_code == 200, r.text
    sensitive = file(client, location={"lon": 116.4137, "lat": 39.9062}, category="40", subcategory="4001",
                     description="某人可疑")
    other_dept = file(client, location=G4_POINT)
    for rid, dept in ((sensitive, SANITATION), (other_dept, ROADS)):
        db.execute(sa.update(Report).where(Report.id == uuid.UUID(rid)).values(department_code=dept))
    db.flush()
    assert held not in {c["id"] for c in queue(client, tokens).json()["cases"]}  # gone from the grid worker's

    desk = client.get("/api/v1/me/cases", headers=worker_token(db, staff["TD-SA-01"])).json()
    assert desk["department"] == SANITATION and [c["id"] for c in desk["cases"]] == [held, sensitive]  # by due time
    mine = desk["cases"][0]
    assert mine["assigned_to_me"] is True and mine["reporter"] is not None
    assert mine["allowed"] == ["start", "resolve", "escalate", "transfer", "accept", "return"]

    colleague = client.get("/api/v1/me/cases", headers=worker_token(db, staff["TD-SA-04"])).json()
    ids = {c["id"]: c for c in colleague["cases"]}
    assert set(ids) == {held, sensitive} and other_dept not in ids
    theirs = ids[held]
    assert theirs["assigned_to_me"] is False and theirs["department"] == SANITATION
    assert theirs["reporter"] is None  # not assigned to me: no personal data
    assert theirs["allowed"] == ["start", "resolve", "escalate", "transfer", "accept", "return"]  # the department's
    assert theirs["may_add_photo"] is False
    s = ids[sensitive]  # a sensitive case I may not read in full: at its public place, no text
    assert s["description"] is None and s["location_precision_m"] == 400 and s["place"] is None
    assert len(s["grid_code"]) == 12 and (s["lon"], s["lat"]) == (116.415, 39.905)  # its cell's centre


def test_the_personal_read_is_audited_and_a_304_is_not(client, db, tokens):
    rid = file(client)
    other = file(client, location=G4_POINT)
    start = db.scalar(sa.select(sa.func.coalesce(sa.func.max(AuditEvent.id), 0)))
    r = queue(client, tokens)
    queue(client, tokens, **{"If-None-Match": r.headers["etag"]})
    rows = db.execute(sa.select(AuditEvent.action, AuditEvent.role, AuditEvent.detail)
                      .where(AuditEvent.id > start)).all()
    assert len(rows) == 1
    action, role, detail = rows[0]
    assert (action, role) == ("personal.read", "worker") and detail["report_ids"] == [rid]
    assert other not in detail["report_ids"]


def test_only_a_worker_token_has_a_queue(client, tokens):
    r = client.get("/api/v1/me/cases")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    for role in ("dispatcher", "planner", "admin", "system"):
        r = client.get("/api/v1/me/cases", headers={"Authorization": tokens[role]})
        assert r.status_code == 403, role
        assert "worker" in r.json()["error"]["message"]


def test_the_document_states_304_401_403_and_the_worker_role(client):
    op = client.get("/openapi.json").json()["paths"]["/api/v1/me/cases"]["get"]
    assert {"200", "304", "401", "403"} <= set(op["responses"])
    assert op["x-roles"] == ["worker (own queue)"]
    assert "ETag" in op["responses"]["200"]["headers"]


def test_an_empty_queue_still_names_the_worker(client, db, tiny, tokens):
    r = client.get("/api/v1/me/cases", headers=worker_token(db, tiny.workers["lead"]))
    assert r.status_code == 200
    assert r.json() == {"worker_id": tiny.workers["lead"].id, "public_name": "李网格长", "department": None,
                        "total": 0, "cases": []}
