"""The rates every command centre reports, per area."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import SessionDep
from api.errors import FieldError
from api.schemas.reports import AreaStats, StatsOut
from geo.generations import active_generation_id
from geo.models import AreaLevel
from geo.report_queries import area_stats

router = APIRouter(tags=["reports"])


@router.get("/stats", response_model=StatsOut)
def get_stats(
    session: SessionDep,
    level: Annotated[AreaLevel, Query(description="grid, community, street or district")] = AreaLevel.district,
    since: datetime | None = None,
    until: datetime | None = None,
    category: Annotated[str | None, Query(pattern=r"^[0-9]{2}$")] = None,
):
    """Counts, response/solved/satisfaction rates, overdue count and median hours to close per area."""
    if level == AreaLevel.city:
        raise FieldError("level", "must be grid, community, street or district")
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise FieldError(name, "must include a timezone offset")
    rows = area_stats(session, level=level, generation=active_generation_id(session), now=datetime.now(UTC),
                      since=since, until=until, category=category)
    return StatsOut(level=level.value, since=since, until=until, category=category,
                    areas=[AreaStats(**r.__dict__) for r in rows])
