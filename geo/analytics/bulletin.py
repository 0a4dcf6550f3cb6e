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

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.analytics.analysis import analyse_hotspots
from geo.analytics.bulletin_model import (  # noqa: F401 - the bulletin's names, re-exported
    AreaCompared, Bulletin, DepartmentCompared, HotspotChange, Period, Trend, Window, change_percent, change_points,
    check_end, period_windows,
)
from geo.cityconfig import CityConfig
from geo.departments.stats import department_stats
from geo.models import AreaLevel, Report
from geo.readmodels import HotspotAnalysis
from geo.reports.categories import BY_CODE, GROUPS
from geo.reports.queries import AreaStatsRow, ReportFilter, area_stats


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
