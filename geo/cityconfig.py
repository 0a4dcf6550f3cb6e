"""Per-city configuration: time limits, snapping, duplicate rules, working hours and their calendar,
retention of personal data (TOML file)."""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, field_validator, model_validator

from geo.departments.config import Department
from geo.errors import InvalidInput
from geo.instants import start_of_day
from geo.reports.categories import BY_CODE, SUB_BY_CODE
from geo.workcalendar import WorkCalendar

DEFAULT_CONFIG = Path(__file__).parent / "data" / "city.toml"


class WorkingHours(BaseModel):
    enabled: bool = False
    start: time = time(8, 30)
    end: time = time(17, 30)
    weekdays: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5])

    @field_validator("weekdays")
    @classmethod
    def _iso_days(cls, v: list[int]) -> list[int]:
        if not v or any(d not in range(1, 8) for d in v):
            raise ValueError("weekdays must be ISO day numbers 1 (Monday) to 7 (Sunday)")
        return v

    @model_validator(mode="after")
    def _ordered(self) -> WorkingHours:
        if self.end <= self.start:
            raise ValueError("working_hours: end must be after start (a working day within one calendar day)")
        return self


class Retention(BaseModel):
    """How long personal data is kept (``geo.access.retention``), in days.

    ``reporter_days``: a reporter's name and phone after their case ended (closed, rejected or
    marked a duplicate). ``audit_days``: audit rows; at least 30 (the database refuses to
    delete younger ones, migration 0018)."""

    reporter_days: int = Field(180, ge=1, le=36_500)
    audit_days: int = Field(1095, ge=30, le=36_500)


class CityConfig(BaseModel):
    name: str = "city"
    timezone: str = "Asia/Shanghai"
    snap_tolerance_m: float = Field(30.0, ge=0, le=5000)
    duplicate_radius_m: float = Field(250.0, gt=0, le=5000)
    duplicate_window_days: int = Field(7, ge=0, le=365)
    max_description_chars: int = Field(2000, ge=1, le=20_000)
    max_photos: int = Field(9, ge=0)
    # Reports dated earlier are refused (422); a historical import may pass an earlier date.
    earliest_report_date: date = Field(date(2000, 1, 1), ge=date(1900, 1, 1))
    time_limits_h: dict[str, float] = Field(default_factory=dict)
    # A grid's households outside this range is a warning in `gridmap boundaries check`.
    grid_households_range: tuple[int, int] = (0, 2000)
    working_hours: WorkingHours = Field(default_factory=WorkingHours)
    calendar: WorkCalendar = Field(default_factory=WorkCalendar)  # holidays and make-up days (调休)
    retention: Retention = Field(default_factory=Retention)
    departments: list[Department] = Field(default_factory=list)

    @field_validator("departments")
    @classmethod
    def _unique_departments(cls, v: list[Department]) -> list[Department]:
        codes = [d.code for d in v]
        if len(set(codes)) != len(codes):
            raise ValueError("department codes must be unique")
        return v

    @field_validator("time_limits_h")
    @classmethod
    def _known_codes(cls, v: dict[str, float]) -> dict[str, float]:
        for code, hours in v.items():
            if code not in BY_CODE and code not in SUB_BY_CODE:
                raise ValueError(f"time limit for unknown category code {code!r}")
            if hours <= 0:
                raise ValueError(f"time limit for {code} must be positive hours")
        return v

    @field_validator("grid_households_range")
    @classmethod
    def _ordered(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not 0 <= v[0] <= v[1]:
            raise ValueError("grid_households_range must be [low, high] with 0 <= low <= high")
        return v

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def earliest_reported_at(self) -> datetime:
        """The start of ``earliest_report_date`` in the city's time zone."""
        return start_of_day(self.earliest_report_date, self.tz)

    def find_department(self, code: str | None) -> Department | None:
        """The department with ``code``, or None (no code, or one the configuration lost)."""
        return next((d for d in self.departments if d.code == code), None) if code else None

    def department(self, code: str) -> Department:
        """The department with ``code``. Raises InvalidInput (field ``department``)."""
        if (found := self.find_department(code)) is not None:
            return found
        known = ", ".join(d.code for d in self.departments) or "none configured"
        raise InvalidInput(f"no department {code!r} (known: {known})", field="department")

    def department_for(self, category: str, subcategory: str | None) -> Department | None:
        """The department owning a category (a subcategory claim wins), or None."""
        best = max(self.departments, key=lambda d: d.owns(category, subcategory), default=None)
        return best if best is not None and best.owns(category, subcategory) else None

    def time_limit_h(self, category: str, subcategory: str | None) -> float:
        """Hours allowed from dispatch: city override (subcategory, then category), else catalogue."""
        if subcategory and subcategory in self.time_limits_h:
            return self.time_limits_h[subcategory]
        if category in self.time_limits_h:
            return self.time_limits_h[category]
        if subcategory and subcategory in SUB_BY_CODE:
            return SUB_BY_CODE[subcategory].time_limit_h
        return BY_CODE[category].time_limit_h

    def deadline(self, start: datetime, hours: float) -> datetime:
        """``start`` (timezone-aware) + ``hours``. With working hours enabled only working time
        counts: from ``working_hours.start`` to ``end`` on working days (the working weekdays
        and the calendar's make-up days, less its holidays), as elapsed time, so a day that
        changes clock (daylight saving) counts its real length. The answer is in the city's
        time zone. Raises ValueError when the hours cannot be reached (no working day for ten
        years)."""
        if not self.working_hours.enabled:
            return start + timedelta(hours=hours)
        if start.tzinfo is None:
            raise ValueError("deadline: start must be timezone-aware")
        wh, tz = self.working_hours, self.tz
        is_workday = self.calendar.workday_rule(wh.weekdays)
        remaining = timedelta(hours=hours)
        t = start.astimezone(tz)
        # One step per calendar day: a limit of days or weeks, or a holiday week, is a few
        # dozen steps; the bound (ten years) is never reached with a sane calendar.
        for _ in range(3660):
            day = t.date()
            if is_workday(day):
                day_start = datetime.combine(day, wh.start, tzinfo=tz)
                day_end = datetime.combine(day, wh.end, tzinfo=tz)
                if t < day_end:
                    t = max(t, day_start)
                    # In UTC: aware datetimes in one zone subtract as wall-clock times.
                    left = day_end.astimezone(UTC) - t.astimezone(UTC)
                    if remaining <= left:
                        return (t.astimezone(UTC) + remaining).astimezone(tz)
                    remaining -= left
            t = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
        raise ValueError("deadline not reachable with these working hours")


def load_city_config(path: Path | None = None) -> CityConfig:
    """Read and validate a city TOML file (default: the packaged Panjin configuration)."""
    return _load(str(path or DEFAULT_CONFIG))


@lru_cache(maxsize=8)
def _load(path: str) -> CityConfig:
    with open(path, "rb") as fh:
        return CityConfig.model_validate(tomllib.load(fh))
