"""Field dispatch by location, and workers' position reports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from geoalchemy2.shape import to_shape

from api.deps import CityConfigDep, SessionDep
from api.report_views import worker_brief
from api.schemas.reports import ContactOut, DispatchOut, NearbyWorker, PositionIn, PositionOut
from api.security import RequireStaff, StaffFlag
from geo.coords import point_to_wgs84
from geo.dispatch import Contact, escalation_chain, nearest_on_duty, responsible_contacts, update_position
from geo.generations import active_generation_id
from geo.matching import match_location

router = APIRouter(tags=["dispatch"])


def _contact(c: Contact | None, staff: bool) -> ContactOut | None:
    if c is None:
        return None
    return ContactOut(level=c.level, area_code=c.area_code, worker=worker_brief(c.worker),
                      phone=c.worker.phone if staff and c.worker else None)


@router.get("/dispatch", response_model=DispatchOut)
def get_dispatch(
    session: SessionDep, config: CityConfigDep, staff: StaffFlag,
    lon: Annotated[float, Query(allow_inf_nan=False)],
    lat: Annotated[float, Query(allow_inf_nan=False)],
    crs: Annotated[str | None, Query(max_length=16)] = None,
):
    """For a location: the grid, responsible worker and backup, the escalation chain, and the
    3 nearest on-duty workers by last known position (phones for staff only)."""
    wlon, wlat = point_to_wgs84(lon, lat, crs)
    gen = active_generation_id(session)
    match = match_location(session, lon=wlon, lat=wlat, generation=gen, snap_tolerance_m=config.snap_tolerance_m)
    responsible = backup = None
    chain: list[Contact] = []
    if match.grid_code:
        responsible, backup = responsible_contacts(session, grid_code=match.grid_code)
        chain = escalation_chain(session, grid_code=match.grid_code, generation=gen)
    nearby = [
        NearbyWorker(id=w.id, public_name=w.public_name, role=w.role.value, distance_m=round(d, 1),
                     last_seen_at=w.last_seen_at, phone=w.phone if staff else None)
        for w, d in nearest_on_duty(session, lon=wlon, lat=wlat)
    ]
    return DispatchOut(
        grid_code=match.grid_code, generation=gen, match=match.kind.value, distance_m=match.distance_m,
        responsible=_contact(responsible, staff), backup=_contact(backup, staff),
        escalation_chain=[_contact(c, staff) for c in chain], nearest_on_duty=nearby,
    )


@router.put("/workers/{worker_id}/position", response_model=PositionOut)
def put_position(body: PositionIn, session: SessionDep, staff: RequireStaff,
                 worker_id: Annotated[int, Path(ge=1)]):
    """A worker's phone reports its position, in any supported crs."""
    lon, lat = point_to_wgs84(body.lon, body.lat, body.crs)
    at = body.at or datetime.now(UTC)
    worker = update_position(session, worker_id=worker_id, lon=lon, lat=lat, at=at)
    session.commit()
    pt = to_shape(worker.last_position)
    return PositionOut(id=worker.id, lon=round(pt.x, 7), lat=round(pt.y, 7), last_seen_at=worker.last_seen_at)
