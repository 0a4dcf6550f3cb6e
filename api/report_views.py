"""Report responses: what each viewer may see of a case (``geo.access`` decides, this builds)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.schemas.reports import EventOut, ReportCreated, ReportOut, WorkerBrief
from geo.access import Principal, may_read_personal, may_see_photos
from geo.access.privacy import PUBLIC_PRECISION_M, is_sensitive, public_code, public_place
from geo.access.roles import is_own_case, sees_exact_locations
from geo.models import OPEN_STATUSES, Report, ReportSource, Worker
from geo.reports.outcomes import BatchOutcome
from geo.reports.rules import allowed_for
from geo.reports.workflow import allowed_actions, trail

NAMESPACE = uuid.UUID("6f1b2c9e-5a43-4c1e-9d0b-2f6c7a8e9b10")

# Trail actors that are not people's names, and so may be shown to anyone: the system, the
# reporter, and the source words intake records.
PUBLIC_ACTORS = frozenset({"system", "reporter", *(s.value for s in ReportSource)})


def id_from_key(key: str) -> uuid.UUID:
    """A stable report id for an Idempotency-Key header."""
    return uuid.uuid5(NAMESPACE, key)


def worker_brief(worker: Worker | None) -> WorkerBrief | None:
    return None if worker is None else WorkerBrief(id=worker.id, public_name=worker.public_name, role=worker.role.value)


def created_view(o: BatchOutcome, *, case_token: str | None = None, duplicates: bool = True) -> ReportCreated:
    """The intake answer for one registered (201) or replayed (200) report. ``duplicates``
    False leaves the suggestions out (for a sensitive case they would point at other
    sensitive cases nearby)."""
    return ReportCreated(
        id=o.report_id, grid_code=o.grid_code, generation=o.generation, match=o.match,
        distance_m=o.distance_m, worker=worker_brief(o.worker), status=o.report_status,
        due_at=o.due_at, escalation_level=o.escalation_level,
        possible_duplicates=o.possible_duplicates if duplicates else [], case_token=case_token,
    )


def shows_duplicates(viewer: Principal, category: str) -> bool:
    """Whether ``viewer`` may see the duplicate suggestions of a new report of ``category``:
    other open cases of its kind nearby, exactly located by the ordering, so for a sensitive
    category only to the roles that read every sensitive case in full."""
    return not is_sensitive(category) or sees_exact_locations(viewer)


def report_view(session: Session, report: Report, *, viewer: Principal, now: datetime,
                with_trail: bool = False) -> ReportOut:
    """The report as ``viewer`` may see it: personal data only when ``may_read_personal``; a
    sensitive case otherwise at its public cell (``geo.access.privacy``), without its text."""
    personal = may_read_personal(viewer, report)
    # The reporter knows where their own case is: they see its grid and worker (the intake
    # answer showed them both), still not the personal data of the record.
    hide = not personal and not is_own_case(viewer, report) and is_sensitive(report.category)
    lon, lat = _lonlat(session, report)
    grid_code = report.grid_code
    if hide:
        lon, lat, grid_code = public_place(lon, lat, grid_code)
    worker = session.get(Worker, report.assigned_worker_id) if report.assigned_worker_id else None
    out = ReportOut(
        id=report.id, category=report.category, subcategory=report.subcategory,
        description=None if hide else report.description, source=report.source.value,
        lon=lon, lat=lat, location_precision_m=PUBLIC_PRECISION_M if hide else None,
        orig={"x": report.orig_x, "y": report.orig_y, "crs": report.orig_crs} if personal else None,
        reported_at=report.reported_at, status=report.status.value,
        grid_code=grid_code, generation=report.generation_id,
        match=None if hide else report.match_kind.value if report.match_kind else None,
        assigned_worker=None if hide else worker_brief(worker), dispatched_at=report.dispatched_at,
        due_at=report.due_at,
        overdue=report.status in OPEN_STATUSES and report.due_at is not None and report.due_at < now,
        escalation_level=report.escalation_level,
        escalated_to=public_code(report.escalated_to) if hide else report.escalated_to,
        resolved_at=report.resolved_at, closed_at=report.closed_at, duplicate_of=report.duplicate_of,
        rating=report.rating, department_code=report.department_code,
        department_accepted_at=report.department_accepted_at, return_count=report.return_count,
        allowed=allowed_actions(report),
        photos=list(report.photos) if may_see_photos(viewer, report) else [],
        reporter={"name": report.reporter_name, "phone": report.reporter_phone} if personal else None,
    )
    out.your_actions = allowed_for(report, viewer)
    if with_trail:
        out.trail = [
            EventOut(at=e.at, action=e.action, actor=e.actor if personal else _public_actor(e),
                     note=e.note if personal else None, from_status=e.from_status, to_status=e.to_status,
                     data=e.data if personal else {})
            for e in trail(session, report_id=report.id)
        ]
    return out


def report_views(session: Session, reports: list[Report], *, viewer: Principal, now: datetime) -> list[ReportOut]:
    """``report_view`` of each report (no trail), their workers read in one query first (the
    identity map then serves each view's lookup: a page of 1,000 was 1,000 queries)."""
    ids = {r.assigned_worker_id for r in reports if r.assigned_worker_id is not None}
    if ids:
        session.scalars(sa.select(Worker).where(Worker.id.in_(ids))).all()
    return [report_view(session, r, viewer=viewer, now=now) for r in reports]


def _public_actor(event) -> str:
    """Who acted, in public words: a token holder by role (a typed-in ``actor`` could be
    anything, a staff member's name included), else the source words intake uses."""
    by = (event.data or {}).get("by")
    if by:
        return "reporter" if by.startswith("reporter") else "staff"
    return event.actor if event.actor in PUBLIC_ACTORS else "staff"


def _lonlat(session: Session, report: Report) -> tuple[float, float]:
    from geoalchemy2.shape import to_shape

    pt = to_shape(report.location)
    return round(pt.x, 7), round(pt.y, 7)
