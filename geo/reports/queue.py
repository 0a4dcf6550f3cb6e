"""A worker's own queue: the open cases a worker's phone shows ("my cases").

A worker's open cases are those assigned to them; a worker who is staff of a functional
department (``workers.department_code``) also sees the open cases their department holds.
Order: overdue first, then by due time (no due time last), then by id, so the list is the
same for the same data and its fingerprint (the API's ETag) changes only when it does.

Personal data follows ``geo.access.roles`` case by case: the reporter's contact, the exact
point and the text of a sensitive case only for a case the worker may read in full (their
assigned ones); a case their department holds but another colleague carries shows a
sensitive case at its public place, as to anyone else.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, defer

from geo.access.privacy import PUBLIC_PRECISION_M, is_sensitive, public_place
from geo.access.roles import Principal, Role, may_read_personal, may_upload_photo
from geo.errors import Forbidden
from geo.models import OPEN_STATUSES, Area, AreaLevel, Report, Worker
from geo.reports.categories import BY_CODE, SUB_BY_CODE
from geo.reports.rules import allowed_for

# A phone's list, not an export: a worker carrying more than this many open cases is a
# dispatch problem; ``WorkerQueue.total`` says how many there are.
MAX_QUEUE = 500


@dataclass(frozen=True, slots=True)
class QueueCase:
    """One open case as the worker's phone shows it. Coordinates are WGS-84 degrees; a
    sensitive case the worker may not read in full is at its public place
    (``location_precision_m`` set, ``description`` None, ``grid_code`` its community)."""

    id: uuid.UUID
    category: str
    category_zh: str
    category_en: str
    subcategory: str | None
    subcategory_zh: str | None
    subcategory_en: str | None
    description: str | None
    status: str
    reported_at: datetime
    due_at: datetime | None
    overdue: bool
    escalation_level: int
    grid_code: str | None
    place: str | None  # the grid's name: the nearest thing to an address a case has
    lon: float
    lat: float
    location_precision_m: int | None
    department_code: str | None
    assigned_to_me: bool
    allowed: tuple[str, ...]  # what this worker may do now (the loop's rule and the role's)
    photo_count: int
    may_add_photo: bool
    reporter_name: str | None
    reporter_phone: str | None
    personal: bool  # the reporter's contact and exact place are shown (an audited read)


@dataclass(frozen=True, slots=True)
class WorkerQueue:
    worker_id: int
    public_name: str | None  # as the trail and the signs name the worker
    department_code: str | None
    total: int  # open cases in the queue (``cases`` holds at most MAX_QUEUE of them)
    cases: list[QueueCase]


def queue_condition(*, worker_id: int, department_code: str | None):
    """SQL: the open cases in the queue of worker ``worker_id`` (and of their department)."""
    mine = Report.assigned_worker_id == worker_id
    held = sa.or_(mine, Report.department_code == department_code) if department_code else mine
    return sa.and_(Report.status.in_(OPEN_STATUSES), held)


def worker_queue(session: Session, *, viewer: Principal, now: datetime, limit: int = MAX_QUEUE) -> WorkerQueue:
    """The open cases of ``viewer`` (a worker token: role worker with its worker id), overdue
    first, then by due time (none last), then id; at most ``limit``.

    Raises Forbidden for any other principal (a queue is a worker's own)."""
    if viewer.role != Role.worker or viewer.worker_id is None:
        raise Forbidden("the queue is a worker's own: use a worker token (gridmap tokens issue --worker)")
    # The department as the token resolved it: the one the transitions endpoint checks.
    department = viewer.department_code
    cond = queue_condition(worker_id=viewer.worker_id, department_code=department)
    overdue = sa.and_(Report.due_at.is_not(None), Report.due_at < now)
    # The grid's name under the generation the case was matched in (codes outlive generations).
    place = (sa.select(Area.name)
             .where(Area.level == AreaLevel.grid, Area.code == Report.grid_code,
                    Report.generation_id.between(Area.generation_low, Area.generation_high))
             .limit(1).correlate(Report).scalar_subquery())
    # One round trip: the worker's row joined to their cases (one row with no case when the
    # queue is empty; none when the worker is gone).
    rows = session.execute(
        sa.select(Worker.public_name, Report, sa.func.ST_X(Report.location), sa.func.ST_Y(Report.location), place,
                  sa.func.count(Report.id).over())
        .select_from(Worker).outerjoin(Report, cond)
        .where(Worker.id == viewer.worker_id)
        .order_by(sa.case((overdue, 0), else_=1), Report.due_at.asc().nulls_last(), Report.id)
        .limit(limit)
        .options(defer(Report.location), defer(Report.suggested_duplicates), defer(Report.request_hash))
    ).all()
    name, total = (rows[0][0], rows[0][5]) if rows else (None, 0)
    return WorkerQueue(viewer.worker_id, name, department, total,
                       [_case(viewer, r, lon, lat, place_name, now)
                        for _, r, lon, lat, place_name, _ in rows if r is not None])


def _case(viewer: Principal, r: Report, lon: float, lat: float, place: str | None, now: datetime) -> QueueCase:
    personal = may_read_personal(viewer, r)
    hide = not personal and is_sensitive(r.category)
    lon, lat, grid_code = round(lon, 7), round(lat, 7), r.grid_code
    if hide:
        lon, lat, grid_code = public_place(lon, lat, grid_code)
    cat, sub = BY_CODE.get(r.category), SUB_BY_CODE.get(r.subcategory or "")
    return QueueCase(
        id=r.id, category=r.category, category_zh=cat.name_zh if cat else r.category,
        category_en=cat.name_en if cat else r.category, subcategory=r.subcategory,
        subcategory_zh=sub.name_zh if sub else None, subcategory_en=sub.name_en if sub else None,
        description=None if hide else r.description, status=r.status.value, reported_at=r.reported_at,
        due_at=r.due_at, overdue=r.due_at is not None and r.due_at < now, escalation_level=r.escalation_level,
        grid_code=grid_code, place=None if hide else place, lon=lon, lat=lat,
        location_precision_m=PUBLIC_PRECISION_M if hide else None, department_code=r.department_code,
        assigned_to_me=r.assigned_worker_id == viewer.worker_id,
        allowed=tuple(allowed_for(r, viewer)),
        photo_count=len(r.photos or ()), may_add_photo=may_upload_photo(viewer, r),
        reporter_name=r.reporter_name if personal else None, reporter_phone=r.reporter_phone if personal else None,
        personal=personal,
    )
