"""The spatial extent of each level of a generation (what a catalogue of collections shows)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.boundaries.areas import BBox
from geo.boundaries.cache import GenerationCache
from geo.boundaries.generations import valid_in
from geo.models import Area, AreaLevel

_EXTENTS: GenerationCache[dict[AreaLevel, BBox]] = GenerationCache(size=8)


def level_extents(session: Session, *, generation: int) -> dict[AreaLevel, BBox]:
    """The lon/lat bounding box (EPSG:4326 degrees) of each level's areas valid in
    ``generation``; a level without areas is absent. Cached until the generation's areas
    change. Raises GenerationNotFound."""

    def build() -> dict[AreaLevel, BBox]:
        box = sa.func.ST_Extent(Area.geom)
        rows = session.execute(
            sa.select(Area.level, sa.func.ST_XMin(box), sa.func.ST_YMin(box), sa.func.ST_XMax(box),
                      sa.func.ST_YMax(box)).where(valid_in(Area, generation)).group_by(Area.level)
        ).all()
        return {r[0]: BBox(*(round(v, 7) for v in r[1:])) for r in rows}

    return _EXTENTS.get(session, generation=generation, build=build)
