"""Planning an intake pass: what each new report becomes, decided before anything is written.

Pure: given the accepted reports and their ``Placement`` (where the matching rule put them,
who answers in each grid, the city's escalation contact: what ``geo.reports.registration``
reads from the database first), ``plan_reports`` returns the rows to store, their first
trail events and each item's outcome. Registration then writes the plan
(``geo.reports.store``) and settles replays and refusals.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from geo.access.privacy import public_cells
from geo.cityconfig import CityConfig
from geo.matching.cells import cells_of_points
from geo.matching.rule import PointMatches
from geo.models import MatchKind, ReportStatus
from geo.reports.intake import ReportInput
from geo.reports.outcomes import BatchOutcome, Outcome
from geo.reports.routing import MAX_ESCALATION, Responsible
from geo.reports.store import ReportRow
from geo.reports.trail import TrailEvent


@dataclass(frozen=True, slots=True)
class Accepted:
    """A submitted report that passed the input rules, at its WGS-84 point (degrees)."""

    index: int  # its place in the request
    item: ReportInput
    crs: str  # the crs its coordinates were given in, as understood
    id: uuid.UUID  # its own id, or a new one
    fingerprint: str  # the request hash a retry must match
    lon: float
    lat: float


@dataclass(frozen=True, slots=True)
class Placement:
    """What planning needs from the database: the matches of the reports (in their order) in
    ``generation``, the worker who gets a new case in each grid matched, and the city's
    contact an unassigned report escalates to (None when no report is unassigned)."""

    generation: int
    matches: PointMatches
    workers: dict[str, Responsible | None]
    city: str | None


@dataclass(frozen=True, slots=True)
class Plan:
    """The rows to insert, their first trail events (in order) and an outcome per report."""

    rows: list[ReportRow]
    events: list[TrailEvent]
    outcomes: list[BatchOutcome]


def plan_reports(reports: list[Accepted], *, placement: Placement, config: CityConfig, now: datetime) -> Plan:
    """Each new report as stored: its grid and match, status (dispatched when a worker answers
    in its grid), due time from the category's limit, the city escalation of an unassigned
    one, its H3 and public cells; and its register / dispatch / escalate events."""
    if not reports:
        return Plan([], [], [])
    lon = np.fromiter((r.lon for r in reports), float, len(reports))
    lat = np.fromiter((r.lat for r in reports), float, len(reports))
    cells = cells_of_points(lon, lat).tolist()
    shown = public_cells(lon, lat, [r.item.category for r in reports])
    m, generation, city = placement.matches, placement.generation, placement.city
    snaps = m.snap_distances  # a property: built once, not per report
    rows, events, outcomes = [], [], []
    for j, r in enumerate(reports):
        item, code, kind, snap = r.item, m.codes[j], m.kinds[j], snaps[j]
        worker = placement.workers.get(code) if code else None
        unassigned = kind == MatchKind.unassigned.value
        level = MAX_ESCALATION if unassigned else 0
        status = ReportStatus.dispatched if worker is not None else ReportStatus.registered
        due = config.deadline(now, config.time_limit_h(item.category, item.subcategory))
        gen = generation if code else None
        rows.append(ReportRow(
            id=r.id, category=item.category, subcategory=item.subcategory, description=item.description,
            source=item.source.value, h3_cell=cells[j], public_cell=shown[j], orig_x=item.x, orig_y=item.y,
            orig_crs=r.crs, accuracy_m=item.accuracy_m, reported_at=item.reported_at, status=status.value,
            grid_code=code, generation_id=gen, match_kind=kind, snap_distance_m=snap,
            assigned_worker_id=worker.id if worker else None, dispatched_at=now if worker else None, due_at=due,
            escalation_level=level, escalated_to=city if unassigned else None, reporter_name=item.reporter_name,
            reporter_phone=item.reporter_phone, photos=list(item.photos), request_hash=r.fingerprint,
            filed_by=item.filed_by, suggested_duplicates=None, created_at=now, updated_at=now, lon=r.lon, lat=r.lat,
        ))
        events.append(TrailEvent(r.id, "register", item.source.value, None, ReportStatus.registered.value,
                                 {"match": kind, "grid_code": code, "generation": generation, "crs": r.crs,
                                  "distance_m": m.distances[j]}))
        if worker is not None:
            events.append(TrailEvent(r.id, "dispatch", "system", ReportStatus.registered.value, status.value,
                                     {"worker_id": worker.id, "due_at": due.isoformat()}))
        elif unassigned:
            events.append(TrailEvent(r.id, "escalate", "system", None, None, {"level": MAX_ESCALATION, "to": city}))
        outcomes.append(BatchOutcome(
            index=r.index, kind=Outcome.created, report_id=r.id, grid_code=code, generation=gen, match=kind,
            distance_m=snap, worker=worker, report_status=status.value, due_at=due, escalation_level=level,
            filed_by=item.filed_by,
        ))
    return Plan(rows, events, outcomes)
