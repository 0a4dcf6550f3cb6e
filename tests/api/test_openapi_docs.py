"""The OpenAPI document as documentation: what a first integration reads instead of the source."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute

from api.openapi import _api_routes


@pytest.fixture()
def doc(client):
    return client.get("/openapi.json").json()


def operations(doc):
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            yield f"{method.upper()} {path}", path, op


def resolve(doc, schema):
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_summaries_are_written_for_people(client, doc):
    # FastAPI's default summary is the function's name in title case ("Get Many", "Post Report").
    defaults = {f"{m} {p}": r.name.replace("_", " ").title()
                for p, r in _api_routes(client.app) if isinstance(r, APIRoute) for m in r.methods}
    for name, _path, op in operations(doc):
        assert op.get("summary") and op["summary"] != defaults.get(name), f"{name}: no summary of its own"
        assert op.get("description"), f"{name}: no description"


def test_every_parameter_has_a_description_and_an_example(doc):
    for name, _path, op in operations(doc):
        for p in op.get("parameters", []):
            assert p.get("description"), f"{name} {p['name']}: no description"
            schema = p.get("schema", {})
            assert p.get("example") is not None or p.get("examples") or schema.get("examples") \
                or any(s.get("examples") for s in schema.get("anyOf", [])), f"{name} {p['name']}: no example"


def test_every_body_is_described_with_an_example(doc):
    for name, _path, op in operations(doc):
        body = op.get("requestBody")
        if body is None:
            continue
        for media, content in body["content"].items():
            schema = resolve(doc, content["schema"])
            if media == "application/json":
                assert schema.get("description") and schema.get("examples"), f"{name}: body undocumented"
            else:  # a form: each part says what it is
                assert all(part.get("description") for part in schema["properties"].values()), name
    report = resolve(doc, {"$ref": "#/components/schemas/ReportIn"})
    assert report["properties"]["source"]["description"].startswith("Who filed it")
    assert doc["components"]["schemas"]["ReportSource"]["enum"] == ["citizen", "grid_worker", "hotline_12345",
                                                                     "video", "other"]


def test_errors_are_documented_as_they_are_sent(doc):
    for name, path, op in operations(doc):
        responses = op["responses"]
        for code, resp in responses.items():
            if code[0] == "4" and code != "304":
                if not path.startswith("/api/") and list(resp.get("content", {})) == ["text/html"]:
                    continue  # a page answering with a page (the worker pages' sign-in form)
                schema = resp["content"]["application/json"]["schema"]
                if path.startswith("/open311/") and code in ("400", "403", "404", "409"):  # the spec's error list
                    assert schema["items"]["$ref"] == "#/components/schemas/Open311Error", f"{name} {code}"
                    assert "<errors><error>" in resp["content"]["text/xml"]["example"], f"{name} {code}"
                    continue
                ref = schema["$ref"]
                assert ref == "#/components/schemas/Error", f"{name} {code}"
        assert "401" in responses, name
        if "{" in path:
            assert "404" in responses, f"{name}: has an id that may not exist"
        if path.startswith("/api/v1/"):
            assert "422" in responses, f"{name}: unknown query parameters are a 422"
    assert "HTTPValidationError" not in str(doc) and "detail" not in doc["components"]["schemas"]["Error"]["properties"]
    for name in ("POST /api/v1/reports/batch", "POST /api/v1/reports/{report_id}/transitions",
                 "PUT /api/v1/workers/{worker_id}/position", "GET /maps/hotspots"):
        method, path = name.split(" ")
        assert "403" in doc["paths"][path][method.lower()]["responses"], f"{name}: some roles are refused"


def test_the_error_envelope_is_what_a_4xx_really_carries(client, tiny):
    body = client.get("/api/v1/locate", params={"lon": 200, "lat": 41}).json()
    assert set(body) == {"error"} and {"code", "message", "fields"} <= set(body["error"])
