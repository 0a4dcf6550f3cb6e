"""The rates every command centre reports, per area."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.deps import SessionDep
from api.errors import FieldError
from api.params import PUBLIC_MAX_DAYS, WindowDep, bounded_window
from api.schemas.reports import AreaStats, StatsOut
from api.security import require
from geo.access import Permission
from geo.access.roles import sees_exact_locations
from geo.generations import active_generation_id
from geo.models import AreaLevel
from geo.report_queries import area_stats

router = APIRouter(tags=["reports"])


@router.get("/stats", response_model=StatsOut, summary="Rates per area",
            responses={422: {"description": "Invalid field"}})
def get_stats(
    request: Request, session: SessionDep, window: WindowDep, principal: require(Permission.read_reports),
    level: Annotated[AreaLevel, Query(description="grid, community, street or district")] = AreaLevel.district,
    category: Annotated[str | None, Query(pattern=r"^[0-9]{2}$")] = None,
):
    """Counts, response/solved/satisfaction rates, overdue count and median hours to close per
    area. Without a staff token the window is whole days of at most a year (default: the
    last 366 days), so a public caller cannot make it scan all history over and over; and per
    grid, sensitive cases count only for dispatchers and admins (publicly they are counted
    from the community up)."""
    if level == AreaLevel.city:
        raise FieldError("level", "must be grid, community, street or district")
    now = datetime.now(UTC)
    window = bounded_window(window, full=principal.can(Permission.full_history), tz=request.app.state.city_config.tz,
                            now=now, default_days=PUBLIC_MAX_DAYS)
    exact = sees_exact_locations(principal)
    rows = area_stats(session, level=level, generation=active_generation_id(session), now=now,
                      since=window.since, until=window.until, category=category, public=not exact)
    return StatsOut(level=level.value, since=window.since, until=window.until, category=category,
                    areas=[AreaStats(**r.__dict__) for r in rows])
