"""Statistics of all history under today's boundaries: each report's grid in the current
generation (``report_current_grids``), kept apart from the grid it was handled under
(``reports.grid_code``/``generation_id``), which never changes once a case is closed. FixMyStreet's trap was re-homing closed cases, so last year's figures of a worker
or a grid changed with every redraw; here they cannot.

Matching is the rule intake uses (``geo.matching.rule.match_points``), in keyset chunks;
each chunk is one set-based upsert from arrays, writing only rows whose answer changed, so a
re-run after an interruption carries on and a second run writes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from geo.cityconfig import CityConfig
from geo.matching.matcher import GridMatcher
from geo.matching.rule import database_fallback, match_points
from geo.models import Report, ReportCurrentGrid


@dataclass(frozen=True)
class RestateChunk:
    last_id: uuid.UUID | None  # pass back as ``after``; None when done
    examined: int
    changed: int


def restate_chunk(session: Session, *, matcher: GridMatcher, generation: int, config: CityConfig,
                  after: uuid.UUID | None = None, limit: int = 100_000) -> RestateChunk:
    """Record for up to ``limit`` reports with id > ``after`` (any status) their grid in
    ``generation`` (None: no grid within the snap tolerance) in ``report_current_grids``.
    ``grid_code`` is never touched. Commits nothing."""
    q = sa.select(Report.id, sa.func.ST_X(Report.location), sa.func.ST_Y(Report.location)).order_by(Report.id)
    if after is not None:
        q = q.where(Report.id > after)
    rows = session.execute(q.limit(limit)).all()
    if not rows:
        return RestateChunk(None, 0, 0)
    lon = np.fromiter((r[1] for r in rows), float, len(rows))
    lat = np.fromiter((r[2] for r in rows), float, len(rows))
    codes = match_points(matcher, lon, lat, fallback=database_fallback(
        session, generation=generation, snap_tolerance_m=config.snap_tolerance_m)).codes
    given = sa.select(sa.func.unnest(sa.bindparam("ids", type_=ARRAY(UUID(as_uuid=True)))).label("report_id"),
                      sa.func.unnest(sa.bindparam("codes", type_=ARRAY(sa.String))).label("grid_code"),
                      sa.literal(generation).label("generation_id"))
    table = ReportCurrentGrid.__table__
    stmt = pg_insert(table).from_select(["report_id", "grid_code", "generation_id"], given)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.report_id],
        set_={"grid_code": stmt.excluded.grid_code, "generation_id": stmt.excluded.generation_id},
        where=sa.or_(table.c.grid_code.is_distinct_from(stmt.excluded.grid_code),
                     table.c.generation_id != stmt.excluded.generation_id),
    )
    written = stmt.returning(table.c.report_id).cte("written")
    n = session.connection().execute(sa.select(sa.func.count()).select_from(written),
                                     {"ids": [r[0] for r in rows], "codes": [c or None for c in codes]}).scalar_one()
    return RestateChunk(rows[-1][0], len(rows), n)
