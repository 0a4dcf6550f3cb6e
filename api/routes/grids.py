"""Areas of the hierarchy as GeoJSON: listings with bbox and paging, and one area in detail."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request

from api.deps import ApiSettingsDep, SessionDep
from api.errors import FieldError
from api.params import (
    CODE_EXAMPLE,
    CODE_PATTERN,
    BBoxQuery,
    CodePath,
    GenerationQuery,
    LimitQuery,
    OffsetQuery,
    page_size,
    parse_bbox,
)
from api.schemas import AreaCollection, AreaDetailFeature, AreaFeature, Link
from api.views import area_detail_feature, area_properties
from geo.boundaries.areas import list_areas
from geo.boundaries.generations import resolve_generation
from geo.boundaries.history import successor_codes
from geo.errors import AreaNotFound
from geo.models import AreaLevel

router = APIRouter(tags=["grids"])


NOT_FOUND = {404: {"description": "No such area or generation"}}


@router.get("/grids", response_model=AreaCollection, response_model_exclude_none=False, responses=NOT_FOUND,
            summary="List areas of one level")
def get_grids(
    request: Request,
    session: SessionDep,
    settings: ApiSettingsDep,
    bbox: BBoxQuery = None,
    level: Annotated[AreaLevel, Query(examples=["community"], description="Hierarchy level to list.")] = AreaLevel.grid,
    limit: LimitQuery = None,
    offset: OffsetQuery = 0,
    after: Annotated[str | None, Query(pattern=CODE_PATTERN, examples=[CODE_EXAMPLE], description=(
        "Keyset paging: areas with codes after this one (what the `next` link carries)."))] = None,
    generation: GenerationQuery = None,
):
    """Areas of one level as a GeoJSON FeatureCollection, ordered by code, with `next` links."""
    page = page_size(limit, default=settings.page_size, maximum=settings.max_page_size)
    if after is not None and offset:
        raise FieldError("offset", "cannot be combined with `after`")
    box = parse_bbox(bbox)
    gid = resolve_generation(session, generation=generation)
    rows, total = list_areas(session, generation=gid, level=level, bbox=box, limit=page + 1, offset=offset,
                             after=after)
    more, rows = len(rows) > page, rows[:page]
    links = [Link(rel="self", href=str(request.url))]
    if more:
        nxt = request.url.remove_query_params("offset").include_query_params(after=rows[-1].code, limit=page)
        links.append(Link(rel="next", href=str(nxt)))
    features = [
        AreaFeature(id=r.code, geometry=orjson.loads(r.geometry_json), properties=area_properties(r)) for r in rows
    ]
    return AreaCollection(
        features=features, numberMatched=total, numberReturned=len(features), generation=gid, links=links
    )


@router.get("/grids/{code}", response_model=AreaDetailFeature, responses=NOT_FOUND, summary="One area in detail")
def get_grid(
    session: SessionDep,
    code: CodePath,
    generation: GenerationQuery = None,
):
    """One area of any level with its path up to the city and its assigned workers (public
    fields). A retired code is a 404 naming its successors (``/grids/{code}/history``)."""
    gid = resolve_generation(session, generation=generation)
    try:
        return area_detail_feature(session, code=code, generation=gid)
    except AreaNotFound as exc:
        if generation is None and (successors := successor_codes(session, code=code)):
            raise AreaNotFound(f"{code} was retired in a redraw; it is now {', '.join(successors)}",
                               code=code, successors=successors) from None
        raise exc from None
