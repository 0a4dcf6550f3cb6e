"""Open311 GeoReport v2 (/open311/v2) as FixMyStreet's Open311 client speaks it.

``FixMyStreet`` below sends exactly what perllib/Open311.pm sends: ``send_service_request``
POSTs requests.xml form-encoded (description, service_code, first_name, last_name, phone,
email, lat/long truncated to 6 decimals, media_url, attribute[...] from the contact's extra
fields, jurisdiction_id and api_key added by ``_request``), reads
``service_requests/request/service_request_id``; ``get_service_requests`` GETs requests.xml
with a comma list of service_request_id and jurisdiction_id; errors are read as
``errors/error/{code,description}``.
"""

from __future__ import annotations

import uuid
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree as ET

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from geo.access.privacy import coarse_point
from geo.models import Report
from geo.reports.categories import CATALOGUE
from tests import images
from tests.api.report_helpers import G1, INSIDE_G1, body
from tests.tiny_city import COMMUNITY

CITY = "110100"  # the tiny city's code: its jurisdiction_id
# GeoReport v2's fields of a service request (GET requests), in the spec's order.
REQUEST_FIELDS = ["service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                  "agency_responsible", "service_notice", "address", "address_id", "zipcode", "requested_datetime",
                  "updated_datetime", "expected_datetime", "lat", "long", "media_url"]
SERVICE_FIELDS = ["service_code", "service_name", "description", "metadata", "type", "keywords", "group"]
GROUP_TAGS = {"services": "service", "attributes": "attribute", "values": "value", "service_requests": "request",
              "errors": "error"}


def xml_object(text: str) -> tuple[str, list[dict]]:
    """The document as FixMyStreet's XML::Simple reads it (ForceArray on the group tags):
    (root tag, its items as {child tag: text})."""
    root = ET.fromstring(text)
    item = GROUP_TAGS[root.tag]
    items = [{c.tag: c.text for c in el} for el in root if el.tag == item]
    assert len(items) == len(root), f"{root.tag} holds only <{item}> elements"
    return root.tag, items


class FixMyStreet:
    """perllib/Open311.pm against this endpoint."""

    def __init__(self, client, *, api_key: str | None, jurisdiction: str | None = CITY):
        self.client, self.api_key, self.jurisdiction = client, api_key, jurisdiction

    def _params(self, params: dict, method: str) -> dict:
        if self.jurisdiction:
            params["jurisdiction_id"] = self.jurisdiction
        if method == "POST" and self.api_key:
            params["api_key"] = self.api_key
        return params

    def problem_params(self, *, lon=INSIDE_G1[0], lat=INSIDE_G1[1], service_code="3001", fms_id=1234,
                       detail="小区门口垃圾堆积", photo: str | None = None, **over) -> dict:
        """_populate_service_request_params for a problem made on the map (used_map)."""
        params = {
            # extended_description: title, detail, url, "Submitted via FixMyStreet"
            "description": f"title: 垃圾\n\ndetail: {detail}\n\nurl: https://fms.example/report/{fms_id}\n\n"
                           "Submitted via FixMyStreet\n",
            "service_code": service_code, "first_name": "小明", "last_name": "王",
            "email": "wang@example.com", "phone": "13912345678",
            "lat": f"{lat:0.6f}".rstrip("0").rstrip("."), "long": f"{lon:0.6f}".rstrip("0").rstrip("."),
            "attribute[fixmystreet_id]": str(fms_id),
        }
        if photo:
            params["media_url"] = photo
        params.update(over)
        return params

    def send_service_request(self, params: dict, fmt: str = "xml", headers: dict | None = None):
        return self.client.post(f"/open311/v2/requests.{fmt}", data=self._params(dict(params), "POST"),
                                headers=headers or {})

    def get_service_requests(self, ids: list[str], fmt: str = "xml", **args):
        params = self._params({"service_request_id": ",".join(ids), **args}, "GET")
        return self.client.get(f"/open311/v2/requests.{fmt}", params=params)


@pytest.fixture()
def fms(client, tokens):
    return FixMyStreet(client, api_key=tokens["system"].split()[1])


def request_id(r) -> str:
    root, items = xml_object(r.text)
    assert root == "service_requests" and len(items) == 1, r.text
    return items[0]["service_request_id"]


def check_request(record: dict) -> None:
    assert list(record) == REQUEST_FIELDS
    assert record["status"] in ("open", "closed")
    for name in ("requested_datetime", "updated_datetime"):
        assert datetime.fromisoformat(record[name]).utcoffset() is not None


