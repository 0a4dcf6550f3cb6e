"""The periodic analysis bulletin (定期分析研判): what a command centre reports each week,
fortnight or month about where problems concentrate, as plain data (``maps.bulletin``
renders it; no HTML here).

A period is whole local days (the city's time zone) ending at ``end`` (inclusive): a week is
7 days, a fortnight 14, a month the calendar month up to ``end`` (``end`` 2026-11-30: 1–30
November; ``end`` 2026-11-15: 16 October – 15 November). It is compared with the previous
period of the same number of days, just before it.

Every figure comes from the function that already defines it: the rates per area from
``geo.reports.queries.area_stats`` (so they equal ``GET /api/v1/stats``), the hot spots from
``geo.analytics.analysis.analyse_hotspots`` (Gi*, FDR-corrected), the departments' figures
from ``geo.departments.stats.department_stats``. Overdue counts, as there, are of cases still
open now and past their due time.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.analytics.analysis import analyse_hotspots
from geo.cityconfig import CityConfig
from geo.departments.stats import DepartmentStats, department_stats
from geo.errors import InvalidInput
from geo.instants import start_of_day
from geo.models import AreaLevel, Report
from geo.readmodels import HotspotAnalysis
from geo.reports.categories import BY_CODE, GROUPS
from geo.reports.queries import AreaStatsRow, ReportFilter, area_stats


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


def _compared(now: list[AreaStatsRow], before: list[AreaStatsRow]) -> list[AreaCompared]:
    a, b = {r.code: r for r in now}, {r.code: r for r in before}
    return [AreaCompared(code, (a.get(code) or b[code]).name, a.get(code), b.get(code)) for code in sorted({*a, *b})]


def _city_totals(districts: list[AreaCompared], city: str) -> AreaCompared:
    def row(which: str) -> AreaStatsRow:
        return AreaStatsRow(code="", name=city, total=sum(d.value("total", which) for d in districts),
                            response_rate=None, solved_rate=None, satisfaction_rate=None,
                            overdue=sum(d.value("overdue", which) for d in districts), median_hours_to_close=None)

    return AreaCompared("", city, row("now"), row("before"))


def _hot(a: HotspotAnalysis) -> dict[str, tuple[int, int, float, str]]:
    return {c: (int(k), int(n), float(z), name or "") for c, k, n, z, name
            in zip(a.areas["code"], a.areas["klass"], a.areas["n"], a.areas["z"], a.areas["name"])}


def hotspot_changes(now: HotspotAnalysis, before: HotspotAnalysis) -> tuple[list, list, list]:
    """(grids that became significant hot spots, that stopped being ones, that stayed ones),
    each by z-score (strongest first). A hot spot is Gi* class > 0 at 90 % or more."""
    a, b = _hot(now), _hot(before)
    out: tuple[list, list, list] = ([], [], [])
    for code in sorted({*a, *b}):
        k1, n1, z1, name1 = a.get(code, (0, 0, 0.0, ""))
        k0, n0, _, name0 = b.get(code, (0, 0, 0.0, ""))
        if k1 <= 0 and k0 <= 0:
            continue
        change = HotspotChange(code, name1 or name0, k1, k0, n1, n0, round(z1, 2))
        out[0 if k0 <= 0 else 1 if k1 <= 0 else 2].append(change)
    for changes in out:
        changes.sort(key=lambda c: (-c.z_now, c.code))
    return out


def daily_group_counts(session: Session, *, window: Window, zone: str) -> dict[str, list[int]]:
    """Reports matched to grids (as ``area_stats`` counts them) per local day of ``window`` in
    ``zone`` (IANA), per category group: group -> counts, one per day."""
    local = sa.func.date(sa.func.timezone(sa.literal(zone, literal_execute=True), Report.reported_at))
    inner = sa.select(local.label("day"), Report.category.label("category")).where(
        Report.grid_code.is_not(None), *ReportFilter(since=window.since, until=window.until).conditions()
    ).subquery()
    rows = session.execute(sa.select(inner.c.day, inner.c.category, sa.func.count())
                           .group_by(inner.c.day, inner.c.category)).all()
    index = {d: i for i, d in enumerate(window.dates())}
    out = {g: [0] * window.days for g in GROUPS}
    for day, category, n in rows:
        cat = BY_CODE.get(category)
        if day in index:
            out[cat.group if cat else "other"][index[day]] += n
    return out


def _departments(session: Session, *, config: CityConfig, now: datetime, current: Window,
                 previous: Window) -> list[DepartmentCompared]:
    a = department_stats(session, config=config, now=now, since=current.since, until=current.until)
    before = {d.code: d for d in department_stats(session, config=config, now=now, since=previous.since,
                                                  until=previous.until)}
    return [DepartmentCompared(d, before.get(d.code)) for d in a]


def build_bulletin(
    session: Session, *, period: Period, end: date, config: CityConfig, generation: int, now: datetime,
    public: bool = True, max_cells: int = 1500,
) -> Bulletin:
    """The bulletin of ``period`` ending at local date ``end`` (see :func:`check_end`).

    ``now``: when overdue is judged (cases still open and past due at ``now``); ``public``
    (the default; False for dispatchers and admins): sensitive cases count at their public
    cell in the hot spots, as on the hot-spot page; ``max_cells`` bounds the hexagons.
    """
    current, previous = period_windows(period, end=end, tz=config.tz)

    def stats(level: AreaLevel, w: Window) -> list[AreaStatsRow]:
        return area_stats(session, level=level, generation=generation, now=now, since=w.since, until=w.until,
                          public=public)

    districts = _compared(stats(AreaLevel.district, current), stats(AreaLevel.district, previous))
    streets = _compared(stats(AreaLevel.street, current), stats(AreaLevel.street, previous))

    def hotspots(w: Window) -> HotspotAnalysis:
        return analyse_hotspots(session, generation=generation, label="all", categories=None, since=w.since,
                                until=w.until, level=AreaLevel.grid, max_cells=max_cells, public=public,
                                zone=config.timezone)

    hot_now, hot_before = hotspots(current), hotspots(previous)
    became, stopped, still = hotspot_changes(hot_now, hot_before)
    day_now = daily_group_counts(session, window=current, zone=config.timezone)
    day_before = daily_group_counts(session, window=previous, zone=config.timezone)
    return Bulletin(
        period=period, city=config.name, current=current, previous=previous, generated_at=now,
        totals=_city_totals(districts, config.name), districts=districts, streets=streets,
        became_hot=became, stopped_hot=stopped, still_hot=still,
        departments=_departments(session, config=config, now=now, current=current, previous=previous),
        trends=[Trend(g, day_now[g], day_before[g]) for g in GROUPS], hotspots=hot_now,
    )
