"""The planners' actions as the CLI and the API both call them: each one audited with who
did it, in the caller's transaction (an action and its audit row commit together).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from geo.access import Principal, Role, record_audit
from geo.boundaries.activation import (
    Activation, activate_draft, revert_to_previous, run_due_activation, schedule_activation,
)
from geo.boundaries.assignments import plan_assignments, read_assignments
from geo.boundaries.drafts import discard_draft, require_draft
from geo.boundaries.hierarchy import AreaLevel
from geo.boundaries.reading import FieldMap, read_boundaries
from geo.boundaries.redraw import ImportResult, import_boundaries
from geo.cityconfig import CityConfig
from geo.models import Generation


def import_file(session: Session, *, path: Path, actor: Principal, level: AreaLevel = AreaLevel.grid,
                layer: str | None = None, fields: FieldMap | None = None, crs: str | None = None,
                whole_level: bool = False, description: str | None = None) -> ImportResult:
    """Read ``path`` and bring it into the draft (``reading`` and ``redraw``). Raises
    BoundaryFileError naming every bad feature and field."""
    features = read_boundaries(path, level=level, layer=layer, fields=fields, crs=crs)
    result = import_boundaries(session, features=features, level=level, whole_level=whole_level,
                               actor=actor.holder, description=description)
    detail = {"file": Path(path).name, "level": level.value, "whole_level": whole_level,
              "features": len(features), "added": len(result.added), "removed": len(result.removed),
              "redrawn": len(result.redrawn), "kept": result.kept, "noise_cleaned": result.noise_cleaned,
              "estimated": len(result.estimated), "findings": len(result.findings)}
    record_audit(session, actor=actor, action="boundaries.import", subject_type="generation",
                 subject_id=result.generation, detail=detail)
    draft = session.get(Generation, result.generation)
    imports = [*(draft.summary or {}).get("imports", []), {**detail, "by": actor.holder}]
    draft.summary = {**(draft.summary or {}), "imports": imports[-20:]}  # what the history shows of it
    session.flush()
    return result


def assign_file(session: Session, *, path: Path, actor: Principal, generation: int | None = None) -> int:
    """Plan the assignments of a ``grid_code, worker_id, role`` CSV for the draft."""
    draft = require_draft(session, generation=generation)
    planned = read_assignments(session, path=Path(path), generation=draft.id)
    n = plan_assignments(session, generation=draft.id, planned=planned, actor=actor.holder)
    record_audit(session, actor=actor, action="assignments.plan", subject_type="generation", subject_id=draft.id,
                 detail={"file": Path(path).name, "rows": n})
    return n


def activate(session: Session, *, actor: Principal, config: CityConfig, now: datetime, at: datetime | None = None,
             lead_covers: bool = False, generation: int | None = None) -> Activation | Generation:
    """Activate the draft now, or schedule it for ``at`` (then the draft comes back)."""
    if at is not None and at > now:
        draft = schedule_activation(session, at=at, actor=actor.holder, generation=generation, lead_covers=lead_covers)
        record_audit(session, actor=actor, action="boundaries.schedule", subject_type="generation",
                     subject_id=draft.id, detail={"at": at.isoformat()})
        return draft
    result = activate_draft(session, generation=generation, actor=actor.holder, config=config, now=now,
                            lead_covers=lead_covers)
    record_audit(session, actor=actor, action="boundaries.activate", subject_type="generation",
                 subject_id=result.generation, detail={"previous": result.previous, "open_cases_moved": result.moved})
    return result


def discard(session: Session, *, actor: Principal, generation: int | None = None) -> int:
    gid = discard_draft(session, generation=generation)
    record_audit(session, actor=actor, action="boundaries.discard", subject_type="generation", subject_id=gid)
    return gid


def revert(session: Session, *, actor: Principal, config: CityConfig, now: datetime) -> Activation:
    result = revert_to_previous(session, actor=actor.holder, config=config, now=now)
    record_audit(session, actor=actor, action="boundaries.revert", subject_type="generation",
                 subject_id=result.generation, detail={"previous": result.previous, "open_cases_moved": result.moved})
    return result


def activate_due(session: Session, *, config: CityConfig, now: datetime) -> Activation | None:
    """The server's side of ``--at``: activate the draft if its time has come (once across
    processes), audited as the planner who scheduled it."""
    result = run_due_activation(session, config=config, now=now)
    if result is not None:
        gen = session.get(Generation, result.generation)
        record_audit(session, actor=Principal(Role.planner, holder=gen.activated_by or "scheduler"),
                     action="boundaries.activate", subject_type="generation", subject_id=result.generation,
                     detail={"previous": result.previous, "open_cases_moved": result.moved, "scheduled": True})
    return result
