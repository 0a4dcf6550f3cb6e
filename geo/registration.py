"""Registering reports: match each to one grid and worker, store, dispatch, suggest duplicates.

One vectorised path serves a single report and a batch of 10,000 alike: coordinates are
converted per crs in numpy, points matched by the in-memory ``GridMatcher`` (exactly
``ST_Covers`` + smallest code; snapping and the unassigned queue through PostGIS), workers
chosen in one query, rows written with COPY and inserted with ``ON CONFLICT (id) DO NOTHING``,
so a retry, even a concurrent one, returns the original and never creates a second report.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

import numpy as np
import orjson
import shapely
import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.bulk_match import GridMatcher
from geo.cityconfig import CityConfig
from geo.coords import check_lon_lat, to_wgs84
from geo.errors import GridmapError, InvalidInput
from geo.generations import active_generation_id
from geo.intake import IdempotencyConflict, ReportInput, validate_fields
from geo.matching import match_location
from geo.models import OPEN_STATUSES, Generation, MatchKind, Report, ReportStatus, Worker
from geo.routing import MAX_ESCALATION, escalation_code, responsible_workers

MAX_BATCH = 10_000


@dataclass
class BatchOutcome:
    """One item's answer: ``status`` is what a single POST would have returned."""

    index: int
    status: int
    report_id: uuid.UUID | None = None
    grid_code: str | None = None
    generation: int | None = None
    match: str | None = None
    distance_m: float | None = None
    worker: Worker | None = None
    report_status: str | None = None
    due_at: datetime | None = None
    escalation_level: int = 0
    possible_duplicates: list[uuid.UUID] = field(default_factory=list)
    error: GridmapError | None = None

    @property
    def created(self) -> bool:
        return self.status == 201


_ACTIVE_MATCHERS: dict[tuple, GridMatcher] = {}
_ACTIVE_LOCK = threading.Lock()


def matcher_for_active(session: Session, *, generation: int) -> GridMatcher:
    """The matcher of the *active* generation, built once per process.

    Under the generation model the grids valid in an activated generation never change (new
    boundaries go into a new draft; carrying forward only touches ``generation_high``), so
    the generation (with its activation time, in case a reload restarted the ids) is a safe
    key and every pass skips the heavier freshness query.
    """
    activated = session.scalar(sa.select(Generation.activated_at).where(Generation.id == generation))
    key = (session.connection().engine.url.render_as_string(hide_password=True), generation, activated)
    matcher = _ACTIVE_MATCHERS.get(key)
    if matcher is None:
        with _ACTIVE_LOCK:
            matcher = _ACTIVE_MATCHERS.get(key) or GridMatcher.from_session(session, generation=generation)
            _ACTIVE_MATCHERS.clear()  # an older generation is never active again
            _ACTIVE_MATCHERS[key] = matcher
    return matcher


def _json(value) -> str:
    # orjson: these run several times per report, and json.dumps was a tenth of a batch's time.
    return orjson.dumps(value).decode()


@lru_cache(maxsize=2)
def _tree(matcher: GridMatcher) -> shapely.STRtree:
    """All grids of a matcher in an STRtree, to count the grids covering a boundary point."""
    return shapely.STRtree(matcher.geoms)


def _convert(items: list[ReportInput], crs: list[str]) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.empty(len(items)), np.empty(len(items))
    crs_arr = np.asarray(crs)
    xs, ys = np.array([i.x for i in items], dtype=float), np.array([i.y for i in items], dtype=float)
    for name in set(crs):
        sel = crs_arr == name
        lon[sel], lat[sel] = to_wgs84(xs[sel], ys[sel], name)
    return lon, lat


