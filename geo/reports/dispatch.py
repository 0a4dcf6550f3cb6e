"""Field dispatch: for a location, who is responsible now, the chain above them, and who is
nearest and on duty. Also the workers' position reports. Distances are geodesic metres."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.access.privacy import WORKER_CELL_DEG, coarse_expr, public_distance
from geo.errors import WorkerNotFound
from geo.instants import ABSOLUTE_EARLIEST, check_not_future, check_range
from geo.models import Assignment, AssignmentRole, Worker
from geo.reports.routing import ESCALATION_LEVELS, Responsible, escalation_code, lead_of, responsible_worker
from geo.spatial import GEOGRAPHY, point

_KNN_CANDIDATES = 24


@dataclass(frozen=True)
class Contact:
    level: str
    area_code: str | None
    worker: Responsible | None


def backup_worker(session: Session, *, grid_code: str, exclude: int | None) -> Responsible | None:
    """The first backup of the grid (by rank) who is not ``exclude``."""
    q = (
        sa.select(Worker)
        .join(Assignment, Assignment.worker_id == Worker.id)
        .where(Assignment.area_code == grid_code, Assignment.role == AssignmentRole.backup,
               Assignment.ended_at.is_(None))
        .order_by(sa.desc(Worker.on_duty), Assignment.rank, Worker.id)
    )
    if exclude is not None:
        q = q.where(Worker.id != exclude)
    worker = session.scalars(q.limit(1)).first()
    return Responsible.of(worker) if worker else None


def escalation_chain(session: Session, *, grid_code: str, generation: int) -> list[Contact]:
    """Community, street, district and city contacts above the grid."""
    chain = []
    for level in range(1, len(ESCALATION_LEVELS)):
        code = escalation_code(session, grid_code=grid_code, level=level, generation=generation)
        lead = lead_of(session, area_code=code) if code else None
        chain.append(Contact(ESCALATION_LEVELS[level], code, Responsible.of(lead) if lead else None))
    return chain


def responsible_contacts(session: Session, *, grid_code: str) -> tuple[Contact | None, Contact | None]:
    worker = responsible_worker(session, grid_code=grid_code)
    backup = backup_worker(session, grid_code=grid_code, exclude=worker.id if worker else None)
    return (
        Contact("grid", grid_code, worker) if worker else None,
        Contact("grid", grid_code, backup) if backup else None,
    )


def nearest_on_duty(session: Session, *, lon: float, lat: float, limit: int = 3,
                    exact: bool = True) -> list[tuple[Worker, float]]:
    """On-duty workers with a known position, nearest first, with geodesic distances in metres.

    ``exact=False`` is the public answer (``geo.access.privacy``): ranked by, and measured to, each
    worker's position snapped to its lattice cell, distances rounded to 100 m, so no number
    of queries trilaterates a worker finer than their cell.
    """
    pt = point(lon, lat)
    if not exact:
        return _nearest_public(session, pt=pt, limit=limit)
    knn = (
        sa.select(Worker.id, Worker.last_position)
        .where(Worker.on_duty.is_(True), Worker.last_position.is_not(None))
        .order_by(Worker.last_position.op("<->")(pt))
        .limit(_KNN_CANDIDATES)
        .subquery()
    )
    geog = GEOGRAPHY
    dist = sa.func.ST_Distance(sa.cast(knn.c.last_position, geog), sa.cast(pt, geog))
    rows = session.execute(
        sa.select(Worker, dist.label("d")).join(knn, knn.c.id == Worker.id).order_by(dist, Worker.id).limit(limit)
    ).all()
    return [(r.Worker, float(r.d)) for r in rows]


def _nearest_public(session: Session, *, pt, limit: int) -> list[tuple[Worker, float]]:
    cell = coarse_expr(Worker.last_position, deg=WORKER_CELL_DEG)
    geog = GEOGRAPHY
    dist = sa.func.ST_Distance(sa.cast(cell, geog), sa.cast(pt, geog))
    # Every on-duty worker is ranked by the cell, not a prefilter on the exact position: a
    # prefilter's edge would itself depend on exact positions.
    rows = session.execute(
        sa.select(Worker, dist.label("d")).where(Worker.on_duty.is_(True), Worker.last_position.is_not(None))
        .order_by(dist, Worker.id).limit(limit)
    ).all()
    return [(r.Worker, public_distance(float(r.d))) for r in rows]


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
