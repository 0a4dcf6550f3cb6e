"""Registering reports: match each to one grid and worker, store, dispatch, suggest duplicates.

One vectorised path serves a single report and a batch of 10,000 alike, in three steps:
accept (input rules, coordinates converted per crs in numpy), place (the matching rule of
``geo.matching.rule`` over the in-memory ``GridMatcher``, PostGIS only for the points no grid
covers; workers chosen in one query), then the pure plan of ``geo.reports.planning`` is
written in one statement with ``ON CONFLICT (id) DO NOTHING``
(``geo.reports.store``), so a retry, even a concurrent one, returns the original and never
creates a second report.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.cityconfig import CityConfig
from geo.errors import GridmapError, IdempotencyConflict, InvalidInput, StoreFailed
from geo.matching.coords import check_lon_lat, to_wgs84, unprojectable
from geo.boundaries.generations import hold_intake_lock
from geo.matching.matcher import GridMatcher, matcher_for
from geo.matching.rule import database_fallback, match_points
from geo.models import MatchKind, Report, Worker
from geo.reports.intake import ReportInput, validate_fields
from geo.reports.outcomes import BatchOutcome, Outcome
from geo.reports.planning import Accepted, Placement, plan_reports
from geo.reports.routing import MAX_ESCALATION, Responsible, escalation_code, responsible_workers
from geo.reports.store import ReportRow, forget_suggestions, possible_duplicates, write_reports
from geo.reports.trail import TrailEvent
from geo.rosters.rules import DutyClock

MAX_BATCH = 10_000
# What a reused id with another body is told, by intake and by the bulk import alike.
REUSED_ID = "this report id was already used with a different body"
log = logging.getLogger("gridmap.intake")


def _convert(items: list[tuple[int, ReportInput, str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """WGS-84 lon, lat (degrees) of (index, report, crs) items, converted per crs in numpy, and
    per item whether projected (EPSG) input has no WGS-84 position (geo.matching.coords)."""
    lon, lat, bad = np.empty(len(items)), np.empty(len(items)), np.zeros(len(items), dtype=bool)
    crs_arr = np.asarray([c for _i, _item, c in items], dtype=object)
    xs = np.array([i.x for _k, i, _c in items], dtype=float)
    ys = np.array([i.y for _k, i, _c in items], dtype=float)
    for name in set(crs_arr):
        sel = crs_arr == name
        lon[sel], lat[sel] = to_wgs84(xs[sel], ys[sel], name)
        if name.startswith("EPSG:"):
            bad[sel] = unprojectable(xs[sel], ys[sel], lon[sel], lat[sel], name)
    return lon, lat, bad


def _accept(
    items: list[tuple[int, ReportInput]], *, config: CityConfig, now: datetime, earliest: datetime | None,
    outcomes: dict[int, BatchOutcome],
) -> list[Accepted]:
    """The items that pass the input rules, at their WGS-84 point; the others get an
    ``invalid`` outcome naming the field."""
    valid: list[tuple[int, ReportInput, str]] = []
    for index, item in items:
        try:
            valid.append((index, item, validate_fields(item, config=config, now=now, earliest=earliest)))
        except GridmapError as exc:
            outcomes[index] = BatchOutcome(index=index, kind=Outcome.invalid, error=exc)
    lon, lat, bad = _convert(valid)
    accepted = []
    for k, (index, item, crs) in enumerate(valid):
        try:
            # Every converted point is checked, not only projected input: a conversion may
            # return what the input was not (PROJ clamps, the GCJ inverse may not converge).
            check_lon_lat(float(lon[k]), float(lat[k]), prefix="location.")
            if bad[k]:
                raise InvalidInput(f"({item.x}, {item.y}) lies outside what {crs} can express", field="location.lon")
        except GridmapError as exc:
            outcomes[index] = BatchOutcome(index=index, kind=Outcome.invalid, error=exc)
            continue
        accepted.append(Accepted(index, item, crs, item.id or uuid.uuid4(), item.fingerprint(),
                                 float(lon[k]), float(lat[k])))
    return accepted


def _place(session: Session, reports: list[Accepted], *, generation: int, matcher: GridMatcher,
           config: CityConfig, now: datetime) -> Placement:
    """The database reads a plan needs: the rule's matches (PostGIS for the points no grid
    covers), the responsible workers of the grids matched (duty by the roster at ``now``),
    the city contact if needed."""
    lon = np.fromiter((r.lon for r in reports), float, len(reports))
    lat = np.fromiter((r.lat for r in reports), float, len(reports))
    matches = match_points(matcher, lon, lat, fallback=database_fallback(
        session, generation=generation, snap_tolerance_m=config.snap_tolerance_m))
    workers = responsible_workers(session, grid_codes=[c for c in matches.codes if c],
                                  clock=DutyClock.of(now, config.tz))
    city = (escalation_code(session, grid_code=None, level=MAX_ESCALATION, generation=generation)
            if (matches.kinds == MatchKind.unassigned.value).any() else None)
    return Placement(generation, matches, workers, city)


class WriteRefused(Exception):
    """An unisolated pass's write was refused by the database (``submit_batch`` with
    ``isolated=False``): the transaction is spoilt, so the caller rolls it back and runs the
    same items again isolated, where the refused rows are found and fail alone."""


def submit_batch(
    session: Session, *, items: list[tuple[int, ReportInput]], config: CityConfig, now: datetime,
    duplicates: bool = True, earliest: datetime | None = None, isolated: bool = True,
) -> list[BatchOutcome]:
    """Register many reports; ``items`` are (index in the request, parsed report) pairs.

    Returns one outcome per item (created, replayed, conflict on its id, invalid, not stored).
    With ``duplicates`` each new report lists open same-category reports nearby (costs
    ~0.1–0.4 ms a report in dense areas; bulk imports may skip it). ``earliest`` overrides
    the city's earliest report date (historical imports). Commits nothing: the caller owns
    the transaction. One item the database still refuses fails alone (``StoreFailed``).
    ``isolated=False`` (a caller that owns the whole transaction, the intake batcher) writes
    without the savepoint, two round trips fewer; a refusal then raises ``WriteRefused``.
    """
    if len(items) > MAX_BATCH:
        raise InvalidInput(f"at most {MAX_BATCH} reports per batch", field="reports")
    outcomes: dict[int, BatchOutcome] = {}
    accepted = _accept(items, config=config, now=now, earliest=earliest, outcomes=outcomes)

    # An id repeated inside this batch is a replay (same body) or a conflict of its first use;
    # an id stored before is found by the insert itself (ON CONFLICT), no query up front.
    first_seen: set[uuid.UUID] = set()
    fresh: list[Accepted] = []
    later: list[Accepted] = []
    for r in accepted:
        (later if r.id in first_seen else fresh).append(r)
        first_seen.add(r.id)

    rows: list[ReportRow] = []
    events: list[TrailEvent] = []
    if fresh:
        hold_intake_lock(session)
        generation, matcher = matcher_for(session)
        plan = plan_reports(fresh, placement=_place(session, fresh, generation=generation, matcher=matcher,
                                                    config=config, now=now), config=config, now=now)
        rows, events = plan.rows, plan.events
        outcomes.update((o.index, o) for o in plan.outcomes)
    if duplicates and rows:
        # Found before writing and stored with each report: a replay answers the same list.
        dups = possible_duplicates(session, rows, config=config, now=now)
        for row in rows:
            row.suggested_duplicates = dups.get(row.id, [])
        for outcome in outcomes.values():
            if outcome.created:
                outcome.possible_duplicates = dups.get(outcome.report_id, [])
    inserted, refused = _write_isolating(session, rows, events) if isolated else (_write_all(session, rows, events), set())
    if refused and duplicates:
        forget_suggestions(session, [r for r in rows if r.id in inserted], refused)
        for outcome in outcomes.values():
            if outcome.created:
                outcome.possible_duplicates = [d for d in outcome.possible_duplicates if d not in refused]
    for r in fresh:
        if r.id in refused:
            outcomes[r.index] = _refused(r.index, r.id)
        elif r.id not in inserted:  # a concurrent request inserted this id first
            later.append(r)
            outcomes.pop(r.index, None)
    for r in later:
        if r.id in refused:  # a repeat of a refused id fails the same way
            outcomes[r.index] = _refused(r.index, r.id)
    later = [r for r in later if r.id not in refused]
    stored: dict[uuid.UUID, Report] = {}
    if later:
        stored.update({r.id: r for r in session.scalars(
            sa.select(Report).where(Report.id.in_([r.id for r in later])).execution_options(populate_existing=True)
        )})
    replay_workers = {w.id: w for w in session.scalars(sa.select(Worker).where(
        Worker.id.in_({stored[r.id].assigned_worker_id for r in later} - {None})))} if later else {}
    for r in later:
        report = stored[r.id]
        if report.request_hash != r.fingerprint:
            outcomes[r.index] = BatchOutcome(index=r.index, kind=Outcome.conflict, report_id=r.id, error=IdempotencyConflict(
                REUSED_ID, report_id=str(r.id)))
        else:
            outcomes[r.index] = _replayed(r.index, report, replay_workers.get(report.assigned_worker_id))
    return [outcomes[i] for i in sorted(outcomes)]


def _refused(index: int, rid: uuid.UUID) -> BatchOutcome:
    return BatchOutcome(index=index, kind=Outcome.not_stored, report_id=rid, error=StoreFailed(
        "this report could not be stored and was not registered (the others were); "
        "please tell the operators its id", report_id=str(rid)))


def _write_all(session: Session, rows: list[ReportRow], events: list[TrailEvent]) -> set[uuid.UUID]:
    """``write_reports`` with no savepoint: the ids inserted, or ``WriteRefused`` when the
    database refuses the statement (what ``_write_isolating`` would have isolated). A lost
    connection or a timeout is not the rows' fault and propagates as it is."""
    try:
        return write_reports(session, rows, events)
    except (sa.exc.DBAPIError, TypeError, ValueError) as exc:
        if _not_the_rows(exc):
            raise
        raise WriteRefused(str(exc)) from exc


