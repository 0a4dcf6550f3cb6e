"""Writing registered reports and probing for duplicates: the SQL of an intake pass.

``geo.reports.registration`` decides what to store; this module stores it in one statement and
finds open look-alikes nearby. Statements are built once (their SQL is constant) and run on
the session's Connection: the ORM layer's per-statement cost bought nothing here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from functools import lru_cache

import numpy as np
import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from geo.cityconfig import CityConfig
from geo.models import OPEN_STATUSES, Report, ReportEvent
from geo.reports.trail import TrailEvent
from geo.spatial import GEOGRAPHY, point
from geo.units import M_PER_DEG_LON_EQ


def _json(value) -> str:
    # orjson (C): a pass's rows are dumped whole, and json.dumps was a tenth of a batch's time.
    return orjson.dumps(value).decode()


@dataclass(slots=True)
class ReportRow:
    """One new report as it is stored: the ``reports`` columns a pass sends, in the table's
    types, plus the WGS-84 point (degrees) the row's ``location`` is built from."""

    id: uuid.UUID
    category: str
    subcategory: str | None
    description: str
    source: str
    h3_cell: int
    public_cell: int | None
    orig_x: float
    orig_y: float
    orig_crs: str
    accuracy_m: float | None
    reported_at: datetime
    status: str
    grid_code: str | None
    generation_id: int | None
    match_kind: str
    snap_distance_m: float | None
    assigned_worker_id: int | None
    dispatched_at: datetime | None
    due_at: datetime
    escalation_level: int
    escalated_to: str | None
    reporter_name: str | None
    reporter_phone: str | None
    photos: list[str]
    request_hash: str
    filed_by: str | None
    suggested_duplicates: list[uuid.UUID] | None
    created_at: datetime
    updated_at: datetime
    lon: float
    lat: float


# Reports and their first trail rows travel as one JSON array each (orjson, in C, dumps the
# dataclasses directly) and are expanded by jsonb_to_recordset: one statement, one round
# trip, however many reports the pass holds. (Arrays per column cost more to dump.) The
# record types are the tables' own column types, so the two cannot drift apart.
_REPORT_COLUMNS = tuple(f.name for f in fields(ReportRow) if f.name not in ("lon", "lat"))
_EVENT_COLUMNS = ("report_id", "action", "actor", "from_status", "to_status", "data")


def _fields(table: sa.Table, names: tuple[str, ...]) -> list[tuple[str, sa.types.TypeEngine]]:
    return [(name, table.c[name].type) for name in names]


# Plus the WGS-84 point as two numbers, and each trail row's place in the pass.
_REPORT_FIELDS = (*_fields(Report.__table__, _REPORT_COLUMNS), ("lon", sa.Float(53)), ("lat", sa.Float(53)))
_EVENT_FIELDS = (*_fields(ReportEvent.__table__, _EVENT_COLUMNS), ("seq", sa.Integer()))


def _recordset(name: str, spec) -> sa.TableValuedAlias:
    records = sa.cast(sa.bindparam(name, type_=sa.Text), JSONB)
    return (sa.func.jsonb_to_recordset(records)
            .table_valued(*(sa.column(n, t) for n, t in spec))
            .render_derived(name=name, with_types=True))


@lru_cache(maxsize=1)
def _insert_statement() -> sa.Select:
    """INSERT the new reports (skipping ids already stored) and the trail rows of the ones
    inserted, in one statement; selects the ids inserted. Built once: its SQL is constant."""
    new = _recordset("reports", _REPORT_FIELDS)
    inserted = (
        pg_insert(Report)
        .from_select([*_REPORT_COLUMNS, "location"],
                     sa.select(*(new.c[n] for n in _REPORT_COLUMNS),
                               point(new.c.lon, new.c.lat))
                     # Id order: concurrent passes holding the same retried ids lock them in the
                     # same order, so they wait for each other instead of deadlocking.
                     .order_by(new.c.id))
        .on_conflict_do_nothing(index_elements=[Report.id])
        .returning(Report.id, Report.created_at)
        .cte("inserted")
    )
    ev = _recordset("events", _EVENT_FIELDS)
    trail = pg_insert(ReportEvent).from_select(
        [*_EVENT_COLUMNS, "at"],
        sa.select(*(ev.c[n] for n in _EVENT_COLUMNS), inserted.c.created_at)
        .select_from(ev.join(inserted, inserted.c.id == ev.c.report_id))
        .order_by(ev.c.seq),  # trail ids follow the order of events: register before dispatch
    ).cte("trail")
    return sa.select(inserted.c.id).add_cte(trail)