def test_discovery_and_services(client):
    d = client.get("/open311/v2/discovery.json").json()
    assert d["endpoints"][0]["url"] == "http://testserver/open311/v2"
    assert d["endpoints"][0]["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert ET.fromstring(client.get("/open311/v2/discovery.xml").text).find("endpoints/endpoint/url").text.endswith(
        "/open311/v2")
    services = client.get("/open311/v2/services.json").json()
    subs = [s for c in CATALOGUE for s in c.subcategories]
    assert [s["service_code"] for s in services] == [s.code for s in subs]
    assert all(list(s) == SERVICE_FIELDS for s in services)
    rubbish = next(s for s in services if s["service_code"] == "3001")
    assert rubbish["group"] == "城市管理" and rubbish["service_name"] == "暴露垃圾" and rubbish["metadata"] is False
    r = client.get("/open311/v2/services.xml")
    assert r.headers["content-type"].startswith("text/xml")
    root, items = xml_object(r.text)
    assert root == "services" and [i["service_code"] for i in items] == [s.code for s in subs]
    assert items[0]["metadata"] == "false" and set(items[0]) == set(SERVICE_FIELDS)
    definition = client.get("/open311/v2/services/3001.json").json()
    assert definition == {"service_code": "3001", "attributes": []}
    xml = ET.fromstring(client.get("/open311/v2/services/3001.xml").text)
    assert xml.tag == "service_definition" and xml.find("service_code").text == "3001"
    assert list(xml.find("attributes")) == []


def test_fixmystreet_files_polls_and_retries(fms, client, db, tiny):
    photo = "https://fms.example/photo/1234.0.full.jpeg"
    params = fms.problem_params(photo=photo)
    r = fms.send_service_request(params)
    assert r.status_code == 201, r.text
    assert r.headers["content-type"].startswith("text/xml")
    sid = request_id(r)
    report = db.get(Report, uuid.UUID(sid))
    assert report.grid_code == G1 and report.filed_by == "system:test-hotline"
    assert report.reporter_name == "王小明" and report.reporter_phone == "13912345678"
    assert report.photos == [photo] and report.subcategory == "3001" and report.source.value == "citizen"
    # FixMyStreet retries after a timeout: the same fixmystreet_id files nothing new.
    count = db.scalar(sa.select(sa.func.count()).select_from(Report))
    again = fms.send_service_request(params)
    assert again.status_code == 200 and request_id(again) == sid
    assert db.scalar(sa.select(sa.func.count()).select_from(Report)) == count
    # ... and as JSON
    j = fms.send_service_request(params, fmt="json").json()
    assert j[0]["service_request_id"] == sid and "already registered" in j[0]["service_notice"]
    # The same id from another client is another request.
    other = FixMyStreet(client, api_key=None)
    assert other.send_service_request(params).status_code == 403

    one = client.get(f"/open311/v2/requests/{sid}.json", params={"jurisdiction_id": CITY}).json()
    assert len(one) == 1
    rec = one[0]
    check_request(rec)
    assert rec["service_request_id"] == sid and rec["status"] == "open" and rec["service_code"] == "3001"
    assert rec["service_name"] == "暴露垃圾" and "detail: 小区门口垃圾堆积" in rec["description"]
    assert rec["lat"] == pytest.approx(INSIDE_G1[1]) and rec["long"] == pytest.approx(INSIDE_G1[0])
    assert rec["media_url"] == photo  # a link the client sent stays as sent
    assert f"grid {G1}" in rec["agency_responsible"] and f"community {COMMUNITY}" in rec["agency_responsible"]
    assert rec["address_id"] == G1 and "王" not in str(rec) and "1391234" not in str(rec)
    assert datetime.fromisoformat(rec["expected_datetime"]) == report.due_at.replace(microsecond=0)

    polled = fms.get_service_requests([sid])
    assert polled.status_code == 200
    root, items = xml_object(polled.text)
    assert root == "service_requests" and [i["service_request_id"] for i in items] == [sid]
    assert list(items[0]) == REQUEST_FIELDS and items[0]["status"] == "open"
    assert items[0]["media_url"] == photo and items[0]["zipcode"] is None