def _not_the_rows(exc: Exception) -> bool:
    return isinstance(exc, sa.exc.OperationalError) or getattr(exc, "connection_invalidated", False)


def _write_isolating(session: Session, rows: list[ReportRow], events: list[TrailEvent]) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
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
        if _not_the_rows(exc):
            raise
        if len(rows) == 1:
            log.error("report %s refused by the database; stored without it: %s", rows[0].id, exc)
            return set(), {rows[0].id}
    mid = len(rows) // 2
    ids = [{r.id for r in part} for part in (rows[:mid], rows[mid:])]
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


def submit_report(session: Session, *, item: ReportInput, config: CityConfig, now: datetime) -> BatchOutcome:
    """Register one report (a batch of one). Returns the outcome (201 created or 200 replayed).

    Raises InvalidInput (422), IdempotencyConflict (409) or NoActiveGeneration.
    """
    (outcome,) = submit_batch(session, items=[(0, item)], config=config, now=now)
    if outcome.error is not None:
        raise outcome.error
    return outcome


# The steps of a pass, for the bulk import (geo.reports.bulk), which runs the same rules and
# writes the plan by COPY instead: one definition of each step, two writers.
accept_items = _accept
place_reports = _place
write_isolating = _write_isolating
refused_outcome = _refused
not_the_rows = _not_the_rows