def submit_batch(
    session: Session, *, items: list[tuple[int, ReportInput]], config: CityConfig, now: datetime,
    duplicates: bool = True,
) -> list[BatchOutcome]:
    """Register many reports; ``items`` are (index in the request, parsed report) pairs.

    Returns one outcome per item (201 created, 200 replayed, 409 id conflict, 422 invalid).
    With ``duplicates`` each new report lists open same-category reports nearby (costs
    ~0.1–0.4 ms a report in dense areas; bulk imports may skip it). Commits nothing: the
    caller owns the transaction.
    """
    if len(items) > MAX_BATCH:
        raise InvalidInput(f"at most {MAX_BATCH} reports per batch", field="reports")
    outcomes: dict[int, BatchOutcome] = {}
    valid: list[tuple[int, ReportInput, str, uuid.UUID, str]] = []
    for index, item in items:
        try:
            crs = validate_fields(item, config=config, now=now)
        except GridmapError as exc:
            outcomes[index] = BatchOutcome(index=index, status=422, error=exc)
            continue
        valid.append((index, item, crs, item.id or uuid.uuid4(), item.fingerprint()))

    lon, lat = _convert([v[1] for v in valid], [v[2] for v in valid])
    keep = []
    for k, (index, item, crs, _rid, _fp) in enumerate(valid):
        try:
            if crs.startswith("EPSG:"):
                check_lon_lat(float(lon[k]), float(lat[k]), prefix="location.")
            keep.append(k)
        except GridmapError as exc:
            outcomes[index] = BatchOutcome(index=index, status=422, error=exc)
    valid = [valid[k] for k in keep]
    lon, lat = lon[keep], lat[keep]

    # Ids already stored, or repeated inside this batch, are replays (same body) or conflicts.
    stored_ids = set(session.scalars(sa.select(Report.id).where(Report.id.in_([v[3] for v in valid])))) if valid else set()
    first_seen: dict[uuid.UUID, int] = {}
    fresh: list[int] = []
    later: list[int] = []
    for k, (_index, _item, _crs, rid, _fp) in enumerate(valid):
        if rid in stored_ids:
            later.append(k)
        elif rid in first_seen:
            later.append(k)
        else:
            first_seen[rid] = k
            fresh.append(k)

    generation = active_generation_id(session)
    rows, events = _plan_rows(session, valid, fresh, lon, lat, generation=generation, config=config, now=now,
                              outcomes=outcomes)
    inserted = _write(session, rows, events)
    if inserted and duplicates:
        dups = _duplicates(session, inserted, config=config, now=now)
        for outcome in outcomes.values():
            if outcome.status == 201 and outcome.report_id in dups:
                outcome.possible_duplicates = dups[outcome.report_id]
    for k in fresh:
        index, _item, _crs, rid, _fp = valid[k]
        if rid not in inserted:  # a concurrent request inserted this id first
            later.append(k)
            outcomes.pop(index, None)
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
            outcomes[index] = BatchOutcome(index=index, status=409, report_id=rid, error=IdempotencyConflict(
                "this report id was already used with a different body", report_id=str(rid)))
        else:
            outcomes[index] = _replayed(index, report, replay_workers.get(report.assigned_worker_id))
    return [outcomes[i] for i in sorted(outcomes)]


def _replayed(index: int, r: Report, worker: Worker | None) -> BatchOutcome:
    return BatchOutcome(
        index=index, status=200, report_id=r.id, grid_code=r.grid_code, generation=r.generation_id,
        match=r.match_kind.value if r.match_kind else None, distance_m=r.snap_distance_m,
        worker=worker, report_status=r.status.value, due_at=r.due_at,
        escalation_level=r.escalation_level,
    )


