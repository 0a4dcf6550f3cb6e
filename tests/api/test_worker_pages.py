"""The worker's phone pages (/worker): sign-in, the queue page, a case page (their scripts are
static files; the browser test in tests/maps/test_browser_worker.py drives them)."""

from __future__ import annotations

import re

from api.auth import STAFF_COOKIE
from tests.api.report_helpers import body


def token_of(tokens, role: str) -> str:
    return tokens[role].split()[1]


def test_without_a_worker_token_the_pages_answer_with_the_sign_in_form(client, tokens):
    rid = client.post("/api/v1/reports", json=(b := body())).json()["id"]
    assert rid == b["id"]
    for url, nxt in (("/worker", "/worker"), (f"/worker/cases/{rid}", f"/worker/cases/{rid}")):
        r = client.get(url)
        assert r.status_code == 401 and r.headers["content-type"].startswith("text/html")
        assert 'action="/worker/login"' in r.text and f'value="{nxt}"' in r.text
        r = client.get(url, headers={"Authorization": tokens["dispatcher"]})
        assert r.status_code == 403 and "dispatcher" in r.text and 'action="/worker/login"' in r.text


def test_signing_in_sets_the_staff_cookie_and_opens_the_queue(client, tokens):
    r = client.post("/worker/login", data={"token": token_of(tokens, "worker")}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/worker"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{STAFF_COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    page = client.get("/worker")  # the TestClient keeps the cookie
    assert page.status_code == 200 and 'data-page="queue"' in page.text
    assert client.get("/api/v1/me/cases").status_code == 200  # the page's API calls carry it too
    out = client.post("/worker/logout", follow_redirects=False)
    assert out.status_code == 303 and f'{STAFF_COOKIE}=""' in out.headers["set-cookie"]


def test_sign_in_refuses_other_tokens_and_foreign_next(client, tokens):
    for token in ("nope", token_of(tokens, "dispatcher"), token_of(tokens, "admin")):
        r = client.post("/worker/login", data={"token": token}, follow_redirects=False)
        assert r.status_code == 401 and "set-cookie" not in r.headers
        assert "不是网格员的令牌" in r.text
    for nxt in ("https://evil.example/", "//evil.example/x", "/maps/command-center", "/worker/cases/../../x"):
        r = client.post("/worker/login", data={"token": token_of(tokens, "worker"), "next": nxt},
                        follow_redirects=False)
        assert r.headers["location"] == "/worker", nxt
    rid = "7d0f6c2e-4a51-4e4e-9d61-5b7f3c2a9e10"
    r = client.post("/worker/login", data={"token": token_of(tokens, "worker"), "next": f"/worker/cases/{rid}"},
                    follow_redirects=False)
    assert r.headers["location"] == f"/worker/cases/{rid}"


def test_the_case_page_loads_nothing_from_elsewhere_and_runs_no_inline_script(client, tokens):
    rid = client.post("/api/v1/reports", json=body()).json()["id"]
    h = {"Authorization": tokens["worker"]}
    r = client.get(f"/worker/cases/{rid}", headers=h)
    assert r.status_code == 200 and f'data-report="{rid}"' in r.text
    assert f'href="/cases/{rid}"' in r.text  # the staff case page
    assert not re.search(r'(src|href)="(https?:)?//', r.text)
    csp = r.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert '<script src="/assets/leaflet/dist/leaflet.js">' in r.text and '<script src="/static/worker.js">' in r.text
    assert client.get("/static/worker.js").status_code == 200 and client.get("/static/worker.css").status_code == 200
    missing = client.get("/worker/cases/00000000-0000-4000-8000-000000000000", headers=h)
    assert missing.status_code == 404
