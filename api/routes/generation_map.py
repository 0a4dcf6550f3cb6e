"""The planner's map of a redraw, ``/maps/generations/{id}`` (staff: the planner role), built
from the same diff and check the API and the CLI report."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from api.deps import CityConfigDep, SessionDep
from api.routes.maps import html_page
from api.routes.generations import GenerationPath
from api.security import Require
from geo.access import Permission
from geo.analytics.mapdata import area_shapes
from geo.boundaries.checks import check_generation
from geo.boundaries.diffs import diff_generations
from geo.boundaries.generations import active_generation_id, resolve_generation
from geo.models import AreaLevel, Generation
from maps.base import render
from maps.generations import build_generation_map

router = APIRouter(tags=["boundaries"])
PLANNER = Depends(Require(Permission.change_boundaries, hint="planners only: sign in at /maps/login"))


@router.get("/maps/generations/{generation}", dependencies=[PLANNER], response_class=HTMLResponse,
            summary="The map of a redraw against the active boundaries",
            responses={200: {"content": {"text/html": {}}, "description": "The page"},
                       404: {"description": "No such generation"}})
def generation_map(request: Request, session: SessionDep, config: CityConfigDep, generation: GenerationPath):
    """Old outlines dashed, new ones solid, changed grids highlighted, problems in red; a
    click shows an area's numbers."""
    started = time.perf_counter()
    gid = resolve_generation(session, generation=generation)
    gen = session.get(Generation, gid)
    against = active_generation_id(session)
    if gid == against:
        against = gen.based_on or gid
    diff = diff_generations(session, old=against, new=gid, config=config, now=datetime.now(UTC))
    problems = check_generation(session, generation=gid, households_range=config.grid_households_range).as_geojson()
    # The communities the changes are in, faintly, for orientation.
    parents = sorted({c["new_parent"] or c["old_parent"] for c in diff.changes if c["level"] == AreaLevel.grid.value})
    context = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": orjson.loads(geometry), "properties": {"code": code, "name": name}}
        for code, (name, geometry) in area_shapes(session, generation=gid, level=AreaLevel.community,
                                                  codes=parents).items()]}
    settings = request.app.state.map_settings
    m = build_generation_map(generation=gid, against=against, diff=diff.as_geojson(), problems=problems, context=context,
                             settings=settings)
    page, _ = render(m, title=f"gridmap generation {gid}")
    return html_page(page, started, headers={"Cache-Control": "no-store"}, request=request)
