"""Unlimited public queries cannot locate a sensitive case finer than its public cell, nor a
worker finer than theirs (hardening issue, defect 4). Each attack is also run with a staff
token, where it must succeed: that is what shows the attack itself works."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyproj import Geod
from scipy.optimize import least_squares

from geo.access.privacy import coarse_point
from tests.api.report_helpers import body
from tests.conftest import STAFF

# Well inside grid 001 and far from its cell's centre (116.405, 39.915): ~160 m and ~190 m off.
SECRET = (116.4068, 39.9167)
GEOD = Geod(ellps="WGS84")


def metres(a, b) -> float:
    return GEOD.inv(a[0], a[1], b[0], b[1])[2]


def bisect(client, rid: str, headers: dict, steps: int = 30) -> tuple[float, float]:
    """Find the report with bbox filters only: shrink the box by halves, one axis at a time,
    keeping the half it is still listed in. Returns the box's centre after ``steps`` rounds."""
    box = [116.40, 39.90, 116.42, 39.92]

    def listed(b) -> bool:
        page = client.get("/api/v1/reports", params={"bbox": ",".join(map(repr, b)), "category": "10",
                                                     "limit": 1000}, headers=headers).json()
        return any(item["id"] == rid for item in page["items"])

    assert listed(box)
    queries = 0
    for _ in range(steps):
        for axis in (0, 1):
            lo, hi = box[axis], box[axis + 2]
            mid = (lo + hi) / 2
            low_half = list(box)
            low_half[axis + 2] = mid
            queries += 1
            if listed(low_half):
                box = low_half
            else:
                box[axis] = mid
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def test_bbox_bisection_finds_only_the_public_cell(client, tiny):
    payload = body(category="10", subcategory="1002", description="家庭纠纷",
                   location={"lon": SECRET[0], "lat": SECRET[1]})
    assert client.post("/api/v1/reports", json=payload).status_code == 201
    cell = coarse_point(*SECRET)
    public = bisect(client, payload["id"], headers={})
    assert metres(public, cell) < 0.01, "bisection converges on the cell's centre"
    assert metres(public, SECRET) > 150, "and never on the case"
    exact = bisect(client, payload["id"], headers=STAFF)  # a dispatcher may see the point: the attack works
    assert metres(exact, SECRET) < 0.01


def trilaterate(client, worker_id: int, headers: dict) -> tuple[float, float]:
    """Distances to the worker from a ring of query points, then a least-squares fix."""
    pts, dists = [], []
    for k in range(36):
        a = 2 * math.pi * k / 36
        q = (116.405 + 0.004 * math.cos(a), 39.915 + 0.003 * math.sin(a))
        out = client.get("/api/v1/dispatch", params={"lon": q[0], "lat": q[1]}, headers=headers).json()
        near = [n for n in out["nearest_on_duty"] if n["id"] == worker_id]
        assert near, "the worker is among the nearest from every point of the ring"
        pts.append(q)
        dists.append(near[0]["distance_m"])

    def residuals(p):
        return [metres(p, q) - d for q, d in zip(pts, dists)]

    fit = least_squares(residuals, x0=np.array([116.405, 39.915]), x_scale=[1e-3, 1e-3])
    return float(fit.x[0]), float(fit.x[1])


def test_trilateration_of_a_worker_finds_only_their_cell(client, tiny):
    worker = tiny.workers[next(iter(tiny.workers))]
    r = client.put(f"/api/v1/workers/{worker.id}/position", json={"lon": SECRET[0], "lat": SECRET[1]}, headers=STAFF)
    assert r.status_code == 200
    cell = coarse_point(*SECRET)
    public = trilaterate(client, worker.id, headers={})
    assert metres(public, SECRET) > 100, "public distances never pin the worker down"
    assert metres(public, cell) < metres(public, SECRET)
    exact = trilaterate(client, worker.id, headers=STAFF)  # staff see exact distances: the attack works
    assert metres(exact, SECRET) < 1.0


def test_public_rank_follows_the_cells_not_the_positions(client, tiny):
    """Two workers in one cell tie publicly (ordered by id), whatever their exact distance."""
    a, b = (tiny.workers[c] for c in list(tiny.workers)[:2])
    b.on_duty = True  # the tiny city's worker 2 is off duty
    client.put(f"/api/v1/workers/{a.id}/position", json={"lon": 116.4062, "lat": 39.9162}, headers=STAFF)
    client.put(f"/api/v1/workers/{b.id}/position", json={"lon": 116.4038, "lat": 39.9138}, headers=STAFF)
    for q in ((116.4061, 39.9161), (116.4039, 39.9139)):
        near = client.get("/api/v1/dispatch", params={"lon": q[0], "lat": q[1]}).json()["nearest_on_duty"]
        assert [n["id"] for n in near[:2]] == sorted([a.id, b.id])
        assert near[0]["distance_m"] == near[1]["distance_m"]


