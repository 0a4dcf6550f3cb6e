"""Reports as features for a feature service (OGC API Features): one page of records as a
viewer may see them, newest first, with a count that stops where counting costs more than
the page.

Every filter runs on what the viewer may see (``ReportFilter(exact=...)`` from
``geo.access.roles.sees_exact_locations``); each record is then cut down by the same rules as
the report views: a sensitive case appears to those who may not read it in full at its public
cell and community, without its text; personal data only with ``may_read_personal``.
Coordinates are WGS-84 lon/lat degrees.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.access.privacy import PUBLIC_PRECISION_M, is_sensitive, public_place
from geo.access.roles import Principal, may_read_personal
from geo.models import OPEN_STATUSES, Report
from geo.reports.queries import ReportFilter, count_matched

_COLUMNS = (
    Report.id, Report.category, Report.subcategory, Report.status, Report.source, Report.reported_at,
    Report.dispatched_at, Report.due_at, Report.resolved_at, Report.closed_at, Report.rating,
    Report.grid_code, Report.generation_id, Report.escalation_level, Report.assigned_worker_id,
    Report.description, Report.reporter_name, Report.reporter_phone, Report.match_kind,
    sa.func.ST_X(Report.location).label("lon"), sa.func.ST_Y(Report.location).label("lat"),
)


@dataclass(frozen=True, slots=True)
class ReportFeature:
    id: uuid.UUID
    reported_at: datetime
    lon: float
    lat: float
    properties: dict


def _record(r, viewer: Principal, now: datetime) -> ReportFeature:
    personal = may_read_personal(viewer, r)
    hide = not personal and is_sensitive(r.category)
    lon, lat, grid_code = round(r.lon, 7), round(r.lat, 7), r.grid_code
    if hide:
        lon, lat, grid_code = public_place(lon, lat, grid_code)
    props = {
        "category": r.category, "subcategory": r.subcategory, "status": r.status.value,
        "reported_at": r.reported_at.isoformat(), "due_at": _iso(r.due_at), "resolved_at": _iso(r.resolved_at),
        "closed_at": _iso(r.closed_at), "grid_code": grid_code,
        "overdue": r.status in OPEN_STATUSES and r.due_at is not None and r.due_at < now,
    }
    if hide:
        props["location_precision_m"] = PUBLIC_PRECISION_M
    if personal:  # the full record, for the roles that may read it
        props.update(source=r.source.value, description=r.description, generation=r.generation_id,
                     match=r.match_kind.value if r.match_kind else None, dispatched_at=_iso(r.dispatched_at),
                     escalation_level=r.escalation_level, assigned_worker_id=r.assigned_worker_id,
                     rating=r.rating, reporter_name=r.reporter_name, reporter_phone=r.reporter_phone)
    return ReportFeature(r.id, r.reported_at, lon, lat, props)


def _iso(v: datetime | None) -> str | None:
    return v.isoformat() if v is not None else None


def report_features(
    session: Session, *, filters: ReportFilter, viewer: Principal, now: datetime, limit: int,
    after: tuple[datetime, uuid.UUID] | None = None, report_id: uuid.UUID | None = None,
) -> tuple[list[ReportFeature], int | None]:
    """One page of reports matching ``filters`` (newest first, ties by id; ``after`` pages by
    key) as ``viewer`` may see them, and the number matched when at most ``COUNT_CAP`` (else
    None). ``report_id`` selects that one report (still through the filters)."""
    conds = filters.conditions(now)
    if report_id is not None:
        conds.append(Report.id == report_id)
    total = count_matched(session, conds)
    page = []
    if after is not None:
        at, rid = after
        page.append(sa.or_(Report.reported_at < at, sa.and_(Report.reported_at == at, Report.id > rid)))
    rows = session.execute(
        sa.select(*_COLUMNS).where(*conds, *page).order_by(Report.reported_at.desc(), Report.id).limit(limit)
    ).all()
    return [_record(r, viewer, now) for r in rows], total


def reported_range(session: Session) -> tuple[datetime | None, datetime | None]:
    """The first and last ``reported_at`` of all reports (the temporal extent; index-only)."""
    return tuple(session.execute(sa.select(sa.func.min(Report.reported_at), sa.func.max(Report.reported_at))).one())
