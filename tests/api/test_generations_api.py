"""The planners' API over the tiny city: upload, check, diff, activate, discard, history, and
the signs of a retired grid leading to its successor."""

from __future__ import annotations

import sqlalchemy as sa
from shapely.geometry import box

from geo.models import Report, ReportStatus
from tests.geo.boundaries.test_redraw import G1, G2, G3, G4, GRIDS, write


def upload(client, headers, path, **form):
    with open(path, "rb") as fh:
        return client.post("/api/v1/generations", headers=headers, data=form,
                           files={"file": (path.name, fh, "application/geo+json")})


def merged(tmp_path):
    return write(tmp_path, [(G1, box(116.40, 39.91, 116.42, 39.92)), (G3, box(*GRIDS[G3])), (G4, box(*GRIDS[G4]))])


def test_only_planners_and_admins_change_boundaries(client, tokens, tmp_path):
    path = merged(tmp_path)
    assert upload(client, {}, path).status_code == 401
    assert upload(client, {"Authorization": tokens["dispatcher"]}, path).status_code == 403
    assert client.get("/api/v1/generations", headers={"Authorization": tokens["worker"]}).status_code == 403


def test_upload_check_diff_activate_and_the_retired_grid_leads_to_its_successor(client, db, tokens, tmp_path):
    db.execute(sa.update(Report).values(status=ReportStatus.closed))
    planner = {"Authorization": tokens["planner"]}
    r = upload(client, planner, merged(tmp_path), description="merge 001 and 002")
    assert r.status_code == 201, r.text
    body = r.json()
    draft = body["generation"]
    assert body["removed"] == [G2] and body["redrawn"] == [G1] and body["findings"] == 0
    check = client.get(f"/api/v1/generations/{draft}/check", headers=planner).json()
    assert check["ok"] and check["errors"] == 0
    diff = client.get(f"/api/v1/generations/{draft}/diff", headers=planner).json()
    assert diff["counts"]["areas"]["grid"] == {"removed": 1, "reshaped": 1, "unchanged": 2}
    geo = client.get(f"/api/v1/generations/{draft}/diff?format=geojson", headers=planner).json()
    assert {(f["properties"]["code"], f["properties"]["version"]) for f in geo["features"]} == {
        (G1, "old"), (G1, "new"), (G2, "old")}
    listed = client.get("/api/v1/generations", headers=planner).json()["generations"]
    assert listed[0]["id"] == draft and listed[0]["status"] == "draft" and listed[0]["created_by"]
    assert listed[0]["counts"]["grid"] == {"reshaped": 1, "removed": 1}

    r = client.post(f"/api/v1/generations/{draft}/activate", headers=planner, json={})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "active"
    assert client.delete(f"/api/v1/generations/{draft}", headers=planner).status_code == 409

    page = client.get(f"/grids/{G2}", follow_redirects=False)
    assert page.status_code == 302 and page.headers["location"] == f"/grids/{G1}"
    qr = client.get(f"/grids/{G2}/qr.svg", follow_redirects=False)
    assert qr.status_code == 302 and qr.headers["location"] == f"/grids/{G1}/qr.svg"
    form = client.get(f"/report?grid={G2}", follow_redirects=False)
    assert form.status_code == 302 and form.headers["location"] == f"/report?grid={G1}"
    gone = client.get(f"/api/v1/grids/{G2}")
    assert gone.status_code == 404 and gone.json()["error"]["successors"] == [G1]
    story = client.get(f"/api/v1/grids/{G2}/history").json()
    assert story["current"] is False and [s["code"] for s in story["successors"]] == [G1]
    story = client.get(f"/api/v1/grids/{G1}/history").json()
    assert [v["generation_high"] for v in story["versions"]][-1] == draft
    assert {d["code"] for d in story["versions"][-1]["drawn_from"]} == {G1, G2}


def test_a_bad_upload_lists_every_problem_and_changes_nothing(client, tokens, tmp_path):
    planner = {"Authorization": tokens["planner"]}
    path = write(tmp_path, [("12345", box(*GRIDS[G1])), (G2, box(200, 39.91, 201, 39.92))])
    r = upload(client, planner, path)
    assert r.status_code == 422
    problems = r.json()["error"]["problems"]
    assert any("feature 12345: code '12345' must be 15 digits" in p for p in problems)
    assert any(f"feature {G2}: geometry lon must be within [-180, 180]" in p for p in problems), problems
    assert all(g["status"] != "draft" for g in client.get("/api/v1/generations", headers=planner).json()["generations"])
    r = client.post("/api/v1/generations", headers=planner, files={"file": ("x.txt", b"hello", "text/plain")})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "file"


def test_activation_can_be_scheduled_and_needs_a_timezone(client, tokens, tmp_path):
    planner = {"Authorization": tokens["planner"]}
    draft = upload(client, planner, merged(tmp_path)).json()["generation"]
    r = client.post(f"/api/v1/generations/{draft}/activate", headers=planner, json={"at": "2030-01-01T00:00:00"})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "at"
    r = client.post(f"/api/v1/generations/{draft}/activate", headers=planner, json={"at": "2030-01-01T00:00:00+08:00"})
    assert r.status_code == 200 and r.json()["status"] == "scheduled"
    one = client.get(f"/api/v1/generations/{draft}", headers=planner).json()
    assert one["status"] == "draft" and one["scheduled_at"].startswith("2029-12-31T16:00")
    assert client.delete(f"/api/v1/generations/{draft}", headers=planner).status_code == 204
    assert client.get(f"/api/v1/generations/{draft}", headers=planner).status_code == 404


def test_assignments_through_the_api_let_a_split_activate(client, db, tiny, tokens, tmp_path):
    db.execute(sa.update(Report).values(status=ReportStatus.closed))
    planner = {"Authorization": tokens["planner"]}
    path = write(tmp_path, [(G1, box(116.40, 39.91, 116.405, 39.92)), (None, box(116.405, 39.91, 116.41, 39.92)),
                            (G2, box(*GRIDS[G2])), (G3, box(*GRIDS[G3])), (G4, box(*GRIDS[G4]))])
    body = upload(client, planner, path).json()
    draft, new = body["generation"], body["numbered"]["2"]
    assert client.post(f"/api/v1/generations/{draft}/activate", headers=planner, json={}).status_code == 409
    bad = client.post(f"/api/v1/generations/{draft}/assignments", headers=planner,
                      files={"file": ("a.csv", b"grid_code,worker_id,role\n999,T001,boss\n", "text/csv")})
    assert bad.status_code == 422 and "row 2: grid_code '999' is not an area of the draft" in bad.text
    csv = f"grid_code,worker_id,role\n{new},T003,primary\n".encode()
    r = client.post(f"/api/v1/generations/{draft}/assignments", headers=planner,
                    files={"file": ("a.csv", csv, "text/csv")})
    assert r.status_code == 201 and r.json()["planned"] == 1
    assert client.post(f"/api/v1/generations/{draft}/activate", headers=planner, json={}).status_code == 200
    grid = client.get(f"/api/v1/grids/{new}").json()
    assert grid["properties"]["workers"][0]["assignment"] == "primary"
    assert grid["properties"]["workers"][0]["public_name"] == tiny.workers[G3].public_name
