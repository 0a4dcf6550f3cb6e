"""Re-matching stored reports after the grid boundaries changed (a new generation activated).

Territorial responsibility follows the current boundaries for cases still open; closed cases
keep the grid and generation they were handled under, always. Works in keyset
chunks so the caller can commit as it goes and re-run safely (already re-matched rows are
simply unchanged). What a chunk would change is computed first (``plan_rematch``, usable as
a dry run: the planner's diff of a draft) and then stored (``apply_rematch``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.cityconfig import CityConfig
from geo.matching.matcher import GridMatcher
from geo.matching.rule import database_fallback, match_points
from geo.models import OPEN_STATUSES, Report, ReportStatus
from geo.reports.routing import responsible_workers
from geo.reports.trail import TrailEvent, append_events


@dataclass(frozen=True, slots=True)
class Rematched:
    """One examined report under the new boundaries: what it will store (grid, kind and snap
    distance as intake would store them, the new grid's worker for an open case handed over)
    and where it was (``from_code``, ``status``)."""

    report_id: uuid.UUID
    status: ReportStatus
    from_code: str | None
    grid_code: str | None
    kind: str
    snap_distance_m: float | None
    worker_id: int | None  # the new worker of a handed-over case; None: the worker stays

    @property
    def moved(self) -> bool:
        return self.grid_code != self.from_code


@dataclass(frozen=True, slots=True)
class RematchPlan:
    """What re-matching one chunk would do (a dry run), in report id order."""

    generation: int
    reports: list[Rematched]

    @property
    def last_id(self) -> uuid.UUID | None:
        """Pass back as ``after`` for the next chunk; None when there was nothing left."""
        return self.reports[-1].report_id if self.reports else None

    @property
    def moves(self) -> list[Rematched]:
        """The reports whose grid changes."""
        return [r for r in self.reports if r.moved]


@dataclass(frozen=True)
class RematchChunk:
    last_id: uuid.UUID | None  # pass back as ``after`` for the next chunk; None when done
    examined: int
    moved: int  # reports whose grid changed


def plan_rematch(
    session: Session, *, matcher: GridMatcher, generation: int, config: CityConfig,
    after: uuid.UUID | None = None, limit: int = 50_000,
) -> RematchPlan:
    """Re-match up to ``limit`` reports with id > ``after`` to ``generation``'s grids with the
    rule intake uses, changing nothing: every examined report and, for those whose grid
    changes, an open one at grid level (not escalated, and held by no department: a
    department's case stays with its staff) gets the new grid's worker."""
    # Open cases only: a closed case keeps the grid it was handled under, always (its grid
    # under today's boundaries is geo.reports.restate's, kept apart).
    conds = [Report.status.in_(OPEN_STATUSES)]
    if after is not None:
        conds.append(Report.id > after)
    rows = session.execute(
        sa.select(Report.id, sa.func.ST_X(Report.location), sa.func.ST_Y(Report.location), Report.grid_code,
                  Report.status, Report.escalation_level, Report.department_code)
        .where(*conds).order_by(Report.id).limit(limit)
    ).all()
    if not rows:
        return RematchPlan(generation, [])
    lon = np.fromiter((r[1] for r in rows), float, len(rows))
    lat = np.fromiter((r[2] for r in rows), float, len(rows))
    # The rule intake applies, so a re-matched report stores what intake would have stored.
    matched = match_points(matcher, lon, lat, fallback=database_fallback(
        session, generation=generation, snap_tolerance_m=config.snap_tolerance_m))
    return plan_from_matches(session, generation=generation, rows=[(r[0], r[3], r[4], r[5], r[6]) for r in rows],
                             codes=matched.codes, kinds=matched.kinds, snaps=matched.snap_distances)


def plan_from_matches(session: Session, *, generation: int, rows: Sequence[tuple], codes: Sequence[str | None],
                      kinds: Sequence[str], snaps: Sequence[float | None]) -> RematchPlan:
    """The plan for reports already matched to ``generation`` (by ``match_points``; the batch
    jobs match on a cluster): ``rows`` are (id, grid_code, status, escalation_level,
    department_code) as stored, in id order, ``codes``/``kinds``/``snaps`` their matches in the
    same order. Who gets a moved case is decided here, once."""
    handed = [k for k, r in enumerate(rows)
              if codes[k] and codes[k] != r[1] and r[2] in OPEN_STATUSES and r[3] == 0 and r[4] is None]
    workers = responsible_workers(session, grid_codes=[codes[k] for k in handed])
    new_worker = {k: w.id for k in handed if (w := workers.get(codes[k])) is not None}
    return RematchPlan(generation, [
        Rematched(r[0], r[2], r[1], codes[k], kinds[k], snaps[k], new_worker.get(k)) for k, r in enumerate(rows)
    ])


def rematch_plans(session: Session, *, matcher: GridMatcher, generation: int, config: CityConfig,
                  limit: int = 50_000) -> Iterator[RematchPlan]:
    """``plan_rematch`` chunk after chunk over every open case, in one session: a caller may
    apply each plan before taking the next (the keyset goes on from the last id)."""
    after = None
    while True:
        plan = plan_rematch(session, matcher=matcher, generation=generation, config=config, after=after, limit=limit)
        if not plan.reports:
            return
        yield plan
        after = plan.last_id


def apply_rematch(session: Session, *, plan: RematchPlan, now: datetime) -> RematchChunk:
    """Store ``plan``: every examined report gets its new grid, generation, kind and snap
    distance; a report whose grid changed gets a ``rematch`` event. Commits nothing."""
    if not plan.reports:
        return RematchChunk(None, 0, 0)
    gen = plan.generation
    report = Report.__table__
    stmt = (
        sa.update(report)
        .where(report.c.id == sa.bindparam("rid"))
        .values(grid_code=sa.bindparam("code"), generation_id=sa.bindparam("gen"), match_kind=sa.bindparam("kind"),
                snap_distance_m=sa.bindparam("snap", type_=sa.Float),
                assigned_worker_id=sa.func.coalesce(sa.bindparam("worker"), report.c.assigned_worker_id),
                updated_at=now)
    )
    session.connection().execute(stmt, [
        {"rid": r.report_id, "code": r.grid_code, "gen": gen if r.grid_code else None, "kind": r.kind,
         "snap": r.snap_distance_m, "worker": r.worker_id}
        for r in plan.reports
    ])
    moves = plan.moves
    append_events(session, [
        TrailEvent(r.report_id, "rematch", "system", r.status.value, r.status.value,
                   {"from": r.from_code, "to": r.grid_code, "generation": gen}, note="boundaries changed", at=now)
        for r in moves
    ])
    return RematchChunk(plan.last_id, len(plan.reports), len(moves))


def rematch_chunk(
    session: Session, *, matcher: GridMatcher, generation: int, config: CityConfig, now: datetime,
    after: uuid.UUID | None = None, limit: int = 50_000,
) -> RematchChunk:
    """``plan_rematch`` then ``apply_rematch``: re-match and store one chunk."""
    plan = plan_rematch(session, matcher=matcher, generation=generation, config=config, after=after, limit=limit)
    return apply_rematch(session, plan=plan, now=now)