def test_idempotency_key_header(fms, db, tiny):
    params = fms.problem_params()
    del params["attribute[fixmystreet_id]"]
    first = fms.send_service_request(params, fmt="json", headers={"Idempotency-Key": "hotline-0042"})
    second = fms.send_service_request(params, fmt="json", headers={"Idempotency-Key": "hotline-0042"})
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()[0]["service_request_id"] == second.json()[0]["service_request_id"]
    # Without any id each POST is a new request (the spec has no id of the client's).
    assert fms.send_service_request(params, fmt="json").json()[0]["service_request_id"] != \
        first.json()[0]["service_request_id"]
    changed = dict(params, description="something else")
    conflict = fms.send_service_request(changed, fmt="json", headers={"Idempotency-Key": "hotline-0042"})
    assert conflict.status_code == 409 and conflict.json()[0]["code"] == 409


def test_a_sensitive_case_is_coarsened_and_its_text_hidden(fms, client, tokens, tiny):
    lon, lat = 116.4033, 39.9162
    r = fms.send_service_request(fms.problem_params(service_code="1001", lon=lon, lat=lat, detail="邻居吵架"), fmt="json")
    assert r.status_code == 201, r.text
    sid = r.json()[0]["service_request_id"]
    public = client.get(f"/open311/v2/requests/{sid}.json").json()[0]
    check_request(public)
    assert (public["long"], public["lat"]) == coarse_point(lon, lat) != (lon, lat)
    assert public["description"] == "" and public["address_id"] == COMMUNITY
    assert "grid " not in public["agency_responsible"] and G1 not in str(public)
    listed = [i for i in client.get("/open311/v2/requests.json").json() if i["service_request_id"] == sid]
    assert listed == [public]
    xml = [i for i in xml_object(client.get("/open311/v2/requests.xml").text)[1] if i["service_request_id"] == sid]
    assert xml[0]["description"] is None and float(xml[0]["lat"]) == coarse_point(lon, lat)[1]
    # The system that filed it reads the public view too; a dispatcher reads it in full.
    system = client.get(f"/open311/v2/requests/{sid}.json", params={"api_key": tokens["system"].split()[1]}).json()[0]
    assert system["description"] == ""
    full = client.get(f"/open311/v2/requests/{sid}.json", headers={"Authorization": tokens["dispatcher"]}).json()[0]
    assert "邻居吵架" in full["description"] and full["lat"] == pytest.approx(lat) and full["address_id"] == G1


def test_stored_photos_are_absolute_links(client, tiny):
    payload = body()
    created = client.post("/api/v1/reports", json=payload).json()
    png = images.png(colour=(10, 20, 30))
    r = client.post(f"/api/v1/reports/{payload['id']}/photos", files={"photo": ("p.png", png, "image/png")},
                    headers={"X-Case-Token": created["case_token"]})
    assert r.status_code == 201, r.text
    stored = r.json()["photos"][0]
    rec = client.get(f"/open311/v2/requests/{payload['id']}.json").json()[0]
    assert rec["media_url"] == "http://testserver" + stored
    assert client.get(rec["media_url"]).status_code == 200


def test_post_needs_a_key_once_tokens_exist(client, tokens, tiny):
    params = FixMyStreet(client, api_key=None).problem_params()
    for fmt in ("json", "xml"):
        r = client.post(f"/open311/v2/requests.{fmt}", data=params)
        assert r.status_code == 403
        if fmt == "json":
            assert r.json()[0]["code"] == 403 and "api_key" in r.json()[0]["description"]
        else:
            err = ET.fromstring(r.text)
            assert err.tag == "errors" and err.find("error/code").text == "403"
    bad = client.post("/open311/v2/requests.json", data={**params, "api_key": "gm_" + "x" * 43})
    assert bad.status_code == 403 and "not valid" in bad.json()[0]["description"]
    worker = client.post("/open311/v2/requests.json", data={**params, "api_key": tokens["worker"].split()[1]})
    assert worker.status_code == 403
    header = client.post("/open311/v2/requests.json", data=params, headers={"Authorization": tokens["system"]})
    assert header.status_code == 201


@pytest.fixture()
def open_client(engine, db, tiny):
    from api.app import create_app
    from api.deps import get_session, get_session_opener
    from api.settings import ApiSettings

    app = create_app(engine=engine, api_settings=ApiSettings(escalation_interval_s=0, intake_batching=False,
                                                             token_cache_s=0))
    app.dependency_overrides[get_session] = lambda: db
    app.dependency_overrides[get_session_opener] = lambda: (lambda: nullcontext(db))
    app.state.authenticator._sessionmaker = lambda: nullcontext(db)
    with TestClient(app) as c:
        yield c