def test_no_public_filter_or_number_places_a_sensitive_case_in_its_grid(client, tiny):
    from tests.api.report_helpers import G1

    payload = body(category="10", subcategory="1002", location={"lon": SECRET[0], "lat": SECRET[1]})
    created = client.post("/api/v1/reports", json=payload).json()
    plain = body(location={"lon": SECRET[0], "lat": SECRET[1]})
    client.post("/api/v1/reports", json=plain)

    def listed(params, headers=None):
        items = client.get("/api/v1/reports", params=params, headers=headers or {}).json()["items"]
        return {i["id"] for i in items}

    assert payload["id"] not in listed({"area": G1}) and plain["id"] in listed({"area": G1})
    assert payload["id"] in listed({"area": G1[:12]})  # its public area is its community
    assert payload["id"] in listed({"area": G1}, STAFF)
    grid_stats = client.get("/api/v1/stats", params={"level": "grid", "category": "10"}).json()["areas"]
    assert grid_stats == []
    community = client.get("/api/v1/stats", params={"level": "community", "category": "10"}).json()["areas"]
    assert community and community[0]["total"] >= 1
    staff_grid = client.get("/api/v1/stats", params={"level": "grid", "category": "10"}, headers=STAFF).json()["areas"]
    assert G1 in [a["code"] for a in staff_grid]
    # Duplicate suggestions would point at the other sensitive cases nearby, nearest first.
    second = client.post("/api/v1/reports", json=body(category="10", subcategory="1002",
                                                     location={"lon": SECRET[0], "lat": SECRET[1]})).json()
    assert second["possible_duplicates"] == [] and created["possible_duplicates"] == []
    for_staff = client.post("/api/v1/reports", json=body(category="10", subcategory="1002",
                                                        location={"lon": SECRET[0], "lat": SECRET[1]}),
                            headers=STAFF).json()
    assert payload["id"] in for_staff["possible_duplicates"]


def test_internal_maps_show_planners_sensitive_cases_at_their_public_cell(client, tiny, tokens):
    """A planner holds the internal maps but never personal data: the live feed, the
    analysis and its downloads place a sensitive case at its public cell; a dispatcher sees it
    where it is. Workers' positions: exact for dispatchers, their cell for planners."""
    import h3

    from geo.access.privacy import WORKER_CELL_DEG

    payload = body(category="10", subcategory="1002", location={"lon": SECRET[0], "lat": SECRET[1]})
    assert client.post("/api/v1/reports", json=payload).status_code == 201
    planner, dispatcher = ({"Authorization": tokens[r]} for r in ("planner", "dispatcher"))
    cell = coarse_point(*SECRET)

    def feed_point(headers):
        features = client.get("/maps/feeds/reports.geojson", headers=headers).json()["features"]
        return tuple(next(f for f in features if f["id"] == payload["id"])["geometry"]["coordinates"])

    assert feed_point(planner) == pytest.approx(cell, abs=1e-5)
    assert feed_point(dispatcher) == pytest.approx(SECRET, abs=1e-5)

    reported = client.get(f"/api/v1/reports/{payload['id']}", headers=dispatcher).json()["reported_at"]
    from datetime import datetime, timedelta

    t = datetime.fromisoformat(reported)
    params = {"category": "10", "resolution": 10, "unit": "hex", "since": (t - timedelta(seconds=1)).isoformat(),
              "until": (t + timedelta(seconds=1)).isoformat()}

    def hexes(headers):
        features = client.get("/maps/hotspots.geojson", params=params, headers=headers).json()["features"]
        return {f["properties"]["cell"] for f in features if f["properties"]["reports"] > 0}

    assert hexes(planner) == {h3.latlng_to_cell(cell[1], cell[0], 10)}
    assert hexes(dispatcher) == {h3.latlng_to_cell(SECRET[1], SECRET[0], 10)}

    worker = tiny.workers[next(iter(tiny.workers))]
    client.put(f"/api/v1/workers/{worker.id}/position", json={"lon": SECRET[0], "lat": SECRET[1]}, headers=dispatcher)

    def worker_point(headers):
        features = client.get("/maps/feeds/workers.geojson", headers=headers).json()["features"]
        return tuple(next(f for f in features if f["id"] == f"w{worker.id}")["geometry"]["coordinates"])

    assert worker_point(planner) == pytest.approx(coarse_point(*SECRET, deg=WORKER_CELL_DEG), abs=1e-5)
    assert worker_point(dispatcher) == pytest.approx(SECRET, abs=1e-5)


def test_a_planners_bbox_and_grid_counts_use_the_public_location(client, db, tiny, tokens):
    from datetime import UTC, datetime

    from geo.analytics.mapdata import area_status
    from geo.models import AreaLevel
    from tests.api.report_helpers import G1

    payload = body(category="10", subcategory="1002", location={"lon": SECRET[0], "lat": SECRET[1]})
    client.post("/api/v1/reports", json=payload)
    planner, dispatcher = ({"Authorization": tokens[r]} for r in ("planner", "dispatcher"))
    # A box around the point that leaves out its cell's centre (116.405, 39.915).
    box = f"{SECRET[0] - 0.0005},{SECRET[1] - 0.0005},{SECRET[0] + 0.0005},{SECRET[1] + 0.0005}"
    params = {"category": "10", "bbox": box, "unit": "hex", "resolution": 10}

    def total(headers):
        features = client.get("/maps/hotspots.geojson", params=params, headers=headers).json()["features"]
        return sum(f["properties"]["reports"] for f in features)

    assert total(dispatcher) >= 1 and total(planner) == 0
    now = datetime.now(UTC)
    public = area_status(db, generation=tiny.generation, levels=[AreaLevel.grid, AreaLevel.community], now=now)
    exact = area_status(db, generation=tiny.generation, levels=[AreaLevel.grid], now=now, public=False)
    grid = {a.code: a.open for a in public["grid"]}
    assert {a.code: a.open for a in exact["grid"]}[G1] == grid[G1] + 1, "per grid, publicly without the case"
    assert {a.code: a.open for a in public["community"]}[G1[:12]] == sum(grid.values()) + 1
