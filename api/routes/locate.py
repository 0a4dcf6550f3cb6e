"""Who is responsible for this location? Point → exactly one grid."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import SessionDep
from api.params import GenerationQuery
from api.schemas import LocateOut
from api.views import area_detail_feature
from geo.coords import check_lon_lat
from geo.locate import locate

router = APIRouter(tags=["locate"])


@router.get(
    "/locate",
    response_model=LocateOut,
    responses={404: {"description": "outside_jurisdiction: no grid covers the point; nearest grid and distance given"}},
)
def get_locate(
    session: SessionDep,
    lon: Annotated[float, Query(allow_inf_nan=False, description="Longitude, WGS-84 degrees",
                                json_schema_extra={"minimum": -180, "maximum": 180})],
    lat: Annotated[float, Query(allow_inf_nan=False, description="Latitude, WGS-84 degrees",
                                json_schema_extra={"minimum": -90, "maximum": 90})],
    generation: GenerationQuery = None,
):
    """The grid covering (lon, lat); on a shared edge or vertex, the smallest grid code."""
    check_lon_lat(lon, lat)
    match = locate(session, lon=lon, lat=lat, generation=generation)
    return LocateOut(
        grid=area_detail_feature(session, code=match.grid_code, generation=match.generation),
        match=match.kind,
        covering_codes=list(match.covering_codes),
        generation=match.generation,
    )
