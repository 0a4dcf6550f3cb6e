"""Report responses: what staff see and what everyone else sees."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from api.schemas.reports import EventOut, ReportCreated, ReportOut, WorkerBrief
from geo.categories import SENSITIVE_CATEGORIES
from geo.models import OPEN_STATUSES, Report, Worker
from geo.registration import BatchOutcome
from geo.workflow import trail

NAMESPACE = uuid.UUID("6f1b2c9e-5a43-4c1e-9d0b-2f6c7a8e9b10")


def id_from_key(key: str) -> uuid.UUID:
    """A stable report id for an Idempotency-Key header."""
    return uuid.uuid5(NAMESPACE, key)


def worker_brief(worker: Worker | None) -> WorkerBrief | None:
    return None if worker is None else WorkerBrief(id=worker.id, public_name=worker.public_name, role=worker.role.value)


def created_view(o: BatchOutcome) -> ReportCreated:
    """The intake answer for one registered (201) or replayed (200) report."""
    return ReportCreated(
        id=o.report_id, grid_code=o.grid_code, generation=o.generation, match=o.match,
        distance_m=o.distance_m, worker=worker_brief(o.worker), status=o.report_status,
        due_at=o.due_at, escalation_level=o.escalation_level, possible_duplicates=o.possible_duplicates,
    )


def report_view(session: Session, report: Report, *, staff: bool, now: datetime, with_trail: bool = False) -> ReportOut:
    """The report as ``ReportOut``; without ``staff`` no personal data, and sensitive cases
    lose their text and exact location."""
    hide = not staff and report.category in SENSITIVE_CATEGORIES
    lon, lat = _lonlat(session, report)
    worker = session.get(Worker, report.assigned_worker_id) if report.assigned_worker_id else None
    out = ReportOut(
        id=report.id, category=report.category, subcategory=report.subcategory,
        description=None if hide else report.description, source=report.source.value,
        lon=None if hide else lon, lat=None if hide else lat,
        orig={"x": report.orig_x, "y": report.orig_y, "crs": report.orig_crs} if staff else None,
        reported_at=report.reported_at, status=report.status.value, grid_code=report.grid_code,
        generation=report.generation_id, match=report.match_kind.value if report.match_kind else None,
        assigned_worker=worker_brief(worker), dispatched_at=report.dispatched_at, due_at=report.due_at,
        overdue=report.status in OPEN_STATUSES and report.due_at is not None and report.due_at < now,
        escalation_level=report.escalation_level, escalated_to=report.escalated_to,
        resolved_at=report.resolved_at, closed_at=report.closed_at, duplicate_of=report.duplicate_of,
        rating=report.rating, photos=[] if hide else list(report.photos),
        reporter={"name": report.reporter_name, "phone": report.reporter_phone} if staff else None,
    )
    if with_trail:
        out.trail = [
            EventOut(at=e.at, action=e.action, actor=e.actor if staff else _public_actor(e.actor),
                     note=e.note if staff else None, from_status=e.from_status, to_status=e.to_status,
                     data=e.data if staff else {})
            for e in trail(session, report_id=report.id)
        ]
    return out


def _public_actor(actor: str) -> str:
    # Staff names typed into the actor field are personal data too.
    return actor if actor in ("system", "citizen", "grid_worker", "hotline_12345", "video", "other", "reporter") else "staff"


def _lonlat(session: Session, report: Report) -> tuple[float, float]:
    from geoalchemy2.shape import to_shape

    pt = to_shape(report.location)
    return round(pt.x, 7), round(pt.y, 7)
