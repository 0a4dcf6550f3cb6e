"""Switching the city to new boundaries: activate the draft now or at a scheduled moment,
and revert to the previous generation (as a new activation).

One transaction: the check must pass; the planned assignments start; the draft becomes
active and the old generation retired; every open case is re-matched with the rule intake
uses and follows its new grid and worker (a ``rematch`` trail event each, due time kept,
an escalated case handed to the lead of its new chain). Closed cases keep the grid and
generation they were handled under.

Intake takes ``INTAKE_LOCK`` shared, per batch, before it reads the active generation;
activation takes it exclusive. So a report registered during the switch is either
committed before (old generation; the activation then re-matches it like any open case) or
waits and is matched under the new one: never both, never lost. A scheduled activation is
claimed with ``FOR UPDATE SKIP LOCKED`` on the draft's row, so several server processes
fire it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.boundaries.assignments import apply_assignments, unstaffed_grids
from geo.boundaries.checks import check_generation
from geo.boundaries.drafts import current_draft, lock_drafts, require_draft
from geo.boundaries.generations import (
    INTAKE_LOCK, activate_generation, active_generation_id, create_generation, rebuild_pieces, valid_in,
)
from geo.cityconfig import CityConfig
from geo.errors import InvalidState
from geo.matching.matcher import PLANNING_CELL_M, GridMatcher
from geo.models import (
    OPEN_STATUSES, Area, AreaPiece, Assignment, DraftAssignment, Generation, GenerationStatus, Report,
)
from geo.reports.rematch import apply_rematch, rematch_plans
from geo.reports.routing import escalation_code, lead_of

@dataclass(frozen=True)
class Activation:
    generation: int
    previous: int
    moved: int  # open cases that changed grid
    examined: int
    assignments: dict


def activate_draft(session: Session, *, generation: int | None = None, actor: str, config: CityConfig,
                   now: datetime, lead_covers: bool = False) -> Activation:
    """Activate the draft (``generation``, which must be it) in the caller's transaction.
    Raises InvalidState when there is no draft, when its check has errors, or when grids
    have no primary worker and ``lead_covers`` (route their cases to the community lead
    meanwhile) is not given."""
    draft = require_draft(session, generation=generation, lock=True)
    session.execute(sa.select(sa.func.pg_advisory_xact_lock(INTAKE_LOCK)))
    if why := _refusal(session, generation=draft.id, lead_covers=lead_covers):
        raise InvalidState(why, generation=draft.id)
    previous = active_generation_id(session)
    # Built before the status flip (which changes the row the matcher cache keys on).
    matcher = GridMatcher.from_session(session, generation=draft.id, cell_m=PLANNING_CELL_M)
    assignments = apply_assignments(session, generation=draft.id, now=now)
    gen = activate_generation(session, generation=draft.id)
    gen.activated_by = actor
    moved = examined = 0
    for plan in rematch_plans(session, matcher=matcher, generation=gen.id, config=config):
        chunk = apply_rematch(session, plan=plan, now=now)
        _reroute_escalated(session, report_ids=[r.report_id for r in plan.moves], generation=gen.id)
        moved, examined = moved + chunk.moved, examined + chunk.examined
    gen.summary = {**(gen.summary or {}), "activated": {"at": now.isoformat(), "by": actor, "previous": previous,
                                                        "open_cases_moved": moved, "open_cases": examined,
                                                        "assignments": assignments}}
    session.flush()
    return Activation(gen.id, previous, moved, examined, assignments)


def _reroute_escalated(session: Session, *, report_ids: list, generation: int) -> None:
    """An escalated case that moved goes to the lead of its new chain at the same level (a
    department's case climbs the department's chain, which no boundary changes)."""
    if not report_ids:
        return
    rows = session.execute(sa.select(Report.id, Report.grid_code, Report.escalation_level).where(
        Report.id.in_(report_ids), Report.escalation_level > 0, Report.status.in_(OPEN_STATUSES),
        Report.department_code.is_(None))).all()
    for rid, grid, level in rows:
        code = escalation_code(session, grid_code=grid, level=level, generation=generation)
        lead = lead_of(session, area_code=code) if code else None
        if lead is not None:
            session.execute(sa.update(Report).where(Report.id == rid).values(assigned_worker_id=lead.id))


def _refusal(session: Session, *, generation: int, lead_covers: bool) -> str | None:
    """Why the draft cannot be activated (check errors; grids without a primary worker unless
    ``lead_covers``), or None."""
    report = check_generation(session, generation=generation)
    if not report.ok:
        return (f"the draft (generation {generation}) has {len(report.errors)} error(s), first: "
                f"{report.errors[0]['message']}; run `gridmap boundaries check` and re-import")
    unstaffed = unstaffed_grids(session, generation=generation)
    if unstaffed and not lead_covers:
        return (f"{len(unstaffed)} grid(s) of the draft have no primary worker (first {unstaffed[0]}): "
                "assign them (gridmap workers assign FILE) or pass --lead-covers")
    return None


def schedule_activation(session: Session, *, at: datetime | None, actor: str, generation: int | None = None,
                        lead_covers: bool = False) -> Generation:
    """Schedule the draft's activation for ``at`` (timezone-aware; None: cancel). Refused
    (InvalidState) now, not at that moment, when the draft could not be activated."""
    if at is not None and at.tzinfo is None:
        raise InvalidState("the time needs its timezone, e.g. 2026-12-31T00:00+08:00")
    draft = require_draft(session, generation=generation, lock=True)
    if at is not None and (why := _refusal(session, generation=draft.id, lead_covers=lead_covers)):
        raise InvalidState(why, generation=draft.id)
    draft.scheduled_at, draft.scheduled_by = at, actor if at else None
    draft.summary = {**(draft.summary or {}), "schedule": {"lead_covers": lead_covers}}
    session.flush()
    return draft


def run_due_activation(session: Session, *, config: CityConfig, now: datetime) -> Activation | None:
    """Activate the draft when its scheduled time has come (once across processes: the row is
    claimed with SKIP LOCKED). A due draft that can no longer be activated is unscheduled,
    with the reason in its summary. Commits nothing."""
    gid = session.scalar(sa.select(Generation.id).where(
        Generation.status == GenerationStatus.draft, Generation.scheduled_at <= now,
    ).with_for_update(skip_locked=True))
    if gid is None:
        return None
    draft = session.get(Generation, gid)
    due = draft.scheduled_at
    nested = session.begin_nested()
    try:
        result = activate_draft(session, generation=gid, actor=draft.scheduled_by or "scheduler", config=config,
                                now=now, lead_covers=bool((draft.summary or {}).get("schedule", {}).get("lead_covers")))
    except InvalidState as exc:
        nested.rollback()
        draft.summary = {**(draft.summary or {}), "schedule_failed": {"at": now.isoformat(), "due": due.isoformat(),
                                                                      "reason": exc.message}}
        draft.scheduled_at = None
        session.flush()
        return None
    nested.commit()
    gen = session.get(Generation, gid)
    gen.summary = {**gen.summary, "scheduled": {"due": due.isoformat(), "fired": now.isoformat()}}
    return result


def revert_to_previous(session: Session, *, actor: str, config: CityConfig, now: datetime) -> Activation:
    """Make the generation active before the current one current again, as a new generation
    activated now (open cases follow back). Raises InvalidState when a draft exists (discard
    or activate it first) or there is no earlier generation."""
    lock_drafts(session)
    if current_draft(session) is not None:
        raise InvalidState("a draft exists: discard it (gridmap boundaries discard) or activate it before reverting")
    active = session.get(Generation, active_generation_id(session))
    previous = active.based_on or session.scalar(
        sa.select(Generation.id).where(Generation.status == GenerationStatus.retired, Generation.id < active.id)
        .order_by(Generation.id.desc()).limit(1))
    if previous is None:
        raise InvalidState(f"generation {active.id} is the first: there is nothing to revert to")
    new = create_generation(session, description=f"revert to generation {previous}")
    new.created_by, new.summary = actor, {"revert_of": active.id, "restores": previous}
    # Rows valid in both stay the same rows; rows only the previous generation had come back as copies.
    session.execute(sa.update(Area).where(valid_in(Area, previous), valid_in(Area, active.id))
                    .values(generation_high=new.id))
    session.execute(sa.update(AreaPiece).where(
        AreaPiece.area_id.in_(sa.select(Area.id).where(Area.generation_high == new.id))).values(generation_high=new.id))
    cols = ("code", "level", "name", "kind", "parent_code", "households", "population", "estimated", "geom")
    copied = session.scalars(sa.insert(Area).from_select(
        [*cols, "generation_low", "generation_high"],
        sa.select(*(getattr(Area, c) for c in cols), sa.literal(new.id), sa.literal(new.id))
        .where(valid_in(Area, previous), Area.generation_high < active.id),
    ).returning(Area.id)).all()
    rebuild_pieces(session, area_ids=list(copied))
    _restore_assignments(session, generation=new.id, retired_by=active.id, actor=actor)
    return activate_draft(session, generation=new.id, actor=actor, config=config, now=now, lead_covers=True)


def _restore_assignments(session: Session, *, generation: int, retired_by: int, actor: str) -> None:
    """Plan, for the areas of ``generation`` that the activation of ``retired_by`` had
    retired (so their assignments were ended then), the last assignments each code had:
    a revert gives them their workers back. Areas that lived on keep whoever answers for
    them now."""
    codes = sa.select(Area.code).where(valid_in(Area, generation)).except_(
        sa.select(Area.code).where(valid_in(Area, retired_by)))
    running = sa.select(Assignment.area_code).where(Assignment.ended_at.is_(None))
    newest = sa.func.row_number().over(partition_by=(Assignment.area_code, Assignment.role, Assignment.rank),
                                       order_by=Assignment.ended_at.desc())
    ranked = (sa.select(Assignment.area_code, Assignment.role, Assignment.rank, Assignment.worker_id,
                        newest.label("n"))
              .where(Assignment.area_code.in_(codes), Assignment.area_code.not_in(running),
                     Assignment.ended_at.is_not(None)).subquery())
    last = sa.select(ranked.c.area_code, ranked.c.role, ranked.c.rank, ranked.c.worker_id).where(ranked.c.n == 1)
    for code, role, rank, worker in session.execute(last).all():
        session.add(DraftAssignment(generation_id=generation, area_code=code, role=role.value, rank=rank,
                                    worker_id=worker, created_by=actor))
    session.flush()
