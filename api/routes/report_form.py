"""The public report form: where a grid sign's QR page sends citizens ("我要上报").

A plain HTML page (no map, nothing from any other host) that posts to POST /api/v1/reports
like any client: the phone's position when the citizen shares it, else a point inside the
grid named on the sign. A client-made id per form means a double tap never files twice.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

import jinja2
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.deps import CityConfigDep, SessionDep
from geo.areas import area_point, get_area
from geo.categories import CATALOGUE
from geo.generations import active_generation_id

router = APIRouter(tags=["maps"])


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent.parent / "templates"),
                             autoescape=True)
    return env.get_template("report_form.html")


@router.get("/report", response_class=HTMLResponse, name="report_form")
def report_form(
    request: Request, session: SessionDep, config: CityConfigDep,
    grid: Annotated[str | None, Query(pattern=r"^[0-9]{6}([0-9]{3}){0,3}$",
                                      description="The area on the sign (its reports default to a point inside it).")] = None,
):
    """The citizen's report form, optionally for the grid of a sign (404 if that grid is unknown)."""
    area = point = None
    if grid is not None:
        generation = active_generation_id(session)
        area = get_area(session, code=grid, generation=generation, with_geometry=False)
        point = area_point(session, code=grid, generation=generation)
    page = _template().render(
        area=area, point=point, categories=CATALOGUE, max_description=config.max_description_chars,
        intake_url=request.url_for("post_report").path,
    )
    return HTMLResponse(page, headers={"Cache-Control": "public, max-age=300"})
