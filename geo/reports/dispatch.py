"""Field dispatch: for a location, who is responsible now, the chain above them, and who is
nearest and on duty. Also the workers' position reports. Distances are geodesic metres."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.access.privacy import WORKER_CELL_DEG, coarse_expr, public_distance
from geo.boundaries.areas import area_index
from geo.boundaries.cache import generation_fingerprint
from geo.errors import WorkerNotFound
from geo.instants import ABSOLUTE_EARLIEST, check_not_future, check_range
from geo.matching.matcher import GridMatcher
from geo.matching.rule import MatchOutcome, database_fallback, locate, match_point
from geo.models import Worker, WorkerRole
from geo.readmodels import AreaRow
from geo.reports.routing import ESCALATION_LEVELS, Responsible, escalation_codes, grid_contacts
from geo.rosters.rules import DutyClock, on_duty_expr
from geo.spatial import GEOGRAPHY, point

_KNN_CANDIDATES = 24
# Wider than the exact search: many workers share a cell, and ties must not cut the ranking short.
_PUBLIC_CANDIDATES = 64


@dataclass(frozen=True)
class Contact:
    level: str
    area_code: str | None
    worker: Responsible | None


@dataclass(frozen=True)
class Located:
    """The grid covering a point: the match, the grid with its geometry, its path to the city."""

    match: MatchOutcome
    area: AreaRow
    path: list[AreaRow]


def locate_grid(session: Session, *, lon: float, lat: float, generation: int | None = None) -> Located:
    """The grid covering the WGS-84 point in ``generation`` (default: the active one), from the
    cached matcher and area index: one read of the database when both are built.
    Raises OutsideJurisdiction, GenerationNotFound, NoActiveGeneration (``geo.matching.rule.locate``)."""
    fingerprint = generation_fingerprint(session, generation=generation)
    match = locate(session, lon=lon, lat=lat, fingerprint=fingerprint)
    index = area_index(session, generation=fingerprint.generation, fingerprint=fingerprint)
    return Located(match, index.area(match.grid_code), index.path(match.grid_code))


@dataclass(frozen=True)
class Responsibility:
    """Who answers for a point: its match (snapping included), the grid's responsible worker
    and backup, and the contacts of the escalation chain above the grid (community → city)."""

    match: MatchOutcome
    responsible: Contact | None
    backup: Contact | None
    chain: list[Contact]


def responsibility_at(session: Session, *, lon: float, lat: float, snap_tolerance_m: float,
                      clock: DutyClock | None = None) -> Responsibility:
    """``Responsibility`` for the WGS-84 point in the active generation, matched as intake
    matches a report; an unassigned point has no contacts. Two reads of the database when
    the matcher and area index are built. Duty is the roster's at ``clock`` (None: the stored
    flag), as routing judges it. Raises NoActiveGeneration."""
    fingerprint = generation_fingerprint(session)
    gid = fingerprint.generation
    matcher = GridMatcher.from_session(session, generation=gid, fingerprint=fingerprint)
    match = match_point(matcher, lon=lon, lat=lat, generation=gid,
                        fallback=database_fallback(session, generation=gid, snap_tolerance_m=snap_tolerance_m))
    if match.grid_code is None:
        return Responsibility(match, None, None, [])
    index = area_index(session, generation=gid, fingerprint=fingerprint)
    codes = escalation_codes(match.grid_code, city_code=index.city_code)
    people = grid_contacts(session, grid_code=match.grid_code, lead_codes=[c for c in codes[1:] if c], clock=clock)
    chain = [Contact(ESCALATION_LEVELS[level], code, people.leads.get(code) if code else None)
             for level, code in enumerate(codes) if level > 0]
    return Responsibility(
        match,
        Contact("grid", match.grid_code, people.responsible) if people.responsible else None,
        Contact("grid", match.grid_code, people.backup) if people.backup else None,
        chain,
    )


@dataclass(frozen=True, slots=True)
class Nearby:
    """An on-duty worker near a point and the distance in metres (``phone`` is personal data)."""

    id: int
    public_name: str
    role: WorkerRole
    phone: str | None
    last_seen_at: datetime | None
    distance_m: float


def nearest_on_duty(session: Session, *, lon: float, lat: float, limit: int = 3, exact: bool = True,
                    clock: DutyClock | None = None) -> list[Nearby]:
    """On-duty workers with a known position, nearest first, with geodesic distances in metres.

    ``exact=False`` is the public answer (``geo.access.privacy``): ranked by, and measured to, each
    worker's position snapped to its lattice cell, distances rounded to 100 m, so no number
    of queries trilaterates a worker finer than their cell. The candidates come from a KNN
    scan (of exact positions, or for the public of cells only: ix_workers_public_cell, so
    which workers are considered depends on cells alone); the geodesic distance ranks them,
    ties by id.

    Duty: the scan reads the stored ``workers.on_duty`` flag (the index's condition, refreshed
    from the roster by ``geo.rosters.service.refresh_duty`` every interval); with ``clock``
    the candidates are then judged by the roster rule at that moment too, so a worker whose
    shift or leave began since the last refresh is not offered. (One whose shift began since
    then appears at the next refresh.)
    """
    pt = point(lon, lat)
    where = sa.and_(Worker.on_duty.is_(True), Worker.last_position.is_not(None))
    measured = Worker.last_position if exact else coarse_expr(Worker.last_position, deg=WORKER_CELL_DEG)
    knn = (
        sa.select(Worker.id, Worker.public_name, Worker.role, Worker.phone, Worker.last_seen_at,
                  measured.label("at"))
        .where(where)
        .order_by(measured.op("<->")(pt))
        .limit(_KNN_CANDIDATES if exact else _PUBLIC_CANDIDATES)
        .subquery()
    )
    dist = sa.func.ST_Distance(sa.cast(knn.c.at, GEOGRAPHY), sa.cast(pt, GEOGRAPHY))
    query = sa.select(knn.c.id, knn.c.public_name, knn.c.role, knn.c.phone, knn.c.last_seen_at, dist.label("d"))
    if clock is not None:
        query = query.where(on_duty_expr(knn.c.id, sa.true()))  # every candidate's flag is true
    rows = session.execute(query.order_by(dist, knn.c.id).limit(limit), clock.params() if clock else {}).all()
    return [Nearby(r.id, r.public_name, r.role, r.phone, r.last_seen_at,
                   float(r.d) if exact else public_distance(float(r.d))) for r in rows]


def update_position(session: Session, *, worker_id: int, lon: float, lat: float, at: datetime) -> Worker:
    """Record a worker's last known WGS-84 position. Older fixes than the stored one are ignored.

    Raises WorkerNotFound, InvalidInput (field ``at``) for a time before 1900 or in the future."""
    check_range(at, field="at", earliest=ABSOLUTE_EARLIEST)
    check_not_future(at, now=datetime.now(at.tzinfo), field="at")
    worker = session.get(Worker, worker_id, with_for_update=True, populate_existing=True)
    if worker is None:
        raise WorkerNotFound(f"no worker {worker_id}", worker_id=worker_id)
    if worker.last_seen_at is None or at >= worker.last_seen_at:
        worker.last_position = point(lon, lat)
        worker.last_seen_at = at
        session.flush()
        session.refresh(worker)
    return worker
