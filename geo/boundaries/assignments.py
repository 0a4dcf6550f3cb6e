"""Who will answer for the draft's areas (``gridmap workers assign FILE``): responsibilities
planned for the draft, applied to ``assignments`` when it is activated, so routing never
sees them early. Codes outlive generations: a grid that keeps its code keeps its workers.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from geo.boundaries.generations import valid_in
from geo.errors import InvalidInput
from geo.models import Area, AreaLevel, Assignment, AssignmentRole, DraftAssignment, Worker

COLUMNS = ("grid_code", "worker_id", "role")


class AssignmentFileError(InvalidInput):
    """The CSV cannot be applied; ``problems`` names each row and field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems[0] if len(problems) == 1 else f"{len(problems)} problems, first: {problems[0]}",
                         field="file", problems=problems)
        self.problems = problems


@dataclass(frozen=True)
class PlannedAssignment:
    area_code: str
    worker_id: int
    role: AssignmentRole
    rank: int


def read_assignments(session: Session, *, path: Path, generation: int) -> list[PlannedAssignment]:
    """Rows of a CSV with columns ``grid_code, worker_id, role`` (optional ``rank``) checked
    against the draft: the code is an area of ``generation`` (a grid for primary/backup),
    the worker exists (by id, or by staff number), the role is primary, backup or lead.
    Raises AssignmentFileError naming every bad row and field."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
            header = rows and list(rows[0]) or []
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise AssignmentFileError([f"{path}: cannot read it as UTF-8 CSV ({type(exc).__name__})"]) from None
    missing = [c for c in COLUMNS if c not in header]
    if not rows or missing:
        raise AssignmentFileError([f"{path.name}: needs the columns {', '.join(COLUMNS)}"
                                   + (f" (missing {', '.join(missing)})" if rows else " and at least one row")])
    levels = dict(session.execute(
        sa.select(Area.code, Area.level).where(valid_in(Area, generation), Area.code.in_({r["grid_code"] for r in rows}))
    ).all())
    wanted = {(r["worker_id"] or "").strip() for r in rows}
    by_id = dict(session.execute(sa.select(sa.cast(Worker.id, sa.String), Worker.id).where(
        sa.cast(Worker.id, sa.String).in_(wanted))).all())
    by_staff = dict(session.execute(sa.select(Worker.staff_no, Worker.id).where(Worker.staff_no.in_(wanted))).all())
    out, problems = [], []
    for n, r in enumerate(rows, start=2):  # row 1 is the header
        code, who, role = ((r.get(c) or "").strip() for c in COLUMNS)
        if code not in levels:
            problems.append(f"row {n}: grid_code {code!r} is not an area of the draft (generation {generation})")
            continue
        try:
            arole = AssignmentRole(role)
        except ValueError:
            problems.append(f"row {n}: role {role!r} is not primary, backup or lead")
            continue
        if arole != AssignmentRole.lead and levels[code] != AreaLevel.grid:
            problems.append(f"row {n}: {code} is a {levels[code].value}: only a grid has a {role}")
            continue
        worker = by_id.get(who) or by_staff.get(who)
        if worker is None:
            problems.append(f"row {n}: worker_id {who!r} is no worker (give the id or the staff number)")
            continue
        rank_text = (r.get("rank") or "1").strip()
        if not rank_text.isdigit() or not 1 <= int(rank_text) <= 9:
            problems.append(f"row {n}: rank {rank_text!r} is not 1–9")
            continue
        out.append(PlannedAssignment(code, worker, arole, int(rank_text)))
    if problems:
        raise AssignmentFileError(problems)
    return out


def plan_assignments(session: Session, *, generation: int, planned: list[PlannedAssignment], actor: str) -> int:
    """Store ``planned`` for the draft (a later row for the same code, role and rank wins).
    Returns the number stored."""
    for p in planned:
        session.execute(
            pg_insert(DraftAssignment).values(generation_id=generation, area_code=p.area_code, role=p.role.value,
                                              rank=p.rank, worker_id=p.worker_id, created_by=actor)
            .on_conflict_do_update(index_elements=["generation_id", "area_code", "role", "rank"],
                                   set_={"worker_id": p.worker_id, "created_by": actor})
        )
    return len(planned)


def apply_assignments(session: Session, *, generation: int, now: datetime) -> dict[str, int]:
    """Make the draft's planned assignments current (each replaces the running one of the
    same code, role and rank) and end the running assignments of codes the generation no
    longer has. Returns counts ``started`` and ``ended``."""
    planned = session.scalars(sa.select(DraftAssignment).where(DraftAssignment.generation_id == generation)).all()
    ended = 0
    for p in planned:
        same = [Assignment.area_code == p.area_code, Assignment.role == AssignmentRole(p.role),
                Assignment.ended_at.is_(None)]
        if p.role != AssignmentRole.primary.value:
            same.append(Assignment.rank == p.rank)
        ended += session.execute(sa.update(Assignment).where(*same).values(ended_at=now)).rowcount or 0
        session.add(Assignment(worker_id=p.worker_id, area_code=p.area_code, role=AssignmentRole(p.role),
                               rank=p.rank, started_at=now))
    live = sa.select(Area.code).where(valid_in(Area, generation))
    ended += session.execute(
        sa.update(Assignment).where(Assignment.ended_at.is_(None), Assignment.area_code.not_in(live)).values(ended_at=now)
    ).rowcount or 0
    session.flush()
    return {"started": len(planned), "ended": ended}


def unstaffed_grids(session: Session, *, generation: int) -> list[str]:
    """Grids of ``generation`` with no primary worker, counting the running assignments of
    their codes and those planned for ``generation``."""
    running = sa.select(Assignment.area_code).where(Assignment.role == AssignmentRole.primary,
                                                    Assignment.ended_at.is_(None))
    planned = sa.select(DraftAssignment.area_code).where(DraftAssignment.generation_id == generation,
                                                         DraftAssignment.role == AssignmentRole.primary.value)
    return list(session.scalars(
        sa.select(Area.code).where(Area.level == AreaLevel.grid, valid_in(Area, generation),
                                   Area.code.not_in(running), Area.code.not_in(planned)).order_by(Area.code)
    ))