def _match(session: Session, lon: np.ndarray, lat: np.ndarray, *, generation: int, config: CityConfig):
    """Codes, match kinds and snap distances for WGS-84 points (vectorised, exact)."""
    matcher = matcher_for_active(session, generation=generation)
    tree = _tree(matcher)
    idx = matcher.match_indices(lon, lat)
    codes = np.where(idx >= 0, matcher.codes[np.maximum(idx, 0)], None)
    kinds = np.where(idx >= 0, MatchKind.inside.value, MatchKind.unassigned.value).astype(object)
    distances: list[float | None] = [None] * len(lon)
    hit = np.flatnonzero(idx >= 0)
    if hit.size:
        # On a boundary several grids may cover the point: those are `edge` matches.
        points = shapely.points(lon[hit], lat[hit])
        on_edge = hit[shapely.touches(matcher.geoms[idx[hit]], points)]
        if on_edge.size:
            pt_i, _ = tree.query(shapely.points(lon[on_edge], lat[on_edge]), predicate="intersects")
            counts = np.bincount(pt_i, minlength=on_edge.size)
            kinds[on_edge[counts > 1]] = MatchKind.edge.value
    for k in np.flatnonzero(idx < 0):
        outcome = match_location(session, lon=float(lon[k]), lat=float(lat[k]), generation=generation,
                                 snap_tolerance_m=config.snap_tolerance_m)
        codes[k], kinds[k], distances[k] = outcome.grid_code, outcome.kind.value, outcome.distance_m
    return codes, kinds, distances


def _plan_rows(session, valid, fresh, lon, lat, *, generation, config, now, outcomes):
    if not fresh:
        return [], []
    sel = np.asarray(fresh)
    codes, kinds, distances = _match(session, lon[sel], lat[sel], generation=generation, config=config)
    workers = responsible_workers(session, grid_codes=[c for c in codes if c])
    city = (escalation_code(session, grid_code=None, level=MAX_ESCALATION, generation=generation)
            if (kinds == MatchKind.unassigned.value).any() else None)
    rows, events = [], []
    for j, k in enumerate(fresh):
        index, item, crs, rid, fp = valid[k]
        code, kind = codes[j], kinds[j]
        worker = workers.get(code) if code else None
        unassigned = kind == MatchKind.unassigned.value
        status = ReportStatus.dispatched if worker is not None else ReportStatus.registered
        due = config.deadline(now, config.time_limit_h(item.category, item.subcategory))
        snap = distances[j] if kind == MatchKind.snapped.value else None
        rows.append({
            "id": rid, "category": item.category, "subcategory": item.subcategory, "description": item.description,
            "source": item.source.value, "location": f"SRID=4326;POINT({float(lon[k])!r} {float(lat[k])!r})",
            "orig_x": item.x, "orig_y": item.y, "orig_crs": crs, "accuracy_m": item.accuracy_m,
            "reported_at": item.reported_at, "status": status.value, "grid_code": code,
            "generation_id": generation if code else None, "match_kind": kind, "snap_distance_m": snap,
            "assigned_worker_id": worker.id if worker else None, "dispatched_at": now if worker else None,
            "due_at": due, "escalation_level": MAX_ESCALATION if unassigned else 0,
            "escalated_to": city if unassigned else None, "reporter_name": item.reporter_name,
            "reporter_phone": item.reporter_phone, "photos": _json(list(item.photos)),
            "request_hash": fp, "created_at": now, "updated_at": now,
        })
        events.append((rid, now, "register", item.source.value, None, ReportStatus.registered.value,
                       _json({"match": kind, "grid_code": code, "generation": generation, "crs": crs,
                                   "distance_m": distances[j]})))
        if worker is not None:
            events.append((rid, now, "dispatch", "system", ReportStatus.registered.value, status.value,
                           _json({"worker_id": worker.id, "due_at": due.isoformat()})))
        elif unassigned:
            events.append((rid, now, "escalate", "system", None, None,
                           _json({"level": MAX_ESCALATION, "to": city})))
        outcomes[index] = BatchOutcome(
            index=index, status=201, report_id=rid, grid_code=code, generation=generation if code else None,
            match=kind, distance_m=snap, worker=worker, report_status=status.value,
            due_at=due, escalation_level=MAX_ESCALATION if unassigned else 0,
        )
    return rows, events


_REPORT_COLUMNS = (
    "id", "category", "subcategory", "description", "source", "location", "orig_x", "orig_y", "orig_crs",
    "accuracy_m", "reported_at", "status", "grid_code", "generation_id", "match_kind", "snap_distance_m",
    "assigned_worker_id", "dispatched_at", "due_at", "escalation_level", "escalated_to", "reporter_name",
    "reporter_phone", "photos", "request_hash", "created_at", "updated_at",
)
_EVENT_COLUMNS = ("report_id", "at", "action", "actor", "from_status", "to_status", "data")


