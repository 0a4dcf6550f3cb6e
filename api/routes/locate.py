"""Who is responsible for this location? Point → exactly one grid."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import SessionDep
from api.params import CrsQuery, GenerationQuery, LatQuery, LonQuery
from api.schemas import LocateOut
from api.views import area_feature
from geo.boundaries.areas import area_workers
from geo.matching.coords import point_to_wgs84
from geo.reports.dispatch import locate_grid

router = APIRouter(tags=["locate"])


@router.get(
    "/locate",
    response_model=LocateOut, summary="Which grid covers this point",
    responses={404: {"description": "outside_jurisdiction: no grid covers the point; nearest grid and distance given"}},
)
def get_locate(
    session: SessionDep,
    lon: LonQuery,
    lat: LatQuery,
    crs: CrsQuery = None,
    generation: GenerationQuery = None,
):
    """The grid covering the point, converted to WGS-84 from ``crs`` exactly as intake converts
    it, so a point located here lands in the same grid when it is filed; on a shared edge or
    vertex, the smallest grid code."""
    wlon, wlat = point_to_wgs84(lon, lat, crs)
    located = locate_grid(session, lon=wlon, lat=wlat, generation=generation)
    match = located.match
    workers = area_workers(session, codes=[match.grid_code])[match.grid_code]
    return LocateOut(
        grid=area_feature(located.area, path=located.path, workers=workers, generation=match.generation),
        match=match.kind.value,
        covering_codes=list(match.covering_codes),
        generation=match.generation,
    )
