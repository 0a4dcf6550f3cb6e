"""Boundary generations (MapIt's model): draft → active → retired.

An area row is valid in generation ``g`` when ``generation_low <= g <= generation_high``.
Exactly one generation is active; activation is a single transaction.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.errors import GenerationNotFound, InvalidState, NoActiveGeneration
from geo.models import Area, AreaPiece, Generation, GenerationStatus


def valid_in(model, generation_id: int):
    """SQL predicate: rows of ``model`` (Area or AreaPiece) valid in ``generation_id``."""
    return sa.and_(model.generation_low <= generation_id, model.generation_high >= generation_id)


INTAKE_LOCK = 0x67726964  # "grid": the advisory lock between intake and activation


def hold_intake_lock(session: Session) -> None:
    """Intake's side of ``INTAKE_LOCK`` (shared, until the transaction ends): taken before
    reading the active generation to register reports, so an activation (exclusive, see
    ``geo.boundaries.activation``) never switches generations under a batch."""
    session.execute(sa.select(sa.func.pg_advisory_xact_lock_shared(INTAKE_LOCK)))


NO_ACTIVE_MESSAGE = "no boundary generation is active yet: load boundaries first (gridmap demo load)"


def active_generation_id(session: Session) -> int:
    """The id of the active generation. Raises NoActiveGeneration when none is (nothing loaded)."""
    gid = session.scalar(sa.select(Generation.id).where(Generation.status == GenerationStatus.active))
    if gid is None:
        raise NoActiveGeneration(NO_ACTIVE_MESSAGE)
    return gid


def resolve_generation(session: Session, *, generation: int | None) -> int:
    """``generation`` if it exists (any status), else the active one when ``None``."""
    if generation is None:
        return active_generation_id(session)
    if session.get(Generation, generation) is None:
        raise GenerationNotFound(f"generation {generation} does not exist", generation=generation)
    return generation


def create_generation(session: Session, *, description: str = "") -> Generation:
    """A new draft generation, drawn against the active one (``based_on``; None when none is
    active yet). Areas loaded into it stay invisible until it is activated."""
    active = session.scalar(sa.select(Generation.id).where(Generation.status == GenerationStatus.active))
    gen = Generation(status=GenerationStatus.draft, description=description, based_on=active)
    session.add(gen)
    session.flush()
    return gen


def carry_forward(session: Session, *, from_generation: int, to_generation: int, codes: list[str] | None = None) -> int:
    """Extend areas valid in ``from_generation`` into the draft ``to_generation`` unchanged.

    ``codes`` limits which areas are carried (None: all). Returns the number of rows carried.
    """
    draft = session.get(Generation, to_generation)
    if draft is None:
        raise GenerationNotFound(f"generation {to_generation} does not exist", generation=to_generation)
    if draft.status != GenerationStatus.draft:
        raise InvalidState(f"generation {to_generation} is {draft.status.value}, not draft")
    conds = [Area.generation_high == from_generation]
    if codes is not None:
        conds.append(Area.code.in_(codes))
    result = session.execute(sa.update(Area).where(*conds).values(generation_high=to_generation))
    session.execute(
        sa.update(AreaPiece)
        .where(AreaPiece.generation_high == from_generation, AreaPiece.area_id.in_(
            sa.select(Area.id).where(Area.generation_high == to_generation)
        ))
        .values(generation_high=to_generation)
    )
    return result.rowcount or 0


def activate_generation(session: Session, *, generation: int) -> Generation:
    """Make a draft generation the active one and retire the previous, in the caller's transaction.

    Raises GenerationNotFound, or InvalidState when the generation is not a draft.
    """
    gen = session.get(Generation, generation, with_for_update=True)
    if gen is None:
        raise GenerationNotFound(f"generation {generation} does not exist", generation=generation)
    if gen.status != GenerationStatus.draft:
        raise InvalidState(f"generation {generation} is {gen.status.value}; only a draft can be activated")
    session.execute(
        sa.update(Generation)
        .where(Generation.status == GenerationStatus.active)
        .values(status=GenerationStatus.retired)
    )
    # The partial unique index would reject a second active row if the retire above had not run.
    session.flush()
    gen.status = GenerationStatus.active
    gen.activated_at = sa.func.now()
    session.flush()
    session.refresh(gen)
    return gen


def rebuild_pieces(session: Session, *, generation: int | None = None, area_ids: list[int] | None = None,
                   max_vertices: int = 64) -> int:
    """(Re)build the ``ST_Subdivide`` lookup pieces of all areas, of those valid in
    ``generation``, or of the rows ``area_ids`` (a draft's new versions). Small boxes keep the
    point lookup's index selective. Returns the number of pieces written."""
    area_filter = [] if generation is None else [valid_in(Area, generation)]
    if area_ids is not None:
        area_filter.append(Area.id.in_(area_ids))
    session.execute(
        sa.delete(AreaPiece).where(AreaPiece.area_id.in_(sa.select(Area.id).where(*area_filter)))
    )
    pieces = sa.select(
        Area.id,
        Area.code,
        Area.level,
        Area.generation_low,
        Area.generation_high,
        sa.func.ST_Subdivide(Area.geom, max_vertices).label("geom"),
    ).where(*area_filter)
    result = session.execute(
        sa.insert(AreaPiece).from_select(
            ["area_id", "code", "level", "generation_low", "generation_high", "geom"], pieces
        )
    )
    return result.rowcount or 0
