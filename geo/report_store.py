"""Writing registered reports and probing for duplicates: the SQL of an intake pass.

``geo.registration`` decides what to store; this module stores it in one statement and
finds open look-alikes nearby. Statements are built once (their SQL is constant) and run on
the session's Connection: the ORM layer's per-statement cost bought nothing here.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from functools import lru_cache

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from geo.cityconfig import CityConfig
from geo.models import OPEN_STATUSES, Report, ReportEvent


def _json(value) -> str:
    # orjson (C): a pass's rows are dumped whole, and json.dumps was a tenth of a batch's time.
    return orjson.dumps(value).decode()


# The columns a pass sends as they are stored. Reports and their first trail rows travel as
# one JSON array each (orjson, in C) and are expanded by jsonb_to_recordset: one statement,
# one round trip, however many reports the pass holds. (Arrays per column cost more to dump.)
# The record types are the tables' own column types, so the two cannot drift apart.
_REPORT_COLUMNS = (
    "id", "category", "subcategory", "description", "source", "h3_cell", "public_cell", "orig_x", "orig_y", "orig_crs", "accuracy_m",
    "reported_at", "status", "grid_code", "generation_id", "match_kind", "snap_distance_m", "assigned_worker_id",
    "dispatched_at", "due_at", "escalation_level", "escalated_to", "reporter_name", "reporter_phone", "photos",
    "request_hash", "filed_by", "created_at", "updated_at",
)
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
                               sa.func.ST_SetSRID(sa.func.ST_MakePoint(new.c.lon, new.c.lat), 4326))
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


def write_reports(session: Session, rows: list[dict], events: list[dict]) -> set[uuid.UUID]:
    """Insert ``rows`` (dicts keyed by the fields above) whose id is new, and the ``events``
    of those; returns the ids inserted. Commits nothing."""
    if not rows:
        return set()
    for seq, event in enumerate(events):
        event["seq"] = seq
    # Core execution (not Session.execute): the ORM layer's per-statement cost is for nothing here.
    return set(session.connection().execute(_insert_statement(), {"reports": _json(rows), "events": _json(events)})
               .scalars())


MAX_DUPLICATES_LISTED = 10


@lru_cache(maxsize=1)
def _duplicates_statement() -> sa.Select:
    """Open reports of the same category near each of ``:new_ids`` (see ``possible_duplicates``).
    Built once: the window, the radii and the ids are parameters."""
    from geoalchemy2 import Geography

    geog = Geography(srid=4326)
    new = Report.__table__.alias("new")
    # Index order (planar <->) stops the scan after the nearest few; exact geodesic test as a filter.
    near = Report.location.op("<->")(new.c.location)
    candidates = (
        sa.select(Report.id.label("dup"), near.label("d"))
        .where(
            Report.status.in_(OPEN_STATUSES),
            Report.category == new.c.category,
            Report.id != new.c.id,
            Report.reported_at >= sa.bindparam("since", type_=sa.DateTime(timezone=True)),
            # A degree box (≥ the radius below 60° latitude) lets the partial GiST index cut first.
            sa.func.ST_DWithin(Report.location, new.c.location, sa.bindparam("box_deg", type_=sa.Float(53))),
            # On the sphere: a third of the spheroid's cost, and centimetres apart at 250 m.
            sa.func.ST_DWithin(sa.cast(Report.location, geog), sa.cast(new.c.location, geog),
                               sa.bindparam("radius_m", type_=sa.Float(53)), False),
        )
        .order_by(near)
        .limit(MAX_DUPLICATES_LISTED)
        .lateral("near")
    )
    return (
        sa.select(new.c.id, candidates.c.dup)
        .select_from(new.join(candidates, sa.true()))
        .where(new.c.id == sa.any_(sa.bindparam("new_ids", type_=ARRAY(UUID(as_uuid=True)))))
        .order_by(new.c.id, candidates.c.d)
    )


def possible_duplicates(
    session: Session, ids: set[uuid.UUID], *, config: CityConfig, now: datetime
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """For each report in ``ids``: open reports of its category within the configured radius
    (metres) and window (days before ``now``), nearest first, at most MAX_DUPLICATES_LISTED."""
    rows = session.connection().execute(_duplicates_statement(), {
        "new_ids": list(ids), "since": now - timedelta(days=config.duplicate_window_days),
        "box_deg": config.duplicate_radius_m / 111_320 * 2, "radius_m": float(config.duplicate_radius_m),
    }).all()
    found: dict[uuid.UUID, list[uuid.UUID]] = {}
    for rid, dup in rows:
        found.setdefault(rid, []).append(dup)
    return found
