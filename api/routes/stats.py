"""The rates every command centre reports, per area."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.deps import CityConfigDep, SessionDep
from api.errors import FieldError
from api.params import PUBLIC_MAX_DAYS, CategoryQuery, WindowDep, bounded_window
from api.schemas.departments import DepartmentStatsOut
from api.schemas.reports import AreaStats, StatsOut
from api.security import require
from geo.access import Permission
from geo.access.roles import sees_exact_locations
from geo.boundaries.generations import active_generation_id
from geo.boundaries.hierarchy import BELOW_CITY
from geo.departments.stats import department_stats
from geo.models import AreaLevel
from geo.reports.categories import parse_category
from geo.reports.queries import area_stats

router = APIRouter(tags=["reports"])


# The levels area_stats counts per (the city as a whole is their sum), finest first; and the
# functional departments (geo.departments.stats).
StatsLevel = Enum("StatsLevel", {**{lv.value: lv.value for lv in reversed(BELOW_CITY)}, "department": "department"},
                  type=str)


@router.get("/stats", response_model=StatsOut, summary="Rates per area or per department",
            responses={422: {"description": "Invalid field"}})
def get_stats(
    request: Request, session: SessionDep, config: CityConfigDep, window: WindowDep,
    principal: require(Permission.read_reports),
    level: Annotated[StatsLevel, Query(examples=["community"], description=(
        "The areas to count per, or `department`: the functional departments' figures (in `departments`)."))
    ] = StatsLevel("district"),
    category: CategoryQuery = None,
):
    """Counts, response/solved/satisfaction rates, overdue count and median hours to close per
    area. Without a staff token the window is whole days of at most a year (default: the
    last 366 days), so a public caller cannot make it scan all history over and over; and per
    grid, sensitive cases count only for dispatchers and admins (publicly they are counted
    from the community up).

    `level=department`: `areas` is empty and `departments` lists every configured department
    with the cases transferred to it in the window (received, then accepted, returned and
    solved of those), its overdue cases now, the median hours from its receiving a case to the
    close and the satisfaction of the cases it solved. No `category` filter there."""
    label, categories = parse_category(category)
    now = datetime.now(UTC)
    window = bounded_window(window, full=principal.can(Permission.full_history), tz=config.tz,
                            now=now, default_days=PUBLIC_MAX_DAYS)
    if level.value == "department":
        if category is not None:
            raise FieldError("category", "per department the figures are of every category: leave it out")
        rows = department_stats(session, config=config, now=now, since=window.since, until=window.until)
        return StatsOut(level=level.value, since=window.since, until=window.until, category=None, areas=[],
                        departments=[DepartmentStatsOut(**asdict(r)) for r in rows])
    exact = sees_exact_locations(principal)
    rows = area_stats(session, level=AreaLevel(level.value), generation=active_generation_id(session), now=now,
                      since=window.since, until=window.until, categories=categories, public=not exact)
    return StatsOut(level=level.value, since=window.since, until=window.until,
                    category=None if category is None else label, areas=[AreaStats(**r.__dict__) for r in rows])
