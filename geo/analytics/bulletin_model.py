"""The bulletin's data shapes and its pure rules (periods, changes), without the queries that
fill them (``geo.analytics.bulletin``): ``maps.bulletin`` renders these and loads no SQL."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from geo.errors import InvalidInput
from geo.instants import start_of_day

if TYPE_CHECKING:
    from geo.departments.stats import DepartmentStats
    from geo.readmodels import HotspotAnalysis
    from geo.reports.queries import AreaStatsRow


class Period(str, Enum):
    week = "week"
    fortnight = "fortnight"
    month = "month"


@dataclass(frozen=True, slots=True)
class Window:
    """Whole local days ``first``..``last`` (inclusive) = the instants [since, until)."""

    first: date
    last: date
    since: datetime
    until: datetime

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def dates(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range(self.days)]


def _month_before(day: date) -> date:
    """The same day of the month before, clamped to that month's length (31 March → 28/29 Feb)."""
    year, month = (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _window(first: date, last: date, tz: ZoneInfo) -> Window:
    return Window(first, last, start_of_day(first, tz), start_of_day(last + timedelta(days=1), tz))


def period_windows(period: Period, *, end: date, tz: ZoneInfo) -> tuple[Window, Window]:
    """(this period, the previous one of the same number of days) ending at local date ``end``."""
    days = {Period.week: 7, Period.fortnight: 14}.get(period)
    first = _month_before(end + timedelta(days=1)) if days is None else end - timedelta(days=days - 1)
    n = (end - first).days + 1
    return _window(first, end, tz), _window(first - timedelta(days=n), first - timedelta(days=1), tz)


def check_end(end: date, *, today: date) -> date:
    """``end`` if it is a whole past day (before ``today``, the city's local date), else
    InvalidInput naming ``end``: a bulletin of a day still running would change by the hour."""
    if end >= today:
        raise InvalidInput(f"must be before today ({today.isoformat()}): a bulletin covers whole past days",
                           field="end")
    if end.year < 1901:
        raise InvalidInput("must not be before 1901", field="end")
    return end


def change_points(now: float | None, before: float | None) -> float | None:
    """A rate's change in percentage points (0.90 → 0.95: +5.0); None when either is unknown."""
    return None if now is None or before is None else round((now - before) * 100, 1)


def change_percent(now: int | float | None, before: int | float | None) -> float | None:
    """A count's relative change in % (20 → 25: +25.0); None from nothing (before 0 or unknown)."""
    return None if now is None or not before else round((now - before) / before * 100, 1)


@dataclass(frozen=True, slots=True)
class AreaCompared:
    """One district or street: its ``area_stats`` row in this period and in the previous one
    (None when it had no reports then)."""

    code: str
    name: str | None
    now: AreaStatsRow | None
    before: AreaStatsRow | None

    def value(self, field: str, which: str = "now"):
        row = self.now if which == "now" else self.before
        if row is None:
            return 0 if field in ("total", "overdue") else None
        return getattr(row, field)

    def change(self, field: str) -> float | None:
        """% points for a rate field (``*_rate``), % for a count (total, overdue), hours' %
        for the median."""
        now, before = self.value(field), self.value(field, "before")
        return change_points(now, before) if field.endswith("_rate") else change_percent(now, before)


@dataclass(frozen=True, slots=True)
class HotspotChange:
    """A grid whose Gi* class (+3…−3, geo.analytics.hotspots) changed across the two periods."""

    code: str
    name: str
    klass_now: int
    klass_before: int
    n_now: int
    n_before: int
    z_now: float


@dataclass(frozen=True, slots=True)
class DepartmentCompared:
    """A department's figures over this period's transfers and the previous period's (its
    ``overdue`` is of now in both: open cases it holds past due)."""

    now: DepartmentStats
    before: DepartmentStats | None


@dataclass(frozen=True, slots=True)
class Trend:
    """Reports per local day of one category group (``disputes``, ``safety``, ``urban``,
    ``other``): this period's days and the previous period's, day by day."""

    group: str
    now: list[int]
    before: list[int]


@dataclass(frozen=True)
class Bulletin:
    period: Period
    city: str
    current: Window
    previous: Window
    generated_at: datetime
    totals: AreaCompared  # the city: sums of the districts' counts (rates are not summable: None)
    districts: list[AreaCompared]
    streets: list[AreaCompared]
    became_hot: list[HotspotChange]
    stopped_hot: list[HotspotChange]
    still_hot: list[HotspotChange]
    departments: list[DepartmentCompared]  # in the configuration's order; [] when none is configured
    trends: list[Trend]
    hotspots: HotspotAnalysis  # this period's analysis, for the map
