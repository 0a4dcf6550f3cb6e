"""Registering reports: match each to one grid and worker, store, dispatch, suggest duplicates.

One vectorised path serves a single report and a batch of 10,000 alike: coordinates are
converted per crs in numpy, points matched by the in-memory ``GridMatcher`` (exactly
``ST_Covers`` + smallest code; snapping and the unassigned queue through PostGIS), workers
chosen in one query, rows written in one statement with ``ON CONFLICT (id) DO NOTHING``
(``geo.reports.store``), so a retry, even a concurrent one, returns the original and never
creates a second report.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.access.privacy import public_cells
from geo.cityconfig import CityConfig
from geo.errors import GridmapError, IdempotencyConflict, InvalidInput, StoreFailed
from geo.matching.cells import cells_of_points
from geo.matching.coords import check_lon_lat, to_wgs84, unprojectable
from geo.matching.matcher import matcher_for
from geo.matching.rule import database_fallback, match_points
from geo.models import MatchKind, Report, ReportStatus, Worker
from geo.reports.intake import ReportInput, validate_fields
from geo.reports.routing import MAX_ESCALATION, Responsible, escalation_code, responsible_workers
from geo.reports.store import forget_suggestions, possible_duplicates, write_reports
from geo.reports.trail import TrailEvent

MAX_BATCH = 10_000
log = logging.getLogger("gridmap.intake")


class Outcome(str, Enum):
    """What became of one submitted report (``api.errors`` says what each is in HTTP)."""

    created = "created"  # registered now
    replayed = "replayed"  # this id was registered before, with the same body: the original
    conflict = "conflict"  # this id was registered before with another body
    invalid = "invalid"  # refused by the input rules (``error`` names the field)
    not_stored = "not_stored"  # the database refused it; the others were stored


@dataclass
class BatchOutcome:
    """One item's answer, the same as a single intake of it would have given."""

    index: int
    kind: Outcome
    report_id: uuid.UUID | None = None
    grid_code: str | None = None
    generation: int | None = None
    match: str | None = None
    distance_m: float | None = None
    worker: Responsible | None = None
    report_status: str | None = None
    due_at: datetime | None = None
    escalation_level: int = 0
    possible_duplicates: list[uuid.UUID] = field(default_factory=list)
    error: GridmapError | None = None
    filed_by: str | None = None  # who filed the stored report (a replay may be by someone else)

    @property
    def created(self) -> bool:
        return self.kind == Outcome.created


def _convert(items: list[ReportInput], crs: list[str]) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.empty(len(items)), np.empty(len(items))
    crs_arr = np.asarray(crs)
    xs, ys = np.array([i.x for i in items], dtype=float), np.array([i.y for i in items], dtype=float)
    for name in set(crs):
        sel = crs_arr == name
        lon[sel], lat[sel] = to_wgs84(xs[sel], ys[sel], name)
    return lon, lat


