"""Internal map pages need staff sign-in once tokens exist; public pages never do."""

from __future__ import annotations

import pytest

from tests.conftest import STAFF_TOKEN

INTERNAL = ["/maps/command-center", "/maps/feeds/reports.geojson", "/maps/feeds/workers.geojson",
            "/maps/hotspots", "/maps/hotspots.csv", "/maps/hotspots.geojson"]


@pytest.mark.parametrize("path", INTERNAL)
def test_internal_pages_refuse_anonymous(client, small_city, path):
    r = client.get(path)
    assert r.status_code == 401 and "/maps/login" in r.json()["error"]["message"]


def test_sign_in_sets_a_cookie_that_opens_the_pages(client, small_city):
    assert client.get("/maps/login").status_code == 200
    wrong = client.post("/maps/login", data={"token": "guess"}, follow_redirects=False)
    assert wrong.status_code == 401
    ok = client.post("/maps/login", data={"token": STAFF_TOKEN}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/maps/command-center"
    cookie = ok.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert client.get("/maps/feeds/reports.geojson").status_code == 200  # the cookie rides along


def test_public_pages_stay_public(client, small_city):
    code = client.get("/api/v1/grids?limit=1").json()["features"][0]["id"]
    assert client.get("/embed/hotspots").status_code == 200
    assert client.get(f"/grids/{code}").status_code == 200
    assert client.get(f"/grids/{code}/qr.png").status_code == 200
