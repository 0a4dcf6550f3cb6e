"""Batch intake: up to 10,000 reports in one transaction, each answered on its own.

The same rules as ``geo.intake.submit_report``, vectorised: coordinates converted per crs in
numpy, points matched by the in-memory ``GridMatcher`` (exactly ``ST_Covers`` + smallest
code), workers chosen in one query, rows written with COPY and inserted with
``ON CONFLICT (id) DO NOTHING`` so concurrent retries still never duplicate.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import shapely
import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.bulk_match import GridMatcher
from geo.cityconfig import CityConfig
from geo.coords import check_lon_lat, to_wgs84
from geo.errors import GridmapError, InvalidInput
from geo.generations import active_generation_id, valid_in
from geo.intake import IdempotencyConflict, ReportInput, validate_fields
from geo.matching import match_location
from geo.models import Area, AreaLevel, MatchKind, Report, ReportStatus, Worker
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
    error: GridmapError | None = None


class _MatcherCache:
    """One GridMatcher per (generation, grid set): building one takes seconds, using it µs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._matcher: GridMatcher | None = None
        self._tree: shapely.STRtree | None = None

    def get(self, session: Session, generation: int) -> tuple[GridMatcher, shapely.STRtree]:
        signature = session.execute(
            sa.select(sa.func.count(), sa.func.max(Area.id), sa.func.max(Area.generation_high))
            .where(Area.level == AreaLevel.grid, valid_in(Area, generation))
        ).one()
        key = (generation, *signature)
        with self._lock:
            if key != self._key:
                self._matcher = GridMatcher.from_session(session, generation=generation)
                self._tree = shapely.STRtree(self._matcher.geoms)
                self._key = key
            return self._matcher, self._tree


MATCHERS = _MatcherCache()


def _convert(items: list[ReportInput], crs: list[str]) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.empty(len(items)), np.empty(len(items))
    crs_arr = np.asarray(crs)
    xs, ys = np.array([i.x for i in items], dtype=float), np.array([i.y for i in items], dtype=float)
    for name in set(crs):
        sel = crs_arr == name
        lon[sel], lat[sel] = to_wgs84(xs[sel], ys[sel], name)
    return lon, lat


def submit_batch(
    session: Session, *, items: list[tuple[int, ReportInput]], config: CityConfig, now: datetime
) -> list[BatchOutcome]:
    """Register many reports; ``items`` are (index in the request, parsed report) pairs.

    Returns one outcome per item (201 created, 200 replayed, 409 id conflict, 422 invalid).
    Commits nothing: the caller owns the transaction.
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
    stored = {
        r.id: r for r in session.scalars(sa.select(Report).where(Report.id.in_([v[3] for v in valid])))
    } if valid else {}
    first_seen: dict[uuid.UUID, int] = {}
    fresh: list[int] = []
    later: list[int] = []
    for k, (_index, _item, _crs, rid, _fp) in enumerate(valid):
        if rid in stored:
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
    for k in fresh:
        index, _item, _crs, rid, _fp = valid[k]
        if rid not in inserted:  # a concurrent request inserted this id first
            later.append(k)
            outcomes.pop(index, None)
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
    matcher, tree = MATCHERS.get(session, generation)
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
    city = escalation_code(session, grid_code=None, level=MAX_ESCALATION, generation=generation)
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
            "reporter_phone": item.reporter_phone, "photos": json.dumps(list(item.photos)),
            "request_hash": fp, "created_at": now, "updated_at": now,
        })
        events.append((rid, now, "register", item.source.value, None, ReportStatus.registered.value,
                       json.dumps({"match": kind, "grid_code": code, "generation": generation, "crs": crs,
                                   "distance_m": distances[j]})))
        if worker is not None:
            events.append((rid, now, "dispatch", "system", ReportStatus.registered.value, status.value,
                           json.dumps({"worker_id": worker.id, "due_at": due.isoformat()})))
        elif unassigned:
            events.append((rid, now, "escalate", "system", None, None,
                           json.dumps({"level": MAX_ESCALATION, "to": city})))
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
    conn.exec_driver_sql("CREATE TEMP TABLE IF NOT EXISTS batch_reports (LIKE reports INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
    conn.exec_driver_sql("TRUNCATE batch_reports")
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY batch_reports ({cols}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[c] for c in _REPORT_COLUMNS])
    inserted = {r[0] for r in conn.exec_driver_sql(
        f"INSERT INTO reports ({cols}) SELECT {cols} FROM batch_reports ON CONFLICT (id) DO NOTHING RETURNING id"
    )}
    with cursor.copy(f"COPY report_events ({', '.join(_EVENT_COLUMNS)}) FROM STDIN") as copy:
        for event in events:
            if event[0] in inserted:
                copy.write_row(event)
    return inserted