def write_reports(session: Session, rows: list[ReportRow], events: list[TrailEvent]) -> set[uuid.UUID]:
    """Insert ``rows`` whose id is new, and the trail
    ``events`` of those (stamped with the report's creation time); returns the ids inserted.
    Commits nothing."""
    if not rows:
        return set()
    trail = [{**{c: getattr(e, c) for c in _EVENT_COLUMNS}, "seq": seq} for seq, e in enumerate(events)]
    # Core execution (not Session.execute): the ORM layer's per-statement cost is for nothing here.
    return set(session.connection().execute(_insert_statement(), {"reports": _json(rows), "events": _json(trail)})
               .scalars())


MAX_DUPLICATES_LISTED = 10


@lru_cache(maxsize=2)
def _duplicates_statement(stored: bool = False) -> sa.Select:
    """Stored open reports of the same category near each point of ``:new`` (see
    ``possible_duplicates``): (id, dup, metres). With ``stored``, also a row (id, NULL, NULL)
    for each id of ``:new`` already stored (a retry), in the same round trip: a pass makes
    fewer trips to the database, which is what its time is made of. Built once: the points,
    window and radii are parameters."""
    geog = GEOGRAPHY
    new = _recordset("new", (("id", UUID(as_uuid=True)), ("category", Report.__table__.c.category.type),
                             ("lon", sa.Float(53)), ("lat", sa.Float(53))))
    pt = point(new.c.lon, new.c.lat)
    # Index order (planar <->) stops the scan after the nearest few; exact geodesic test as a filter.
    near = Report.location.op("<->")(pt)
    candidates = (
        sa.select(Report.id.label("dup"), near.label("d"),
                  sa.func.ST_Distance(sa.cast(Report.location, geog), sa.cast(pt, geog), False).label("m"))
        .where(
            Report.status.in_(OPEN_STATUSES),
            Report.category == new.c.category,
            Report.id != new.c.id,
            Report.reported_at >= sa.bindparam("since", type_=sa.DateTime(timezone=True)),
            # A degree box (≥ the radius below 60° latitude) lets the partial GiST index cut first.
            sa.func.ST_DWithin(Report.location, pt, sa.bindparam("box_deg", type_=sa.Float(53))),
            # On the sphere: a third of the spheroid's cost, and centimetres apart at 250 m.
            sa.func.ST_DWithin(sa.cast(Report.location, geog), sa.cast(pt, geog),
                               sa.bindparam("radius_m", type_=sa.Float(53)), False),
        )
        .order_by(near)
        .limit(MAX_DUPLICATES_LISTED)
        .lateral("near")
    )
    near = sa.select(new.c.id, candidates.c.dup, candidates.c.m).select_from(new.join(candidates, sa.true()))
    if not stored:
        return near.order_by(new.c.id, candidates.c.d)
    retried = (sa.select(new.c.id, sa.null().label("dup"), sa.null().label("m"))
               .where(sa.exists().where(Report.id == new.c.id)))
    return near.union_all(retried)  # (the caller's answer does not depend on the rows' order)


_EARTH_RADIUS_M = 6_371_008.8  # the mean sphere PostGIS's geography uses with use_spheroid=false


