"""GET /bulletin: the staff page's answers, its CSP (the srcdoc map's scripts allowed) and cache."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import lxml.html

from api.headers import inline_script_hashes


def test_the_page_its_csp_and_its_cache(client, tokens):
    h = {"Authorization": tokens["dispatcher"]}
    r = client.get("/bulletin", params={"period": "month", "end": "2024-03-10"}, headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["content-disposition"] == 'inline; filename="bulletin-month-2024-03-10.html"'
    assert r.headers["x-cache"] == "miss"
    page = lxml.html.fromstring(r.text)
    assert "2024-02-11 – 2024-03-10" in page.xpath("//header")[0].text_content()  # 11 Feb – 10 Mar: a month
    frame = page.xpath("//iframe[@srcdoc]")[0].get("srcdoc")
    wanted = inline_script_hashes(frame, folium=True)
    assert len(wanted) >= 3  # Leaflet, the fullscreen control, the map itself
    csp = r.headers["content-security-policy"]
    assert all(w in csp for w in wanted) and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    again = client.get("/bulletin", params={"period": "month", "end": "2024-03-10"}, headers=h)
    assert again.headers["x-cache"] == "hit" and again.text == r.text


def test_bad_fields_are_422_naming_them(client, tokens):
    h = {"Authorization": tokens["planner"]}
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    for params, field in (({"period": "year"}, "period"), ({"end": today}, "end"), ({"end": "2026-02-30"}, "end"),
                          ({"end": "0001-01-01"}, "end"), ({"end": "9999-12-31"}, "end")):
        r = client.get("/bulletin", params=params, headers=h)
        assert r.status_code == 422, (params, r.text)
        assert [f["field"] for f in r.json()["error"]["fields"]] == [field], r.text
