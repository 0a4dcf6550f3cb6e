"""The reporter's pages: the public report form a grid sign's QR page sends citizens to
("我要上报") and the case page where they follow, rate and add photos to their case; at the
same case URL, for staff signed in at /maps/login, the dispatcher's desk (``case_staff.html``).

Plain pages whose scripts are static files (``api/static``, so the CSP allows no inline
script) and whose map is the app's own Leaflet copy: nothing loads from another host. The
form posts to POST /api/v1/reports like any client, with an Idempotency-Key so a retry never
files twice and still returns the case token; the case page reads the case through the API
with that token (``X-Case-Token``), taken from the link's fragment, never from its query.
"""

from __future__ import annotations

from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from typing import Annotated

import jinja2
import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.deps import CityConfigDep, SessionDep
from api.headers import html_headers
from api.params import CODE_EXAMPLE, CODE_PATTERN, ReportIdPath
from api.retired import to_successor
from api.security import principal_of
from geo.analytics.mapdata import city_outline
from geo.boundaries.areas import area_point, get_area
from geo.boundaries.generations import active_generation_id
from geo.errors import AreaNotFound
from geo.reports.categories import CATALOGUE
from geo.reports.workflow import get_report

router = APIRouter(tags=["maps"])
TEMPLATES = Path(__file__).parent.parent / "templates"
STATIC = Path(__file__).parent.parent / "static"


@lru_cache(maxsize=4)
def _template(name: str) -> jinja2.Template:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    return env.get_template(name)


def _page(request: Request, html: str, *, cache: str) -> HTMLResponse:
    settings = request.app.state.map_settings
    headers = html_headers(html, img_sources=settings.tile_origins())
    return HTMLResponse(html, headers={"Cache-Control": cache, **headers})


@router.get("/report", response_class=HTMLResponse, name="report_form", summary="The public report form",
            responses={200: {"content": {"text/html": {}}, "description": "The form"},
                       404: {"description": "No such grid"}})
def report_form(
    request: Request, session: SessionDep, config: CityConfigDep,
    grid: Annotated[str | None, Query(pattern=CODE_PATTERN, examples=[CODE_EXAMPLE],
                                      description="The area on the sign (its reports default to a point inside it).")] = None,
):
    """The citizen's report form, optionally for the grid of a sign (404 if that grid is unknown)."""
    area = point = None
    generation = active_generation_id(session)
    outline, bounds = city_outline(session, generation=generation)
    if grid is not None:
        try:
            area = get_area(session, code=grid, generation=generation)
        except AreaNotFound:
            if (moved := to_successor(request, session, code=grid, route="report_form", param="grid")) is not None:
                return moved
            raise
        point = area_point(session, code=grid, generation=generation)
        outline = orjson.loads(area.geometry_json) if area.geometry_json else None
    settings = request.app.state.map_settings
    data = {"outline": outline, "bounds": bounds, "max_photos": config.max_photos,
            "tiles": [asdict(spec) for spec in settings.tile_layers()]}
    page = _template("report_form.html").render(
        area=area, point=point, categories=CATALOGUE, max_description=config.max_description_chars,
        max_photos=config.max_photos, intake_url=request.url_for("post_report").path, data=data,
    )
    return _page(request, page, cache="public, max-age=300")


@router.get("/cases/{report_id}", response_class=HTMLResponse, name="case_page", summary="A case's page",
            responses={200: {"content": {"text/html": {}}, "description": "The page"},
                       404: {"description": "No such report"}})
def case_page(request: Request, session: SessionDep, report_id: ReportIdPath):
    """The page a case is followed and handled on. For staff (signed in at /maps/login) the
    dispatcher's desk: trail, photos, map, due time and the actions their role may take; for
    everyone else the reporter's page, opened with the case token. Either page shows nothing
    of the case itself: its script reads it from the API, which decides what the caller sees."""
    get_report(session, report_id=report_id)  # 404 for an unknown id
    principal = principal_of(request)
    if principal.staff:
        settings = request.app.state.map_settings
        data = {"tiles": [asdict(spec) for spec in settings.tile_layers()], "role": principal.role.value,
                "actor": principal.holder, "department": principal.department_code}
        page = _template("case_staff.html").render(report_id=str(report_id), data=data, holder=principal.holder)
    else:
        page = _template("case.html").render(report_id=str(report_id))
    response = _page(request, page, cache="no-store")
    response.headers["Vary"] = "Cookie, Authorization"  # one URL, two pages
    return response