def _sphere_m(lon1, lat1, lon2, lat2):
    """Great-circle distance in metres on PostGIS's mean sphere (haversine), vectorised."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    return 2 * _EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


def possible_duplicates(
    session: Session, rows: list[ReportRow], *, config: CityConfig, now: datetime
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """For each new report in ``rows`` (in the order they were filed): the open reports of its category within the
    configured radius (metres) filed in the window (days before ``now``), nearest first, each
    once, at most MAX_DUPLICATES_LISTED. Candidates are the reports already stored and the new
    ones earlier in ``rows`` (a retry of a stored id counts as the stored report, where it
    is): what one-by-one intake would have found. Run before the rows are written, so the
    answer is stored with each report and a replay returns it unchanged."""
    if not rows:
        return {}
    since = now - timedelta(days=config.duplicate_window_days)
    payload = [{"id": r.id, "category": r.category, "lon": r.lon, "lat": r.lat} for r in rows]
    found: dict[uuid.UUID, dict[uuid.UUID, float]] = {}

    def add(rid: uuid.UUID, dup: uuid.UUID, metres: float) -> None:
        near = found.setdefault(rid, {})
        near[dup] = min(metres, near.get(dup, metres))

    several = len(rows) > 1  # then the ids already stored matter too (below)
    stored: set[uuid.UUID] = set()
    for rid, dup, metres in session.connection().execute(_duplicates_statement(several),
                                                         _duplicate_params(payload, config=config, since=since)):
        if dup is None:
            stored.add(rid)
        else:
            add(rid, dup, metres)
    if several:
        new = [r for r in rows if r.id not in stored]
        for later, earlier, metres in _within_pass(new, radius_m=float(config.duplicate_radius_m), since=since):
            add(later, earlier, metres)
    return {rid: sorted(near, key=lambda d: (near[d], d))[:MAX_DUPLICATES_LISTED] for rid, near in found.items()}


def _duplicate_params(payload: list[dict], *, config: CityConfig, since: datetime) -> dict:
    """The parameters of ``_duplicates_statement``: the points, the window's start, the radius."""
    return {"new": _json(payload), "since": since,
            "box_deg": config.duplicate_radius_m / M_PER_DEG_LON_EQ * 2, "radius_m": float(config.duplicate_radius_m)}


def duplicates_near_stored(
    session: Session, *, report_id: uuid.UUID, category: str, lon: float, lat: float, since: datetime,
    config: CityConfig,
) -> list[tuple[uuid.UUID, float]]:
    """Intake's duplicate probe (``possible_duplicates``: open reports of ``category`` within the
    configured radius, reported since ``since``) run for a report already stored at ``lon``,
    ``lat`` (WGS-84 degrees): (id, metres) nearest first, at most MAX_DUPLICATES_LISTED, the
    report itself left out. For the dispatcher's desk, where a case is looked at later."""
    payload = [{"id": report_id, "category": category, "lon": lon, "lat": lat}]
    rows = session.connection().execute(_duplicates_statement(), _duplicate_params(payload, config=config, since=since))
    return [(dup, float(metres)) for _, dup, metres in rows]


def forget_suggestions(session: Session, rows: list[ReportRow], gone: set[uuid.UUID]) -> None:
    """Take ``gone`` (reports of this pass the database refused) out of the stored suggestions
    of ``rows``. Rare: only the safety net of an intake pass refuses rows."""
    table = Report.__table__
    for row in rows:
        listed = row.suggested_duplicates or []
        if any(d in gone for d in listed):
            row.suggested_duplicates = [d for d in listed if d not in gone]
            session.connection().execute(table.update().where(table.c.id == row.id)
                                         .values(suggested_duplicates=row.suggested_duplicates))


def _within_pass(rows: list[ReportRow], *, radius_m: float, since: datetime):
    """(later id, earlier id, metres) for same-category pairs of ``rows`` within ``radius_m``
    whose earlier one was reported since ``since`` (the same window as the stored candidates):
    one pass's reports are not stored yet, so the probe cannot see each other. Bucketed by a
    cell of the radius, so a 10,000-report batch compares neighbours only."""
    step = radius_m / M_PER_DEG_LON_EQ * 2  # degrees; ≥ the radius in longitude too below 60° latitude
    buckets: dict[tuple, list[int]] = {}
    for i, r in enumerate(rows):
        if r.reported_at >= since:
            buckets.setdefault((r.category, int(r.lon // step), int(r.lat // step)), []).append(i)
    for i, r in enumerate(rows):
        cx, cy = int(r.lon // step), int(r.lat // step)
        earlier = [j for dx in (-1, 0, 1) for dy in (-1, 0, 1)
                   for j in buckets.get((r.category, cx + dx, cy + dy), ()) if j < i and rows[j].id != r.id]
        if earlier:
            metres = _sphere_m(r.lon, r.lat, np.array([rows[j].lon for j in earlier]),
                               np.array([rows[j].lat for j in earlier]))
            for j, m in zip(earlier, metres):
                if m <= radius_m:
                    yield r.id, rows[j].id, float(m)
