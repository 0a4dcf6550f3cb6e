"""Bulk registration (``gridmap reports import``): intake's rules, written by COPY.

One slice of a file (tens of thousands of reports) per call, in the caller's transaction.
Every decision is intake's own (``geo.reports.registration``): the input rules and the crs
conversion (``accept_items``), the matching rule with the cached matcher and PostGIS for the
points no grid covers, the routing under the duty clock and the city contact
(``place_reports``), then the pure plan of ``geo.reports.planning``. Only the writing
differs: the planned rows and their trail events are COPYed into two temporary staging
tables, and one statement inserts the reports whose id is new (``ON CONFLICT DO NOTHING``)
and the trail rows of exactly those. An id stored before is "already there" when its stored
request hash is the row's, a conflict otherwise; should the database still refuse the
slice, it is written again through intake's bisecting writer, so one bad row fails alone.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field, fields
from datetime import datetime
from functools import lru_cache
from operator import attrgetter

import orjson
import psycopg
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from geo.boundaries.generations import hold_intake_lock
from geo.cityconfig import CityConfig
from geo.errors import GridmapError
from geo.matching.matcher import matcher_for
from geo.models import Report, ReportEvent
from geo.reports.intake import ReportInput
from geo.reports.planning import Accepted, plan_reports
from geo.reports.registration import (
    REUSED_ID, accept_items, not_the_rows, place_reports, refused_outcome, write_isolating,
)
from geo.reports.store import ReportRow
from geo.reports.trail import TrailEvent
from geo.spatial import point

log = logging.getLogger("gridmap.import")


@dataclass
class SliceResult:
    """What became of a slice: counts, and each rejected row's index → reason."""

    created: int = 0
    replayed: int = 0
    rejected: dict[int, str] = field(default_factory=dict)


def reason(error: GridmapError) -> str:
    """A rejected row's reason as the rejects file shows it: ``field: message``."""
    name = error.details.get("field", "")
    return f"{name}: {error.message}" if name else error.message


_STAGE = "import_staging"
_STAGE_EVENTS = "import_staging_events"
_COLUMNS = tuple(f.name for f in fields(ReportRow))  # the report columns, then lon, lat
_REPORT_COLUMNS = _COLUMNS[:-2]
_EVENT_COLUMNS = ("report_id", "action", "actor", "from_status", "to_status", "data")
_row_values = attrgetter(*_COLUMNS)
_PHOTOS = _COLUMNS.index("photos")
_DUPS = _COLUMNS.index("suggested_duplicates")


@lru_cache(maxsize=1)
def _staging_select() -> str:
    """The SELECT whose columns the staging table takes (``reports``' own types, enums
    included, without its NOT NULLs or defaults), as SQL text: our constant, never input."""
    table = Report.__table__
    query = sa.select(*(table.c[n] for n in _REPORT_COLUMNS),
                      sa.cast(sa.null(), sa.Float(53)).label("lon"), sa.cast(sa.null(), sa.Float(53)).label("lat"))
    return str(query.compile(dialect=postgresql.dialect()))


def _stage(session: Session) -> None:
    """The two staging tables, dropped when the transaction ends (or after the slice)."""
    cur = session.connection().connection.driver_connection.cursor()
    cur.execute(sql.SQL("CREATE TEMPORARY TABLE {} ON COMMIT DROP AS {} WITH NO DATA")
                .format(sql.Identifier(_STAGE), sql.SQL(_staging_select())))
    cur.execute(sql.SQL("CREATE TEMPORARY TABLE {} (report_id uuid, action text, actor text, from_status text, "
                        "to_status text, data jsonb, seq integer) ON COMMIT DROP").format(sql.Identifier(_STAGE_EVENTS)))


def _copy(session: Session, rows: list[ReportRow], events: list[TrailEvent]) -> None:
    """COPY the planned rows and events into the staging tables (text format)."""
    cur = session.connection().connection.driver_connection.cursor()
    statement = sql.SQL("COPY {} ({}) FROM STDIN")
    with cur.copy(statement.format(sql.Identifier(_STAGE), sql.SQL(", ").join(map(sql.Identifier, _COLUMNS)))) as cp:
        dumps = orjson.dumps
        for r in rows:
            values = list(_row_values(r))
            values[_PHOTOS] = dumps(values[_PHOTOS]).decode()
            if values[_DUPS] is not None:
                values[_DUPS] = [str(d) for d in values[_DUPS]]
            cp.write_row(values)
    names = (*_EVENT_COLUMNS, "seq")
    with cur.copy(statement.format(sql.Identifier(_STAGE_EVENTS), sql.SQL(", ").join(map(sql.Identifier, names)))) as cp:
        for seq, e in enumerate(events):
            cp.write_row((e.report_id, e.action, e.actor, e.from_status, e.to_status, orjson.dumps(e.data).decode(), seq))


