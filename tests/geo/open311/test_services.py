"""The catalogue as Open311 services, and the loop's statuses as open/closed."""

from __future__ import annotations

import pytest

from geo.cityconfig import CityConfig
from geo.errors import InvalidInput, NotFound
from geo.models import OPEN_STATUSES, ReportStatus
from geo.open311.services import (
    parse_service_code,
    service_definition,
    service_list,
    service_of,
    state_of,
    status_notes,
    statuses_for,
)
from geo.reports.categories import SUB_BY_CODE


def test_one_service_per_subcategory_with_the_citys_time_limits():
    config = CityConfig(name="test", time_limits_h={"3001": 6})
    services = service_list(config=config)
    assert [s.service_code for s in services] == list(SUB_BY_CODE)
    rubbish = next(s for s in services if s.service_code == "3001")
    assert (rubbish.service_name, rubbish.group) == ("暴露垃圾", "城市管理")
    assert "6 h" in rubbish.description and rubbish.metadata is False and rubbish.type == "realtime"
    assert {s.group for s in services} == {"矛盾纠纷", "安全隐患", "城市管理", "社会治安", "特殊人群", "民生服务", "疫情防控"}


def test_service_definitions_and_codes():
    assert service_definition("3001") == ("3001", [])
    with pytest.raises(NotFound):
        service_definition("30")
    assert parse_service_code(" 1002 ") == ("10", "1002")
    for bad in ("30", "3099", "abcd", ""):
        with pytest.raises(InvalidInput) as e:
            parse_service_code(bad)
        assert e.value.details["field"] == "service_code"
    assert service_of("30", "3001") == ("3001", "暴露垃圾")
    assert service_of("30", None) == ("30", "城市管理")  # filed with a class only (the JSON API allows it)


def test_open_and_closed():
    assert {s for s in ReportStatus if state_of(s) == "open"} == set(OPEN_STATUSES)
    assert state_of(ReportStatus.resolved) == "closed" and state_of(ReportStatus.duplicate) == "closed"
    assert set(statuses_for(["open"])) == set(OPEN_STATUSES)
    assert set(statuses_for(["open", " CLOSED"])) == set(ReportStatus)
    with pytest.raises(InvalidInput) as e:
        statuses_for(["pending"])
    assert e.value.details["field"] == "status"
    assert "escalated 2" in status_notes(ReportStatus.dispatched, escalation_level=2)
    assert "escalated" not in status_notes(ReportStatus.closed, escalation_level=2)
