"""The duplicate candidates of a stored case: what a dispatcher may mark it a duplicate of.

Two sources, one rule: the suggestions intake answered with when the case was filed
(``reports.suggested_duplicates``) and the same probe run again now
(``geo.reports.store.duplicates_near_stored``: open reports of the case's category within
``duplicate_radius_m``), since cases filed after this one are candidates too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from geoalchemy2.shape import to_shape
from sqlalchemy.orm import Session

from geo.cityconfig import CityConfig
from geo.models import Report, ReportStatus
from geo.reports.store import duplicates_near_stored
from geo.spatial import GEOGRAPHY, point

MAX_HOPS = 5  # a suggestion since marked a duplicate is replaced by its original, this many links deep


@dataclass(frozen=True, slots=True)
class DuplicateCandidate:
    """One report the case could be a duplicate of, ``distance_m`` metres (on PostGIS's
    sphere) from it; ``suggested``: intake listed it when the case was filed; ``nearby``: the
    probe finds it now; ``instead_of``: the suggestion it stands for, which has itself been
    marked a duplicate of this one since."""

    report: Report
    lon: float
    lat: float
    distance_m: float
    suggested: bool
    nearby: bool
    instead_of: uuid.UUID | None = None


def _originals(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """Each id's report as a possible original: itself, or for a report marked a duplicate the
    report it duplicates (followed up to MAX_HOPS links). Ids of unknown reports are left out."""
    out: dict[uuid.UUID, uuid.UUID] = {}
    current = {i: i for i in ids}
    for _ in range(MAX_HOPS):
        if not current:
            break
        rows = session.execute(sa.select(Report.id, Report.status, Report.duplicate_of)
                               .where(Report.id.in_(set(current.values())))).all()
        found = {r.id: r for r in rows}
        nxt = {}
        for start, at in current.items():
            row = found.get(at)
            if row is None:
                continue
            if row.status == ReportStatus.duplicate and row.duplicate_of is not None:
                nxt[start] = row.duplicate_of
            else:
                out[start] = at
        current = nxt
    return out


def duplicate_candidates(session: Session, *, report: Report, config: CityConfig) -> list[DuplicateCandidate]:
    """The reports ``report`` could be marked a duplicate of, nearest first: intake's stored
    suggestions (a suggestion marked a duplicate since stands as its original) and the open
    reports of its category within ``config.duplicate_radius_m`` reported no earlier than
    ``config.duplicate_window_days`` before it, the report itself and anything that already
    duplicates it left out."""
    pt = to_shape(report.location)
    since = report.reported_at - timedelta(days=config.duplicate_window_days)
    nearby = {dup for dup, _ in duplicates_near_stored(
        session, report_id=report.id, category=report.category, lon=pt.x, lat=pt.y, since=since, config=config)}
    suggested = set(report.suggested_duplicates or [])
    originals = _originals(session, suggested | nearby)
    picked: dict[uuid.UUID, uuid.UUID | None] = {}  # candidate -> the suggestion it stands for
    for start, original in originals.items():
        if original == report.id:
            continue
        if original not in picked or picked[original] is not None:
            picked[original] = None if original == start else start
    if not picked:
        return []
    here = sa.cast(point(pt.x, pt.y), GEOGRAPHY)
    rows = session.execute(
        sa.select(Report, sa.func.ST_X(Report.location), sa.func.ST_Y(Report.location),
                  sa.func.ST_Distance(sa.cast(Report.location, GEOGRAPHY), here, False))
        .where(Report.id.in_(set(picked)))
    ).all()
    out = [DuplicateCandidate(report=r, lon=x, lat=y, distance_m=float(m),
                              suggested=r.id in suggested or picked[r.id] is not None, nearby=r.id in nearby,
                              instead_of=picked[r.id])
           for r, x, y, m in rows]
    return sorted(out, key=lambda c: (c.distance_m, str(c.report.id)))
