"""Request ids: the caller's X-Request-ID (if plain and short) or a new one, in the answer's
header and on every log record the request causes, text or JSON."""

from __future__ import annotations

import json
import logging
import re

import pytest

from api.logs import TEXT_FORMAT, JsonFormatter, RequestIdFilter, log_config

HEX32 = re.compile(r"[0-9a-f]{32}")


def test_a_plain_id_is_returned_as_sent(client):
    r = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.9:2_x"})
    assert r.headers["x-request-id"] == "lb-7f3a.9:2_x"


@pytest.mark.parametrize("sent", ["has space", "x" * 65, "new\nline", "引号", ""])
def test_an_unsafe_id_is_replaced(client, sent):
    r = client.get("/healthz", headers={"X-Request-ID": sent.encode("utf-8")})
    assert HEX32.fullmatch(r.headers["x-request-id"]), r.headers["x-request-id"]


def test_every_answer_gets_its_own_id(client):
    ids = {client.get("/healthz").headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3 and all(HEX32.fullmatch(i) for i in ids)
    # Answers the gate gives before routing carry it too (here a 401 for a bad token).
    r = client.get("/api/v1/categories", headers={"Authorization": "Bearer nonsense", "X-Request-ID": "abc"})
    assert r.status_code == 401 and r.headers["x-request-id"] == "abc"


@pytest.fixture()
def captured():
    """Records of the logger gridmap.probe, formatted as the server's text and JSON lines."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            lines.append(JsonFormatter().format(record))
            lines.append(logging.Formatter(TEXT_FORMAT).format(record))

    handler = Keep()
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("gridmap.probe")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lines
    logger.removeHandler(handler)


def test_log_records_of_a_request_carry_its_id(client, captured):
    log = logging.getLogger("gridmap.probe")

    def probe():  # a sync route: it runs in the thread pool, which must inherit the id
        log.info("probe route ran")
        return {"ok": True}

    client.app.add_api_route("/_probe", probe, methods=["GET"])
    r = client.get("/_probe", headers={"X-Request-ID": "trace-42"})
    assert r.status_code == 200
    generated = client.get("/_probe").headers["x-request-id"]
    log.info("outside any request")
    records = [json.loads(line) for line in captured[0::2]]
    assert [(x["message"], x["request_id"]) for x in records] == [
        ("probe route ran", "trace-42"), ("probe route ran", generated), ("outside any request", "-")]
    assert records[0]["level"] == "info" and records[0]["logger"] == "gridmap.probe"
    assert "[trace-42] probe route ran" in captured[1]


def test_the_server_log_config_routes_uvicorn_through_the_filter():
    # Applied for real by `gridmap serve`: tests/cli/test_serve_logs.py.
    for fmt in ("text", "json"):
        config = log_config(fmt)
        assert config["handlers"]["main"]["filters"] == ["request_id"]
        assert set(config["loggers"]) == {"uvicorn", "uvicorn.error", "uvicorn.access"}
    assert log_config("json")["formatters"]["main"] == {"()": "api.logs.JsonFormatter"}


def test_an_unexpected_error_answers_and_logs_with_the_id(client, caplog):
    from fastapi.testclient import TestClient

    def broken():
        raise RuntimeError("boom")

    client.app.add_api_route("/_broken", broken, methods=["GET"])
    plain = TestClient(client.app, raise_server_exceptions=False)  # the app is already started
    with caplog.at_level(logging.ERROR, logger="gridmap.api"):
        caplog.handler.addFilter(RequestIdFilter())
        r = plain.get("/_broken", headers={"X-Request-ID": "err-7"})
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error" and "boom" not in r.text
    assert r.headers["x-request-id"] == "err-7"
    assert [rec.request_id for rec in caplog.records if rec.getMessage() == "unhandled error"] == ["err-7"]
    counted = client.app.state.metrics.registry.get_sample_value(  # in the HTTP histogram too
        "gridmap_http_request_duration_seconds_count", {"method": "GET", "route": "/_broken", "status": "500"})
    assert counted == 1