def test_the_open_demo_takes_requests_without_a_key(open_client, db):
    r = FixMyStreet(open_client, api_key=None).send_service_request(FixMyStreet(open_client, api_key=None)
                                                                   .problem_params(), fmt="json")
    assert r.status_code == 201, r.text
    assert db.get(Report, uuid.UUID(r.json()[0]["service_request_id"])).filed_by is None


@pytest.mark.parametrize(("over", "field"), [
    ({"media_url": "ftp://fms.example/p.jpg"}, "media_url"),
    ({"media_url": "javascript:alert(1)"}, "media_url"),
    ({"media_url": "/relative/p.jpg"}, "media_url"),
    ({"lat": "", "long": "", "address_string": "兴隆台区振兴街道 1 号"}, "lat"),
    ({"lat": "north"}, "lat"),
    ({"lat": "nan"}, "lat"),
    ({"long": "1e400"}, "long"),
    ({"long": ""}, "long"),
    ({"service_code": "9999"}, "service_code"),
    ({"service_code": "30"}, "service_code"),
    ({"title": "extra"}, "title"),
    ({"attribute[source]": "rumour"}, "attribute[source]"),
    ({"phone": "call me"}, "phone"),
    ({"description": "x" * 2001}, "description"),
    ({"description": "nul\x00"}, "description"),
    ({"lat": "95"}, "lat"),
])
def test_bad_posts_are_400s_naming_the_field(fms, tiny, over, field):
    params = {**fms.problem_params(), **over}
    for fmt in ("json", "xml"):
        r = fms.send_service_request(params, fmt=fmt)
        assert r.status_code == 400, (over, r.status_code, r.text)
        if fmt == "json":
            (err,) = r.json()
            assert err["code"] == 400 and err["description"].startswith(field), err
        else:
            root, items = xml_object(r.text)
            assert root == "errors" and items[0]["code"] == "400" and items[0]["description"].startswith(field)


def test_an_address_alone_is_refused_explicitly(fms, tiny):
    params = {k: v for k, v in fms.problem_params().items() if k not in ("lat", "long")}
    r = fms.send_service_request({**params, "address_string": "振兴街道 1 号"}, fmt="json")
    assert r.status_code == 400 and "cannot geocode" in r.json()[0]["description"]


def test_a_json_body_is_refused(client, tokens, tiny):
    r = client.post("/open311/v2/requests.json", json={"service_code": "3001"}, headers={"Authorization": tokens["system"]})
    assert r.status_code == 400 and "form-encoded" in r.json()[0]["description"]


def test_a_gcj02_key(client, db, tiny):
    from geo.access.roles import Principal, Role
    from geo.access.tokens import issue_token
    from geo.matching.coords import wgs84_to_gcj02

    key = issue_token(db, role=Role.system, name="amap hotline", system="amap-hotline", crs="gcj02",
                      actor=Principal(Role.admin, holder="test"))
    glon, glat = (float(v) for v in wgs84_to_gcj02(*INSIDE_G1))
    assert abs(glon - INSIDE_G1[0]) > 0.003  # the shift is several grids: a WGS-84 reading would miss G1
    fms = FixMyStreet(client, api_key=key.token)
    r = fms.send_service_request(fms.problem_params(lon=glon, lat=glat), fmt="json")
    assert r.status_code == 201, r.text
    rec = client.get(f"/open311/v2/requests/{r.json()[0]['service_request_id']}.json").json()[0]
    assert rec["address_id"] == G1
    assert rec["long"] == pytest.approx(INSIDE_G1[0], abs=1e-5) and rec["lat"] == pytest.approx(INSIDE_G1[1], abs=1e-5)


