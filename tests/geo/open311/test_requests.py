"""A POSTed Open311 form as the intake's ReportInput, and the GET window."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from geo.errors import InvalidInput, NotFound
from geo.models import ReportSource
from geo.open311.requests import (
    check_jurisdiction,
    key_crs,
    parse_ids,
    parse_post,
    parse_service_filter,
    reporter_name,
    request_window,
    to_report_input,
)

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 3, 4, 0, tzinfo=UTC)
FORM = [("service_code", "3001"), ("lat", "41.1231"), ("long", "122.0773"), ("description", " 垃圾 "),
        ("first_name", "小明"), ("last_name", "王"), ("phone", "13912345678"), ("email", "w@example.com"),
        ("media_url", "https://fms.example/1.jpg"), ("media_url", "https://fms.example/2.jpg"),
        ("attribute[fixmystreet_id]", "1234"), ("attribute[uprn]", "1"), ("jurisdiction_id", "211100"),
        ("api_key", "gm_x")]


def field_of(pairs) -> str:
    with pytest.raises(InvalidInput) as e:
        parse_post(pairs)
    return e.value.details["field"]


def test_a_fixmystreet_form():
    p = parse_post(FORM)
    assert (p.category, p.subcategory, p.lon, p.lat) == ("30", "3001", 122.0773, 41.1231)
    assert p.description == "垃圾" and p.reporter_name == "王小明" and p.phone == "13912345678"
    assert p.media_urls == ("https://fms.example/1.jpg", "https://fms.example/2.jpg")
    assert p.client_id == "1234" and p.jurisdiction_id == "211100" and p.api_key == "gm_x"
    assert p.source == ReportSource.citizen and set(p.ignored) == {"email", "attribute[uprn]"}
    assert parse_post(FORM + [("attribute[source]", "hotline_12345")]).source == ReportSource.hotline_12345
    item = to_report_input(p, report_id=None, crs="gcj02", received_at=NOW, filed_by="system:hotline")
    assert (item.x, item.y, item.crs, item.reported_at, item.filed_by) == (122.0773, 41.1231, "gcj02", NOW,
                                                                          "system:hotline")
    assert item.photos == p.media_urls and item.reporter_name == "王小明" and item.source == ReportSource.citizen


def test_names():
    assert reporter_name("小明", "王") == "王小明"
    assert reporter_name("Ada", "Lovelace") == "Ada Lovelace"
    assert reporter_name("", " ") is None and reporter_name(None, "Lovelace") == "Lovelace"


def test_what_a_form_may_not_be():
    base = dict(FORM[:3])
    assert field_of(list({**base, "service_code": "30"}.items())) == "service_code"
    assert field_of([("lat", "1"), ("long", "2")]) == "service_code"
    assert field_of(list({"service_code": "3001", "address_string": "振兴街道 1 号"}.items())) == "lat"
    with pytest.raises(InvalidInput, match="cannot geocode"):
        parse_post([("service_code", "3001"), ("address_string", "振兴街道 1 号")])
    assert field_of([("service_code", "3001"), ("lat", "41")]) == "long"
    assert field_of(list({**base, "lat": "inf"}.items())) == "lat"
    assert field_of(list({**base, "media_url": "file:///etc/passwd"}.items())) == "media_url"
    assert field_of(list(base.items()) + [("media_url", "https://a/1"), ("media_url", "ftp://b")]) == "media_url.1"
    assert field_of(list(base.items()) + [("lat", "41")]) == "lat"  # sent twice
    assert field_of(list(base.items()) + [("status", "open")]) == "status"
    assert field_of(list(base.items()) + [("attribute[source]", "rumour")]) == "attribute[source]"
    assert field_of(list(base.items()) + [("description", "a\x00b")]) == "description"


def test_ids_and_service_filters():
    a, b = uuid.uuid4(), uuid.uuid4()
    assert parse_ids(f"{a}, {b},") == (a, b)
    with pytest.raises(InvalidInput):
        parse_ids("1234")
    assert parse_service_filter("3001,3002") == (None, ("3001", "3002"))
    assert parse_service_filter("10") == (("10",), None)
    cats, subs = parse_service_filter("10,3001")
    assert cats is None and set(subs) == {"3001", "1001", "1002", "1003", "1004", "1005"}
    with pytest.raises(InvalidInput):
        parse_service_filter("99")


def test_the_window_is_at_most_90_days():
    assert request_window(None, None, tz=TZ, now=NOW) == (NOW - timedelta(days=90), NOW)
    end = "2026-11-01T00:00:00+08:00"
    since, until = request_window(None, end, tz=TZ, now=NOW)
    assert until == datetime(2026, 10, 31, 16, tzinfo=UTC) and until - since == timedelta(days=90)
    since, until = request_window("2026-01-01", None, tz=TZ, now=NOW)  # a date: the city's day
    assert since == datetime(2025, 12, 31, 16, tzinfo=UTC) and until - since == timedelta(days=90)
    with pytest.raises(InvalidInput) as e:
        request_window("2026-01-01", "2026-06-01", tz=TZ, now=NOW)
    assert e.value.details["field"] == "end_date"
    with pytest.raises(InvalidInput) as e:
        request_window("2026-06-01", "2026-05-01", tz=TZ, now=NOW)
    assert e.value.details["field"] == "start_date"
    with pytest.raises(InvalidInput):
        request_window("2026-06-01T00:00:00", None, tz=TZ, now=NOW)  # no offset


def test_jurisdiction_and_key_crs(db, tiny):
    from geo.access.roles import Principal, Role
    from geo.access.tokens import issue_token

    check_jurisdiction(db, value=None, city_name="x")
    check_jurisdiction(db, value="110100", city_name="x")
    check_jurisdiction(db, value="x", city_name="x")
    with pytest.raises(NotFound, match="110100"):
        check_jurisdiction(db, value="211100", city_name="x")
    admin = Principal(Role.admin, holder="test")
    gcj = issue_token(db, role=Role.system, name="amap", system="amap", crs="gcj02", actor=admin)
    plain = issue_token(db, role=Role.system, name="gps", system="gps", crs="WGS84", actor=admin)
    assert key_crs(db, token_id=gcj.id) == "gcj02"
    assert key_crs(db, token_id=plain.id) == key_crs(db, token_id=None) == "wgs84"
    for role, crs in ((Role.dispatcher, "gcj02"), (Role.system, "EPSG:4547"), (Role.system, "mars")):
        with pytest.raises(InvalidInput) as e:
            issue_token(db, role=role, name="n", system="s" if role == Role.system else None, crs=crs, actor=admin)
        assert e.value.details["field"] == "crs"
