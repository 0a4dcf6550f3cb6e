"""Re-matching stored reports after the grid boundaries changed (a new generation activated).

Territorial responsibility follows the current boundaries for cases still open; closed cases
keep the grid and generation they were handled under unless asked otherwise. Works in keyset
chunks so the caller can commit as it goes and re-run safely (already re-matched rows are
simply unchanged).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.cityconfig import CityConfig
from geo.matching.matcher import GridMatcher
from geo.matching.rule import database_fallback, match_points
from geo.models import OPEN_STATUSES, Report
from geo.reports.routing import responsible_workers
from geo.reports.trail import TrailEvent, append_events


@dataclass(frozen=True)
class RematchChunk:
    last_id: uuid.UUID | None  # pass back as ``after`` for the next chunk; None when done
    examined: int
    moved: int  # reports whose grid changed


def rematch_chunk(
    session: Session, *, matcher: GridMatcher, generation: int, config: CityConfig, now: datetime,
    after: uuid.UUID | None = None, limit: int = 50_000, include_closed: bool = False,
) -> RematchChunk:
    """Re-match up to ``limit`` reports with id > ``after`` to ``generation``'s grids.

    Every examined report gets the new generation; a report whose grid changed gets a
    ``rematch`` event, and an open one at grid level is handed to the new grid's worker.
    """
    conds = [] if include_closed else [Report.status.in_(OPEN_STATUSES)]
    if after is not None:
        conds.append(Report.id > after)
    rows = session.execute(
        sa.select(Report.id, sa.func.ST_X(Report.location), sa.func.ST_Y(Report.location), Report.grid_code,
                  Report.status, Report.escalation_level)
        .where(*conds).order_by(Report.id).limit(limit)
    ).all()
    if not rows:
        return RematchChunk(None, 0, 0)
    ids = [r[0] for r in rows]
    lon = np.fromiter((r[1] for r in rows), float, len(rows))
    lat = np.fromiter((r[2] for r in rows), float, len(rows))
    # The rule intake applies, so a re-matched report stores what intake would have stored.
    matched = match_points(matcher, lon, lat, fallback=database_fallback(
        session, generation=generation, snap_tolerance_m=config.snap_tolerance_m))
    codes, kinds, snaps = matched.codes, matched.kinds, matched.snap_distances
    moved = [k for k, r in enumerate(rows) if codes[k] != r[3]]
    workers = responsible_workers(session, grid_codes=[codes[k] for k in moved if codes[k]])
    handover = {k: workers.get(codes[k]) for k in moved
                if codes[k] and rows[k][4] in OPEN_STATUSES and rows[k][5] == 0}  # open, not escalated
    values = [
        {"rid": ids[k], "code": codes[k], "gen": generation if codes[k] else None, "kind": kinds[k],
         "snap": snaps[k], "worker": handover[k].id if handover.get(k) is not None else None}
        for k in range(len(rows))
    ]
    report = Report.__table__
    stmt = (
        sa.update(report)
        .where(report.c.id == sa.bindparam("rid"))
        .values(grid_code=sa.bindparam("code"), generation_id=sa.bindparam("gen"), match_kind=sa.bindparam("kind"),
                snap_distance_m=sa.bindparam("snap", type_=sa.Float),
                assigned_worker_id=sa.func.coalesce(sa.bindparam("worker"), report.c.assigned_worker_id),
                updated_at=now)
    )
    session.connection().execute(stmt, values)
    if moved:
        append_events(session, [
            TrailEvent(ids[k], "rematch", "system", rows[k][4].value, rows[k][4].value,
                       {"from": rows[k][3], "to": codes[k], "generation": generation},
                       note="boundaries changed", at=now)
            for k in moved
        ])
    return RematchChunk(ids[-1], len(rows), len(moved))