def _write(session: Session, rows: list[dict], events: list[tuple]) -> set[uuid.UUID]:
    """COPY the rows into a temporary table, insert the ones whose id is new, then their events.

    Returns the ids actually inserted. Column lists are constants of this module, never data.
    """
    if not rows:
        return set()
    conn = session.connection()
    cols = ", ".join(_REPORT_COLUMNS)
    # Per session; ON COMMIT DELETE ROWS empties it after every transaction. (Not remembered
    # per connection: a rolled-back transaction takes the CREATE with it.)
    conn.exec_driver_sql(
        "CREATE TEMP TABLE IF NOT EXISTS batch_reports (LIKE reports INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY batch_reports ({cols}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[c] for c in _REPORT_COLUMNS])
    inserted = {r[0] for r in conn.exec_driver_sql(
        f"INSERT INTO reports ({cols}) SELECT {cols} FROM batch_reports ORDER BY id "
        # Inserting in id order makes concurrent passes lock the same ids in the same order,
        # so two passes holding the same retried ids wait for each other instead of deadlocking.
        "ON CONFLICT (id) DO NOTHING RETURNING id"
    )}
    with cursor.copy(f"COPY report_events ({', '.join(_EVENT_COLUMNS)}) FROM STDIN") as copy:
        for event in events:
            if event[0] in inserted:
                copy.write_row(event)
    return inserted


MAX_DUPLICATES_LISTED = 10
_BATCH = sa.table("batch_reports", sa.column("id"), sa.column("category"), sa.column("location"))


def _duplicates(session: Session, ids: set[uuid.UUID], *, config: CityConfig, now: datetime) -> dict[uuid.UUID, list[uuid.UUID]]:
    """For each new report: open reports of its category within the radius and window, nearest first."""
    from geoalchemy2 import Geography

    geog = Geography(srid=4326)
    new = _BATCH
    # Index order (planar <->) stops the scan after the nearest few; exact geodesic test as a filter.
    near = Report.location.op("<->")(new.c.location)
    candidates = (
        sa.select(Report.id.label("dup"), near.label("d"))
        .where(
            Report.status.in_(OPEN_STATUSES),
            Report.category == new.c.category,
            Report.id != new.c.id,
            Report.reported_at >= now - timedelta(days=config.duplicate_window_days),
            # A degree box (≥ the radius below 60° latitude) lets the partial GiST index cut first.
            sa.func.ST_DWithin(Report.location, new.c.location, config.duplicate_radius_m / 111_320 * 2),
            # On the sphere: a third of the spheroid's cost, and centimetres apart at 250 m.
            sa.func.ST_DWithin(sa.cast(Report.location, geog), sa.cast(new.c.location, geog),
                               config.duplicate_radius_m, False),
        )
        .order_by(near)
        .limit(MAX_DUPLICATES_LISTED)
        .lateral("near")
    )
    rows = session.execute(
        sa.select(new.c.id, candidates.c.dup)
        .select_from(new.join(candidates, sa.true()))
        .where(new.c.id.in_(ids))
        .order_by(new.c.id, candidates.c.d)
    ).all()
    found: dict[uuid.UUID, list[uuid.UUID]] = {}
    for rid, dup in rows:
        found.setdefault(rid, []).append(dup)
    return found


def submit_report(session: Session, *, item: ReportInput, config: CityConfig, now: datetime) -> BatchOutcome:
    """Register one report (a batch of one). Returns the outcome (201 created or 200 replayed).

    Raises InvalidInput (422), IdempotencyConflict (409) or NoActiveGeneration.
    """
    (outcome,) = submit_batch(session, items=[(0, item)], config=config, now=now)
    if outcome.error is not None:
        raise outcome.error
    return outcome