@lru_cache(maxsize=1)
def _insert_statement() -> sa.Select:
    """INSERT the staged reports whose id is new and the trail rows of those (stamped with the
    report's creation time, in the order planned); selects the ids inserted. As
    ``geo.reports.store.write_reports``, from the staging tables instead of JSON."""
    table = Report.__table__
    staged = sa.table(_STAGE, *(sa.column(n, table.c[n].type) for n in _REPORT_COLUMNS),
                      sa.column("lon", sa.Float(53)), sa.column("lat", sa.Float(53)))
    inserted = (
        pg_insert(Report)
        .from_select([*_REPORT_COLUMNS, "location"],
                     sa.select(*(staged.c[n] for n in _REPORT_COLUMNS), point(staged.c.lon, staged.c.lat))
                     .order_by(staged.c.id))  # id order: concurrent writers lock alike (store.py)
        .on_conflict_do_nothing(index_elements=[Report.id])
        .returning(Report.id, Report.created_at)
        .cte("inserted")
    )
    events = ReportEvent.__table__
    ev = sa.table(_STAGE_EVENTS, *(sa.column(n, events.c[n].type) for n in _EVENT_COLUMNS),
                  sa.column("seq", sa.Integer()))
    trail = pg_insert(ReportEvent).from_select(
        [*_EVENT_COLUMNS, "at"],
        sa.select(*(ev.c[n] for n in _EVENT_COLUMNS), inserted.c.created_at)
        .select_from(ev.join(inserted, inserted.c.id == ev.c.report_id))
        .order_by(ev.c.seq),
    ).cte("trail")
    return sa.select(inserted.c.id).add_cte(trail)


def _write(session: Session, rows: list[ReportRow], events: list[TrailEvent]) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """(ids inserted, ids the database refused). By COPY; if the database refuses the slice
    (a rule the checks do not know), through intake's writer, which isolates the bad rows."""
    if not rows:
        return set(), set()
    try:
        with session.begin_nested():
            _stage(session)
            _copy(session, rows, events)
            inserted = set(session.connection().execute(_insert_statement()).scalars())
            # Dropped now, not only at commit: the caller may register more slices in this transaction.
            session.connection().connection.driver_connection.execute(
                sql.SQL("DROP TABLE {}, {}").format(sql.Identifier(_STAGE), sql.Identifier(_STAGE_EVENTS)))
            return inserted, set()
    except sa.exc.DBAPIError as exc:
        if not_the_rows(exc):
            raise
        problem = exc
    except (psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError) as exc:
        problem = exc  # psycopg's own errors from COPY are not wrapped by SQLAlchemy
    log.warning("the database refused a slice of %d reports by COPY; writing it row-isolated: %s", len(rows), problem)
    return write_isolating(session, rows, events)


def import_slice(
    session: Session, *, items: list[tuple[int, ReportInput]], config: CityConfig, now: datetime,
    earliest: datetime | None = None,
) -> SliceResult:
    """Register ``items`` ((row index, report) pairs) as ``submit_batch`` would without
    duplicate suggestions, written by COPY; any number of items. ``earliest`` overrides the
    city's earliest report date. Commits nothing: the caller owns the transaction (one per
    slice, so a refused slice never loses the others). Raises NoActiveGeneration."""
    result = SliceResult()
    outcomes: dict = {}
    accepted = accept_items(items, config=config, now=now, earliest=earliest, outcomes=outcomes)
    for index, outcome in outcomes.items():
        result.rejected[index] = reason(outcome.error)
    # Ids stored before (a second import of the file) are settled by their stored hash, not
    # planned again; a repeated id's later rows are replays or conflicts of its first.
    stored = _stored_hashes(session, {r.id for r in accepted})
    seen: set[uuid.UUID] = set(stored)
    fresh: list[Accepted] = []
    later: list[Accepted] = []
    for r in accepted:
        (later if r.id in seen else fresh).append(r)
        seen.add(r.id)
    refused: set[uuid.UUID] = set()
    if fresh:
        hold_intake_lock(session)
        generation, matcher = matcher_for(session)
        placement = place_reports(session, fresh, generation=generation, matcher=matcher, config=config, now=now)
        plan = plan_reports(fresh, placement=placement, config=config, now=now)
        inserted, refused = _write(session, plan.rows, plan.events)
        result.created = len(inserted)
        # Not inserted and not refused: a concurrent writer stored the id first.
        later += [r for r in fresh if r.id not in inserted and r.id not in refused]
        for r in fresh:
            if r.id in refused:
                result.rejected[r.index] = reason(refused_outcome(r.index, r.id).error)
    for r in later:  # a repeat of a refused id fails the same way
        if r.id in refused:
            result.rejected[r.index] = reason(refused_outcome(r.index, r.id).error)
    later = [r for r in later if r.id not in refused]
    missing = {r.id for r in later} - set(stored)
    if missing:
        stored.update(_stored_hashes(session, missing))
    for r in later:
        if stored.get(r.id) == r.fingerprint:
            result.replayed += 1
        else:
            result.rejected[r.index] = REUSED_ID
    return result


def _stored_hashes(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, str | None]:
    """The stored request hash of each of ``ids`` already stored (one query, an array bound)."""
    if not ids:
        return {}
    wanted = sa.bindparam("ids", type_=ARRAY(UUID(as_uuid=True)))
    return dict(session.connection().execute(
        sa.select(Report.id, Report.request_hash).where(Report.id == sa.any_(wanted)), {"ids": list(ids)}).all())
