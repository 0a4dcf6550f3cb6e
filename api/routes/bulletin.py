"""``GET /bulletin``: the periodic analysis bulletin (定期分析研判) for staff, the same page
``gridmap bulletin`` writes (``maps.bulletin``): save it and it opens from disk.

Authorised like the command centre (the internal-maps permission); a viewer who may not see
every case where it is gets sensitive cases at their public cell in the hot spots.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.deps import SessionDep
from api.headers import html_headers
from api.routes.maps import INTERNAL, INTERNAL_HTML, html_page
from api.security import PrincipalDep
from geo.access.roles import sees_exact_locations
from geo.analytics.bulletin import Period, build_bulletin, check_end
from geo.boundaries.generations import active_generation_id
from maps.bulletin import render_bulletin

router = APIRouter(tags=["maps"])

PeriodQuery = Annotated[Period, Query(examples=["week"], description=(
    "week (7 days), fortnight (14) or month (the calendar month up to `end`), compared with the previous "
    "period of as many days."))]
EndQuery = Annotated[date | None, Query(examples=["2026-11-30"], description=(
    "The period's last day, a local date (YYYY-MM-DD) in the city's time zone, before today; default: yesterday."))]


@router.get("/bulletin", dependencies=[INTERNAL], response_class=HTMLResponse, name="bulletin_page",
            summary="The periodic analysis bulletin (定期分析研判)",
            responses={**INTERNAL_HTML, 422: {"description": "Invalid field (period, or end not a past date)"},
                       503: {"description": "No boundary generation is active"}})
def bulletin_page(request: Request, session: SessionDep, principal: PrincipalDep,
                  period: PeriodQuery = Period.week, end: EndQuery = None):
    """Counts and rates per district and street against the previous period, the grids that
    became or stopped being Gi* hot spots, departments' overdue and returned cases, trend
    charts per category group and the hot-spot map: one self-contained HTML page."""
    started = time.perf_counter()
    config = request.app.state.city_config
    today = datetime.now(config.tz).date()
    last = check_end(end if end is not None else today - timedelta(days=1), today=today)
    gid, exact = active_generation_id(session), sees_exact_locations(principal)
    settings = request.app.state.map_settings

    def build() -> tuple[str, dict[str, str]]:
        b = build_bulletin(session, period=period, end=last, config=config, generation=gid, now=datetime.now(UTC),
                           public=not exact, max_cells=settings.hex_max_cells)
        page = render_bulletin(b, settings=settings)
        return page.html, html_headers(page.html, frames=[page.frame_html])

    # Overdue is judged when the page is built: the cache's time to live bounds its age.
    (page, csp), hit = request.app.state.map_cache.get_or_build(("bulletin", gid, period, last, exact), build)
    filename = f"bulletin-{period.value}-{last.isoformat()}.html"
    return html_page(page, started, csp=csp, headers={
        "X-Cache": "hit" if hit else "miss", "Content-Disposition": f'inline; filename="{filename}"'})
