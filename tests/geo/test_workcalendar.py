"""Working-hour deadlines around the 2026 National Day week (国庆节: 1–7 October off, Sunday
20 September and Saturday 10 October worked), with the demo city's calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from geo.cityconfig import CityConfig, WorkingHours, load_city_config
from geo.workcalendar import WorkCalendar

SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def city() -> CityConfig:
    """The demo configuration (its 2026 calendar) with working hours 08:30–17:30, Mon–Fri."""
    return load_city_config().model_copy(update={"working_hours": WorkingHours(enabled=True)})


def at(y, m, d, hh, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


def test_the_demo_calendar_is_2026s_arrangement(city):
    cal, week = city.calendar, city.working_hours.weekdays
    assert all(cal.is_holiday(date(2026, 10, d)) for d in range(1, 8))
    assert not cal.is_holiday(date(2026, 10, 8)) and cal.is_workday(date(2026, 10, 8), week)  # a Thursday
    assert cal.is_make_up_day(date(2026, 10, 10)) and date(2026, 10, 10).isoweekday() == 6
    assert cal.is_make_up_day(date(2026, 9, 20)) and date(2026, 9, 20).isoweekday() == 7
    assert not cal.is_workday(date(2026, 10, 17), week)  # an ordinary Saturday


def test_dispatched_30_september_at_16_skips_the_holiday_week(city):
    # 1.5 h on Wednesday 30 September (16:00–17:30), none 1–7 October, 2.5 h on Thursday 8 October.
    assert city.deadline(at(2026, 9, 30, 16), 4) == at(2026, 10, 8, 11)


def test_a_long_limit_counts_the_make_up_saturday(city):
    # 1.5 h on 30 September, 9 h on 8 and on 9 October, then 4.5 h of Saturday 10 October (worked).
    assert city.deadline(at(2026, 9, 30, 16), 24) == at(2026, 10, 10, 13)


def test_dispatched_on_1_october(city):
    assert city.deadline(at(2026, 10, 1, 10), 4) == at(2026, 10, 8, 12, 30)


def test_friday_before_the_make_up_saturday(city):
    # Friday 9 October 16:00: 1.5 h, then Saturday 10 October from 08:30 (a make-up day).
    assert city.deadline(at(2026, 10, 9, 16), 4) == at(2026, 10, 10, 11)


def test_the_make_up_sunday_counts(city):
    # Saturday 19 September is off; Sunday 20 September is worked.
    assert city.deadline(at(2026, 9, 19, 10), 4) == at(2026, 9, 20, 12, 30)


def test_an_ordinary_weekend_is_skipped(city):
    # Friday 16 October 16:00: 1.5 h; Saturday 17 and Sunday 18 off; 2.5 h on Monday 19.
    assert city.deadline(at(2026, 10, 16, 16), 4) == at(2026, 10, 19, 11)


def test_the_instant_not_its_zone_decides(city):
    # 30 September 16:00 in Shanghai is 08:00 UTC: the same deadline, as the same instant.
    due = city.deadline(datetime(2026, 9, 30, 8, tzinfo=UTC), 4)
    assert due == at(2026, 10, 8, 11) and due.utcoffset() == timedelta(hours=8)
    with pytest.raises(ValueError, match="timezone-aware"):
        city.deadline(datetime(2026, 9, 30, 16), 4)


def test_a_daylight_saving_day_counts_its_real_length():
    # London, 29 March 2026: clocks go from 01:00 to 02:00. A working window 00:30–03:30 lasts
    # 2 real hours that day, so a 2.5 h limit from 00:30 ends at 01:00 the next day (wall-clock
    # arithmetic would say 03:00 the same day).
    london = CityConfig(timezone="Europe/London", working_hours=WorkingHours(
        enabled=True, start="00:30", end="03:30", weekdays=[1, 2, 3, 4, 5, 6, 7]))
    tz = ZoneInfo("Europe/London")
    due = london.deadline(datetime(2026, 3, 29, 0, 30, tzinfo=tz), 2.5)
    assert due == datetime(2026, 3, 30, 1, 0, tzinfo=tz)
    # Asia/Shanghai has no daylight saving: every working day is 9 h.
    assert load_city_config().model_copy(update={"working_hours": WorkingHours(enabled=True)}).deadline(
        at(2026, 3, 30, 8, 30), 9) == at(2026, 3, 30, 17, 30)


def test_calendar_entries_are_validated():
    assert WorkCalendar(holidays=[date(2026, 10, 1), "2026-10-02..2026-10-03"]).is_holiday(date(2026, 10, 3))
    with pytest.raises(ValidationError, match="both a holiday and a make-up"):
        WorkCalendar(holidays=["2026-10-01..2026-10-07"], workdays=["2026-10-07"])
    with pytest.raises(ValidationError, match="ends before it starts"):
        WorkCalendar(holidays=["2026-10-07..2026-10-01"])
    with pytest.raises(ValidationError, match="not a day"):
        WorkCalendar(workdays=["10/10/2026"])
    with pytest.raises(ValidationError, match="longer than"):
        WorkCalendar(holidays=["2026-10-01..2062-10-07"])
    with pytest.raises(ValidationError, match="end must be after start"):
        WorkingHours(enabled=True, start="17:30", end="08:30")


def test_without_working_hours_the_calendar_is_ignored():
    plain = load_city_config()
    assert not plain.working_hours.enabled
    assert plain.deadline(at(2026, 9, 30, 16), 4) == at(2026, 9, 30, 20)
