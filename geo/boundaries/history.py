"""Generations over time and one grid's story: its versions, what it was drawn from, and —
for a retired code, printed on QR signs — the grids that succeeded it.

Lineage is by overlap: a version's predecessors are the differently coded areas of the
generation it was drawn against whose area it covers by more than ``LINEAGE_SHARE``; a retired
code's successors are the current areas covering its last polygon by more than that share.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from geo.boundaries.generations import active_generation_id, valid_in
from geo.errors import AreaNotFound, GenerationNotFound
from geo.models import Area, AreaLevel, Generation
from geo.spatial import GEOGRAPHY

LINEAGE_SHARE = 0.01  # 1 % of the other area: less is a moved edge, not a grid drawn from it


def generation_history(session: Session, *, generation: int | None = None) -> list[dict]:
    """Every generation, newest first: status, description, who created/activated it and
    when, its schedule, and per level how many areas it added, reshaped, updated (same
    shape) and removed against the generation it was based on. ``generation``: that one only
    (GenerationNotFound when it does not exist)."""
    q = sa.select(Generation).order_by(Generation.id.desc())
    gens = session.scalars(q if generation is None else q.where(Generation.id == generation)).all()
    if generation is not None and not gens:
        raise GenerationNotFound(f"generation {generation} does not exist", generation=generation)
    out = []
    for g in gens:
        base = g.based_on
        counts: dict[str, dict[str, int]] = {}
        if base is None:
            for level, n in session.execute(sa.select(Area.level, sa.func.count()).where(valid_in(Area, g.id))
                                            .group_by(Area.level)).all():
                counts[level.value] = {"added": n}
        else:
            new, old = aliased(Area), aliased(Area)
            was = sa.select(Area.code).where(valid_in(Area, base))
            now_ = sa.select(Area.code).where(valid_in(Area, g.id))
            for level, n in session.execute(
                sa.select(new.level, sa.func.count()).where(new.generation_low == g.id, new.generation_high >= g.id,
                                                            new.code.not_in(was)).group_by(new.level)).all():
                counts.setdefault(level.value, {})["added"] = n
            # A new version of a code: reshaped when more than 1 m² changed hands, else updated
            # (the same shape with new shared vertices, or new households or names).
            moved = sa.func.ST_Area(sa.cast(sa.func.ST_SymDifference(new.geom, old.geom), GEOGRAPHY)) > 1.0
            for level, reshaped, n in session.execute(
                sa.select(new.level, moved, sa.func.count())
                .join(old, sa.and_(old.code == new.code, valid_in(old, base), old.id != new.id))
                .where(new.generation_low == g.id, new.generation_high >= g.id)
                .group_by(new.level, moved)).all():
                counts.setdefault(level.value, {})["reshaped" if reshaped else "updated"] = n
            for level, n in session.execute(
                sa.select(Area.level, sa.func.count()).where(valid_in(Area, base), Area.code.not_in(now_))
                .group_by(Area.level)).all():
                counts.setdefault(level.value, {})["removed"] = n
        out.append({
            "id": g.id, "status": g.status.value, "description": g.description, "based_on": base,
            "created_at": g.created_at, "created_by": g.created_by, "activated_at": g.activated_at,
            "activated_by": g.activated_by, "scheduled_at": g.scheduled_at, "scheduled_by": g.scheduled_by,
            "counts": counts, "summary": g.summary or {},
        })
    return out


def _overlapping(session: Session, *, row: Area, generation: int, exclude_code: bool) -> list[dict]:
    """Areas of ``row``'s level in ``generation`` that share more than LINEAGE_SHARE of their
    area (or of ``row``'s) with it, with the shares."""
    other = aliased(Area)
    geom = sa.select(Area.geom).where(Area.id == row.id).scalar_subquery()
    inter = sa.func.ST_Area(sa.cast(sa.func.ST_Intersection(other.geom, geom), GEOGRAPHY))
    rows = session.execute(
        sa.select(other.code, other.name, inter.label("m2"),
                  sa.func.ST_Area(sa.cast(other.geom, GEOGRAPHY)).label("area"))
        .where(other.level == row.level, valid_in(other, generation), other.geom.op("&&")(geom),
               sa.func.ST_Intersects(other.geom, geom), *([other.code != row.code] if exclude_code else []))
        .order_by(other.code)
    ).all()
    mine = session.scalar(sa.select(sa.func.ST_Area(sa.cast(geom, GEOGRAPHY))))
    return [{"code": r.code, "name": r.name, "share_of_it": round(r.m2 / r.area, 4), "share_of_this": round(r.m2 / mine, 4)}
            for r in rows if r.area and (r.m2 / r.area > LINEAGE_SHARE or r.m2 / mine > LINEAGE_SHARE)]


def area_history(session: Session, *, code: str, include_draft: bool = False) -> dict:
    """One code's versions across generations (oldest first) with what each new version was
    drawn from, and, when the code is no longer current, its successors. Only what the
    active generation and earlier ones held (public), unless ``include_draft`` (planners).
    Raises AreaNotFound."""
    active = active_generation_id(session)
    q = sa.select(Area).where(Area.code == code).order_by(Area.generation_low)
    if not include_draft:
        q = q.where(Area.generation_low <= active)
    versions = session.scalars(q).all()
    if not versions:
        raise AreaNotFound(f"no area has ever had the code {code}", code=code)
    out = []
    for v in versions:
        base = session.scalar(sa.select(Generation.based_on).where(Generation.id == v.generation_low))
        out.append({
            "generation_low": v.generation_low, "generation_high": v.generation_high, "name": v.name,
            "level": v.level.value, "parent_code": v.parent_code, "households": v.households,
            "population": v.population, "estimated": v.estimated,
            "area_m2": round(float(session.scalar(sa.select(sa.func.ST_Area(sa.cast(Area.geom, GEOGRAPHY)))
                                                  .where(Area.id == v.id))), 1),
            "drawn_from": [] if base is None else _overlapping(session, row=v, generation=base, exclude_code=False),
        })
    current = any(v.generation_low <= active <= v.generation_high for v in versions)
    last = next((v for v in reversed(versions) if v.generation_low <= active), versions[-1])
    return {"code": code, "level": last.level.value, "current": current, "versions": out,
            "successors": [] if current else _overlapping(session, row=last, generation=active, exclude_code=True)}


def successor_codes(session: Session, *, code: str, level: AreaLevel = AreaLevel.grid) -> list[str]:
    """The current codes that succeeded a retired ``code`` (empty when it is current or unknown)."""
    try:
        story = area_history(session, code=code)
    except AreaNotFound:
        return []
    if story["current"] or story["level"] != level.value:
        return []
    return [s["code"] for s in sorted(story["successors"], key=lambda s: -s["share_of_it"])]
