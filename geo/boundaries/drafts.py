"""The one draft generation (MapIt's rule: at most one): creating it from the active
generation, reading its levels, writing area versions into it, discarding it.

A row valid in the active generation is *carried* into the draft by extending its
``generation_high``; changing an area in the draft ends the carried row at the generation
the draft was based on and inserts a new version valid in the draft only, so the active
generation never changes under its users. Rows that exist only in the draft are edited in
place.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import shapely
import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.boundaries.export import COLUMNS
from geo.boundaries.generations import active_generation_id, carry_forward, create_generation, rebuild_pieces
from geo.errors import GenerationNotFound, InvalidState
from geo.models import Area, AreaLevel, AreaPiece, Generation, GenerationStatus



DRAFT_LOCK = 0x64726166  # "draf": creating the one draft (two first imports at once make one)


def lock_drafts(session: Session) -> None:
    """Serialise creating a draft (until the transaction ends)."""
    session.execute(sa.select(sa.func.pg_advisory_xact_lock(DRAFT_LOCK)))


def current_draft(session: Session, *, lock: bool = False) -> Generation | None:
    """The draft generation, if there is one (``lock``: FOR UPDATE, for writers)."""
    q = sa.select(Generation).where(Generation.status == GenerationStatus.draft)
    return session.scalars(q.with_for_update() if lock else q).first()


def require_draft(session: Session, *, generation: int | None = None, lock: bool = False) -> Generation:
    """The draft (``generation`` when given, which must be it). Raises GenerationNotFound /
    InvalidState with the next step."""
    draft = current_draft(session, lock=lock)
    if generation is not None and (draft is None or draft.id != generation):
        gen = session.get(Generation, generation)
        if gen is None:
            raise GenerationNotFound(f"generation {generation} does not exist", generation=generation)
        raise InvalidState(f"generation {generation} is {gen.status.value}, not the draft", generation=generation)
    if draft is None:
        raise InvalidState("there is no draft: import a boundary file first (gridmap boundaries import FILE)")
    return draft


def ensure_draft(session: Session, *, actor: str, description: str | None = None) -> Generation:
    """The draft, created from the active generation (every area carried) when there is none."""
    lock_drafts(session)
    draft = current_draft(session, lock=True)
    if draft is not None:
        if description:
            draft.description = description
        return draft
    active = active_generation_id(session)
    draft = create_generation(session, description=description or "")
    draft.created_by = actor
    carry_forward(session, from_generation=active, to_generation=draft.id)
    return draft


@dataclass(frozen=True)
class AreaVersion:
    """What an area should be in the draft (geometry a valid MultiPolygon on the 1e-7° grid)."""

    code: str
    level: AreaLevel
    name: str
    kind: str | None
    parent_code: str | None
    households: int
    population: int
    estimated: bool
    geometry: object

    def same_as(self, row) -> bool:
        """True when ``row`` (a ``level_frame`` row as a named tuple) already holds exactly this."""
        return (all(getattr(self, c) == (getattr(row, c) if c != "level" else AreaLevel(row.level)) for c in COLUMNS)
                and bool(shapely.equals_exact(shapely.normalize(self.geometry), shapely.normalize(row.geometry), 0)))


def write_versions(session: Session, *, draft: Generation, current: gpd.GeoDataFrame,
                   versions: list[AreaVersion], removed: list[str], base: gpd.GeoDataFrame | None = None) -> int:
    """Make the draft hold ``versions`` for their codes and nothing for ``removed`` codes,
    given ``current`` (the level's ``level_frame`` in the draft). Unchanged versions cost
    nothing; a version equal to the row of the generation the draft is based on (``base``,
    its ``level_frame``) that an earlier import had replaced gets that row back, carried.
    Returns the number of rows written or ended."""
    by_code = {r.code: r for r in current.itertuples(index=False)}
    base_rows = {} if base is None else {r.code: r for r in base.itertuples(index=False)}
    based_on = draft.based_on
    end_ids, delete_ids, revive_ids = [], [], []
    inserts = []
    for v in versions:
        row = by_code.get(v.code)
        if row is not None and v.same_as(row):
            continue
        if row is not None:
            (end_ids if row.generation_low < draft.id else delete_ids).append(row.id)
        old = base_rows.get(v.code)
        if old is not None and (row is None or row.id != old.id) and v.same_as(old):
            revive_ids.append(old.id)
            continue
        inserts.append(v)
    for code in removed:
        row = by_code[code]
        (end_ids if row.generation_low < draft.id else delete_ids).append(row.id)
    if end_ids:
        session.execute(sa.update(Area).where(Area.id.in_(end_ids)).values(generation_high=based_on))
        session.execute(sa.update(AreaPiece).where(AreaPiece.area_id.in_(end_ids)).values(generation_high=based_on))
    if delete_ids:
        session.execute(sa.delete(Area).where(Area.id.in_(delete_ids)))
    if revive_ids:
        session.execute(sa.update(Area).where(Area.id.in_(revive_ids)).values(generation_high=draft.id))
        session.execute(sa.update(AreaPiece).where(AreaPiece.area_id.in_(revive_ids)).values(generation_high=draft.id))
    if inserts:
        ids = session.scalars(sa.insert(Area).returning(Area.id), [
            {"code": v.code, "level": v.level, "name": v.name, "kind": v.kind, "parent_code": v.parent_code,
             "households": v.households, "population": v.population, "estimated": v.estimated,
             "geom": shapely.to_wkb(shapely.set_srid(v.geometry, 4326), hex=True, include_srid=True),
             "generation_low": draft.id, "generation_high": draft.id}
            for v in inserts
        ]).all()
        rebuild_pieces(session, area_ids=list(ids))
    return len(end_ids) + len(delete_ids) + len(revive_ids) + len(inserts)


def discard_draft(session: Session, *, generation: int | None = None) -> int:
    """Drop the draft: its own rows deleted, carried rows ended where they were, its planned
    assignments with it. Returns the draft's id. Raises InvalidState when there is none."""
    draft = require_draft(session, generation=generation, lock=True)
    gid, base = draft.id, draft.based_on
    session.execute(sa.delete(Area).where(Area.generation_low == gid))
    session.execute(sa.update(Area).where(Area.generation_high == gid).values(generation_high=base))
    session.execute(sa.update(AreaPiece).where(AreaPiece.generation_high == gid).values(generation_high=base))
    session.delete(draft)
    session.flush()
    return gid
