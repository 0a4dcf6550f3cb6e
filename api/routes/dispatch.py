"""Field dispatch by location, and workers' position reports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path
from geoalchemy2.shape import to_shape

from api.deps import CityConfigDep, SessionDep
from api.params import BIGINT_MAX, CrsQuery, LatQuery, LonQuery
from api.report_views import worker_brief
from api.schemas.reports import ContactOut, DispatchOut, NearbyWorker, PositionIn, PositionOut
from api.security import PrincipalDep, require
from geo.access import Permission, record_audit
from geo.access.roles import may_report_position, sees_exact_locations
from geo.errors import Forbidden
from geo.matching.coords import point_to_wgs84
from geo.reports.dispatch import Contact, nearest_on_duty, responsibility_at, update_position
from geo.rosters.rules import DutyClock

router = APIRouter(tags=["dispatch"])


def _contact(c: Contact | None, phones: bool) -> ContactOut | None:
    if c is None:
        return None
    return ContactOut(level=c.level, area_code=c.area_code, worker=worker_brief(c.worker),
                      phone=c.worker.phone if phones and c.worker else None)


@router.get("/dispatch", response_model=DispatchOut, summary="Who is responsible here",
            responses={422: {"description": "Invalid field"}})
def get_dispatch(
    session: SessionDep, config: CityConfigDep, principal: PrincipalDep,
    lon: LonQuery,
    lat: LatQuery,
    crs: CrsQuery = None,
):
    """For a location: the grid, responsible worker and backup, the escalation chain, and the
    3 nearest on-duty workers. Phones only for roles that read personal data (audited);
    exact worker distances only for staff: the public gets distances to each worker's
    ~500 m cell, rounded to 100 m."""
    wlon, wlat = point_to_wgs84(lon, lat, crs)
    clock = DutyClock.of(datetime.now(UTC), config.tz)  # duty by the roster, now
    here = responsibility_at(session, lon=wlon, lat=wlat, snap_tolerance_m=config.snap_tolerance_m, clock=clock)
    match, responsible, backup, chain = here.match, here.responsible, here.backup, here.chain
    phones = sees_exact_locations(principal)  # the roles that read personal data of everyone
    exact = principal.can(Permission.exact_positions)
    nearby = [
        NearbyWorker(id=w.id, public_name=w.public_name, role=w.role.value,
                     distance_m=round(w.distance_m, 1) if exact else w.distance_m,
                     last_seen_at=w.last_seen_at if exact else None, phone=w.phone if phones else None)
        for w in nearest_on_duty(session, lon=wlon, lat=wlat, exact=exact, clock=clock)
    ]
    out = DispatchOut(
        grid_code=match.grid_code, generation=match.generation, match=match.kind.value, distance_m=match.distance_m,
        responsible=_contact(responsible, phones), backup=_contact(backup, phones),
        escalation_chain=[_contact(c, phones) for c in chain], nearest_on_duty=nearby,
    )
    if phones:
        shown = sorted({c.worker.id for c in (responsible, backup, *chain) if c and c.worker} | {n.id for n in nearby})
        record_audit(session, actor=principal, action="personal.read", subject_type="workers",
                     detail={"worker_ids": shown, "what": "phones in dispatch", "at": [wlon, wlat]})
        session.commit()
    return out


@router.put("/workers/{worker_id}/position", response_model=PositionOut, summary="Report a worker's position",
            responses={401: {"description": "A token is needed"}, 403: {"description": "Not this worker"},
                       404: {"description": "No such worker"}, 422: {"description": "Invalid field"}})
def put_position(body: PositionIn, session: SessionDep, principal: require(Permission.report_position),
                 worker_id: Annotated[int, Path(ge=1, le=BIGINT_MAX, examples=[17], description=(
                     "The worker's id (a worker token: its own only)."))]):
    """A worker's phone reports its position, in any supported crs (a worker token only its own)."""
    if not may_report_position(principal, worker_id):
        raise Forbidden("a worker token reports its own worker's position only")
    lon, lat = point_to_wgs84(body.lon, body.lat, body.crs)
    at = body.at or datetime.now(UTC)
    worker = update_position(session, worker_id=worker_id, lon=lon, lat=lat, at=at)
    session.commit()
    pt = to_shape(worker.last_position)
    return PositionOut(id=worker.id, lon=round(pt.x, 7), lat=round(pt.y, 7), last_seen_at=worker.last_seen_at)
