"""Areas of the hierarchy as GeoJSON: listings with bbox and paging, and one area in detail."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Path, Query, Request

from api.deps import ApiSettingsDep, SessionDep
from api.errors import FieldError
from api.schemas import AreaCollection, AreaDetailFeature, AreaFeature, Link
from api.views import area_detail_feature, area_properties
from geo.areas import BBox, list_areas
from geo.errors import InvalidInput
from geo.generations import resolve_generation
from geo.models import AreaLevel

router = APIRouter(tags=["grids"])

GenerationQuery = Annotated[
    int | None, Query(ge=1, description="Boundary generation (default: the active one).")
]


def parse_bbox(raw: str | None) -> BBox | None:
    """``minlon,minlat,maxlon,maxlat`` in degrees → BBox, or a 422 naming ``bbox``."""
    if raw is None:
        return None
    parts = raw.split(",")
    if len(parts) != 4:
        raise FieldError("bbox", "expected 4 comma-separated numbers: minlon,minlat,maxlon,maxlat")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise FieldError("bbox", "every value must be a number") from None
    if any(v != v or v in (float("inf"), float("-inf")) for v in values):
        raise FieldError("bbox", "values must be finite numbers")
    try:
        return BBox(*values)
    except InvalidInput as exc:
        raise FieldError("bbox", exc.message) from None


@router.get("/grids", response_model=AreaCollection, response_model_exclude_none=False)
def get_grids(
    request: Request,
    session: SessionDep,
    settings: ApiSettingsDep,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat (WGS-84)")] = None,
    level: Annotated[AreaLevel, Query(description="Hierarchy level to list.")] = AreaLevel.grid,
    limit: Annotated[int | None, Query(ge=1, description="Page size (capped by the server).")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    generation: GenerationQuery = None,
):
    """Areas of one level as a GeoJSON FeatureCollection, ordered by code, with `next` links."""
    if limit is not None and limit > settings.max_page_size:
        raise FieldError("limit", f"must be at most {settings.max_page_size}")
    page = limit or settings.page_size
    box = parse_bbox(bbox)
    gid = resolve_generation(session, generation=generation)
    rows, total = list_areas(session, generation=gid, level=level, bbox=box, limit=page, offset=offset)
    links = [Link(rel="self", href=str(request.url))]
    if offset + len(rows) < total:
        links.append(Link(rel="next", href=str(request.url.include_query_params(offset=offset + page, limit=page))))
    if offset > 0:
        links.append(Link(rel="prev", href=str(request.url.include_query_params(offset=max(0, offset - page), limit=page))))
    features = [
        AreaFeature(id=r.code, geometry=orjson.loads(r.geometry_json), properties=area_properties(r)) for r in rows
    ]
    return AreaCollection(
        features=features, numberMatched=total, numberReturned=len(features), generation=gid, links=links
    )


@router.get("/grids/{code}", response_model=AreaDetailFeature)
def get_grid(
    session: SessionDep,
    code: Annotated[str, Path(pattern=r"^[0-9]{6}([0-9]{3}){0,3}$", description="6, 9, 12 or 15 digits")],
    generation: GenerationQuery = None,
):
    """One area of any level with its path up to the city and its assigned workers (public fields)."""
    gid = resolve_generation(session, generation=generation)
    return area_detail_feature(session, code=code, generation=gid)