def test_filters_status_service_and_window(fms, client, tokens, db, tiny):
    ids = {}
    for code, fms_id in (("3001", 1), ("3005", 2), ("2001", 3)):
        ids[code] = request_id(fms.send_service_request(fms.problem_params(service_code=code, fms_id=fms_id)))
    for step in ("start", "resolve"):
        client.post(f"/api/v1/reports/{ids['3005']}/transitions", json={"action": step, "actor": "t"},
                    headers={"Authorization": tokens["admin"]})
    old = body(reported_at=(datetime.now(UTC) - timedelta(days=120)).isoformat())
    assert client.post("/api/v1/reports", json=old).status_code == 201

    def listed(**params):
        r = client.get("/open311/v2/requests.json", params=params)
        assert r.status_code == 200, r.text
        return {i["service_request_id"] for i in r.json()}

    assert listed() >= set(ids.values()) and old["id"] not in listed()  # the default window: 90 days
    assert ids["3005"] not in listed(status="open") and ids["3005"] in listed(status="closed")
    assert listed(status="open,closed") == listed()
    assert listed(service_code="3001,3005") & set(ids.values()) == {ids["3001"], ids["3005"]}
    assert ids["2001"] in listed(service_code="20") and ids["3001"] not in listed(service_code="20")
    start = (datetime.now(UTC) - timedelta(days=130)).isoformat()
    end = (datetime.now(UTC) - timedelta(days=100)).isoformat()
    assert old["id"] in listed(start_date=start, end_date=end)
    # service_request_id overrides every other parameter (the spec's rule)
    assert listed(service_request_id=f"{old['id']},{ids['3005']}", status="open") == {old["id"], ids["3005"]}
    closed = client.get(f"/open311/v2/requests/{ids['3005']}.json").json()[0]
    assert closed["status"] == "closed" and "resolved" in closed["status_notes"]


@pytest.mark.parametrize(("url", "status", "starts"), [
    ("/open311/v2/requests.json?status=pending", 400, "status"),
    ("/open311/v2/requests.json?service_code=99", 400, "service_code"),
    ("/open311/v2/requests.json?start_date=2026-01-01T00:00:00%2B08:00&end_date=2026-06-01T00:00:00%2B08:00", 400,
     "end_date"),
    ("/open311/v2/requests.json?start_date=yesterday", 400, "start_date"),
    ("/open311/v2/requests.json?service_request_id=1,2", 400, "service_request_id"),
    ("/open311/v2/requests.json?page=2", 400, "page"),
    ("/open311/v2/requests.json?jurisdiction_id=310000", 404, "jurisdiction_id"),
    ("/open311/v2/services.json?jurisdiction_id=310000", 404, "jurisdiction_id"),
    ("/open311/v2/requests/not-an-id.json", 404, "no service request"),
    (f"/open311/v2/requests/{uuid.uuid4()}.json", 404, "no service request"),
    ("/open311/v2/services/9999.json", 404, "no service"),
    ("/open311/v2/requests.csv", 404, "no format"),
    ("/open311/v2/nothing.json", 404, "no Open311 endpoint"),
])
def test_errors_are_the_specs_lists(client, tiny, url, status, starts):
    r = client.get(url)
    assert r.status_code == status, r.text
    (err,) = r.json()
    assert err == {"code": status, "description": err["description"]} and err["description"].startswith(starts), err
    if url.endswith(".json") or ".json?" in url:
        x = client.get(url.replace(".json", ".xml"))
        assert x.status_code == status
        root, items = xml_object(x.text)
        assert root == "errors" and items[0]["code"] == str(status)


def test_the_jurisdiction_is_the_city(client, tiny):
    assert client.get("/open311/v2/services.json", params={"jurisdiction_id": CITY}).status_code == 200
    from geo.cityconfig import load_city_config

    name = load_city_config().name
    assert client.get("/open311/v2/services.json", params={"jurisdiction_id": name}).status_code == 200


def test_the_rest_of_the_api_keeps_its_envelope(client, tiny):
    r = client.get("/api/v1/reports", params={"status": "pending"})
    assert r.status_code == 422 and "error" in r.json()


def test_a_raw_utf8_form_and_control_characters_in_xml(client, tokens, db, tiny):
    # curl -d sends UTF-8 without percent-encoding it; a control character is stored text
    # that XML 1.0 cannot hold: the document must still parse.
    raw = ("service_code=3001&lat=39.915&long=116.405&description=垃圾\x07堆积&attribute[fixmystreet_id]=raw-1"
           ).encode()
    r = client.post("/open311/v2/requests.xml", content=raw, headers={
        "Authorization": tokens["system"], "content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 201, r.text
    sid = request_id(r)
    assert db.get(Report, uuid.UUID(sid)).description == "垃圾\x07堆积"
    (item,) = xml_object(fms_get(client, sid).text)[1]
    assert item["description"] == "垃圾\ufffd堆积"
    assert client.get(f"/open311/v2/requests/{sid}.json").json()[0]["description"] == "垃圾\x07堆积"


def fms_get(client, sid):
    return FixMyStreet(client, api_key=None).get_service_requests([sid])