def _unprojectable(valid, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Per item: True where projected (EPSG) input has no WGS-84 position (geo.matching.coords)."""
    bad = np.zeros(len(valid), dtype=bool)
    crs = np.asarray([v[2] for v in valid], dtype=object)
    for name in {c for c in crs if c.startswith("EPSG:")}:
        sel = crs == name
        xs = np.array([v[1].x for v, s in zip(valid, sel) if s], dtype=float)
        ys = np.array([v[1].y for v, s in zip(valid, sel) if s], dtype=float)
        bad[sel] = unprojectable(xs, ys, lon[sel], lat[sel], name)
    return bad


def submit_batch(
    session: Session, *, items: list[tuple[int, ReportInput]], config: CityConfig, now: datetime,
    duplicates: bool = True, earliest: datetime | None = None,
) -> list[BatchOutcome]:
    """Register many reports; ``items`` are (index in the request, parsed report) pairs.

    Returns one outcome per item (created, replayed, conflict on its id, invalid, not stored).
    With ``duplicates`` each new report lists open same-category reports nearby (costs
    ~0.1–0.4 ms a report in dense areas; bulk imports may skip it). ``earliest`` overrides
    the city's earliest report date (historical imports). Commits nothing: the caller owns
    the transaction. One item the database still refuses fails alone (``StoreFailed``).
    """
    if len(items) > MAX_BATCH:
        raise InvalidInput(f"at most {MAX_BATCH} reports per batch", field="reports")
    outcomes: dict[int, BatchOutcome] = {}
    valid: list[tuple[int, ReportInput, str, uuid.UUID, str]] = []
    for index, item in items:
        try:
            crs = validate_fields(item, config=config, now=now, earliest=earliest)
        except GridmapError as exc:
            outcomes[index] = BatchOutcome(index=index, kind=Outcome.invalid, error=exc)
            continue
        valid.append((index, item, crs, item.id or uuid.uuid4(), item.fingerprint()))

    lon, lat = _convert([v[1] for v in valid], [v[2] for v in valid])
    bad = _unprojectable(valid, lon, lat)
    keep = []
    for k, (index, item, crs, _rid, _fp) in enumerate(valid):
        try:
            # Every converted point is checked, not only projected input: a conversion may
            # return what the input was not (PROJ clamps, the GCJ inverse may not converge).
            check_lon_lat(float(lon[k]), float(lat[k]), prefix="location.")
            if bad[k]:
                raise InvalidInput(f"({item.x}, {item.y}) lies outside what {crs} can express", field="location.lon")
            keep.append(k)
        except GridmapError as exc:
            outcomes[index] = BatchOutcome(index=index, kind=Outcome.invalid, error=exc)
    valid = [valid[k] for k in keep]
    lon, lat = lon[keep], lat[keep]

    # An id repeated inside this batch is a replay (same body) or a conflict of its first use;
    # an id stored before is found by the insert itself (ON CONFLICT), no query up front.
    first_seen: set[uuid.UUID] = set()
    fresh: list[int] = []
    later: list[int] = []
    for k, (_index, _item, _crs, rid, _fp) in enumerate(valid):
        if rid in first_seen:
            later.append(k)
        else:
            first_seen.add(rid)
            fresh.append(k)

    generation, matcher = matcher_for(session)
    rows, events = _plan_rows(session, matcher, valid, fresh, lon, lat, generation=generation, config=config,
                              now=now, outcomes=outcomes)
    if duplicates and rows:
        # Found before writing and stored with each report: a replay answers the same list.
        dups = possible_duplicates(session, rows, config=config, now=now)
        for row in rows:
            row["suggested_duplicates"] = dups.get(row["id"], [])
        for outcome in outcomes.values():
            if outcome.created:
                outcome.possible_duplicates = dups.get(outcome.report_id, [])
    inserted, refused = _write_isolating(session, rows, events)
    if refused and duplicates:
        forget_suggestions(session, [r for r in rows if r["id"] in inserted], refused)
        for outcome in outcomes.values():
            if outcome.created:
                outcome.possible_duplicates = [d for d in outcome.possible_duplicates if d not in refused]
    for k in fresh:
        index, _item, _crs, rid, _fp = valid[k]
        if rid in refused:
            outcomes[index] = _refused(index, rid)
    for k in fresh:
        index, _item, _crs, rid, _fp = valid[k]
        if rid not in inserted and rid not in refused:  # a concurrent request inserted this id first
            later.append(k)
            outcomes.pop(index, None)
    for k in [k for k in later if valid[k][3] in refused]:  # a repeat of a refused id fails the same way
        outcomes[valid[k][0]] = _refused(valid[k][0], valid[k][3])
    later = [k for k in later if valid[k][3] not in refused]
    stored: dict[uuid.UUID, Report] = {}
    if later:
        stored.update({r.id: r for r in session.scalars(
            sa.select(Report).where(Report.id.in_([valid[k][3] for k in later])).execution_options(populate_existing=True)
        )})
    replay_workers = {w.id: w for w in session.scalars(sa.select(Worker).where(
        Worker.id.in_({stored[valid[k][3]].assigned_worker_id for k in later} - {None})))} if later else {}
    for k in later:
        index, _item, _crs, rid, fp = valid[k]
        report = stored[rid]
        if report.request_hash != fp:
            outcomes[index] = BatchOutcome(index=index, kind=Outcome.conflict, report_id=rid, error=IdempotencyConflict(
                "this report id was already used with a different body", report_id=str(rid)))
        else:
            outcomes[index] = _replayed(index, report, replay_workers.get(report.assigned_worker_id))
    return [outcomes[i] for i in sorted(outcomes)]


def _refused(index: int, rid: uuid.UUID) -> BatchOutcome:
    return BatchOutcome(index=index, kind=Outcome.not_stored, report_id=rid, error=StoreFailed(
        "this report could not be stored and was not registered (the others were); "
        "please tell the operators its id", report_id=str(rid)))


def _write_isolating(session: Session, rows: list[dict], events: list[TrailEvent]) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """``write_reports`` under a savepoint; if the database refuses the statement, the rows
    are halved and retried until the refused ones stand alone. Returns (ids inserted, ids
    refused). Validation catches everything known to be refused; this is the safety net for
    what it does not know, so one report can never fail its neighbours. A lost connection or
    a timeout is not the rows' fault and propagates."""
    if not rows:
        return set(), set()
    try:
        with session.begin_nested():
            return write_reports(session, rows, events), set()
    except (sa.exc.DBAPIError, TypeError, ValueError) as exc:
        if isinstance(exc, sa.exc.OperationalError) or getattr(exc, "connection_invalidated", False):
            raise
        if len(rows) == 1:
            log.error("report %s refused by the database; stored without it: %s", rows[0]["id"], exc)
            return set(), {rows[0]["id"]}
    mid = len(rows) // 2
    ids = [{r["id"] for r in part} for part in (rows[:mid], rows[mid:])]
    a = _write_isolating(session, rows[:mid], [e for e in events if e.report_id in ids[0]])
    b = _write_isolating(session, rows[mid:], [e for e in events if e.report_id in ids[1]])
    return a[0] | b[0], a[1] | b[1]


def _replayed(index: int, r: Report, worker: Worker | None) -> BatchOutcome:
    return BatchOutcome(
        index=index, kind=Outcome.replayed, report_id=r.id, grid_code=r.grid_code, generation=r.generation_id,
        match=r.match_kind.value if r.match_kind else None, distance_m=r.snap_distance_m,
        worker=Responsible.of(worker) if worker else None, report_status=r.status.value, due_at=r.due_at,
        escalation_level=r.escalation_level, filed_by=r.filed_by,
        possible_duplicates=list(r.suggested_duplicates or []),
    )


def _plan_rows(session, matcher, valid, fresh, lon, lat, *, generation, config, now, outcomes):
    if not fresh:
        return [], []
    sel = np.asarray(fresh)
    matched = match_points(matcher, lon[sel], lat[sel], fallback=database_fallback(
        session, generation=generation, snap_tolerance_m=config.snap_tolerance_m))
    codes, kinds, distances, snaps = matched.codes, matched.kinds, matched.distances, matched.snap_distances
    workers = responsible_workers(session, grid_codes=[c for c in codes if c])
    city = (escalation_code(session, grid_code=None, level=MAX_ESCALATION, generation=generation)
            if (kinds == MatchKind.unassigned.value).any() else None)
    cells = cells_of_points(lon[sel], lat[sel]).tolist()
    shown = public_cells(lon[sel], lat[sel], [valid[k][1].category for k in fresh])
    rows, events = [], []
    for j, k in enumerate(fresh):
        index, item, crs, rid, fp = valid[k]
        code, kind = codes[j], kinds[j]
        worker = workers.get(code) if code else None
        unassigned = kind == MatchKind.unassigned.value
        status = ReportStatus.dispatched if worker is not None else ReportStatus.registered
        due = config.deadline(now, config.time_limit_h(item.category, item.subcategory))
        snap = snaps[j]
        rows.append({
            "id": rid, "category": item.category, "subcategory": item.subcategory, "description": item.description,
            "source": item.source.value, "lon": float(lon[k]), "lat": float(lat[k]), "h3_cell": cells[j],
            "public_cell": shown[j],
            "orig_x": item.x, "orig_y": item.y, "orig_crs": crs, "accuracy_m": item.accuracy_m,
            "reported_at": item.reported_at, "status": status.value, "grid_code": code,
            "generation_id": generation if code else None, "match_kind": kind, "snap_distance_m": snap,
            "assigned_worker_id": worker.id if worker else None, "dispatched_at": now if worker else None,
            "due_at": due, "escalation_level": MAX_ESCALATION if unassigned else 0,
            "escalated_to": city if unassigned else None, "reporter_name": item.reporter_name,
            "reporter_phone": item.reporter_phone, "photos": list(item.photos),
            "request_hash": fp, "filed_by": item.filed_by, "suggested_duplicates": None,
            "created_at": now, "updated_at": now,
        })
        events.append(TrailEvent(rid, "register", item.source.value, None, ReportStatus.registered.value,
                                 {"match": kind, "grid_code": code, "generation": generation, "crs": crs,
                                  "distance_m": distances[j]}))
        if worker is not None:
            events.append(TrailEvent(rid, "dispatch", "system", ReportStatus.registered.value, status.value,
                                     {"worker_id": worker.id, "due_at": due.isoformat()}))
        elif unassigned:
            events.append(TrailEvent(rid, "escalate", "system", None, None, {"level": MAX_ESCALATION, "to": city}))
        outcomes[index] = BatchOutcome(
            index=index, kind=Outcome.created, report_id=rid, grid_code=code, generation=generation if code else None,
            match=kind, distance_m=snap, worker=worker, report_status=status.value,
            due_at=due, escalation_level=MAX_ESCALATION if unassigned else 0, filed_by=item.filed_by,
        )
    return rows, events


def submit_report(session: Session, *, item: ReportInput, config: CityConfig, now: datetime) -> BatchOutcome:
    """Register one report (a batch of one). Returns the outcome (201 created or 200 replayed).

    Raises InvalidInput (422), IdempotencyConflict (409) or NoActiveGeneration.
    """
    (outcome,) = submit_batch(session, items=[(0, item)], config=config, now=now)
    if outcome.error is not None:
        raise outcome.error
    return outcome
