"""Assembling response schemas from domain rows (shared by several routes)."""

from __future__ import annotations

from dataclasses import asdict

import orjson
from sqlalchemy.orm import Session

from api.schemas import AreaDetailFeature, AreaDetailProperties, AreaProperties, PathItem, PublicWorkerOut
from geo.boundaries.areas import area_index, area_workers
from geo.readmodels import AreaRow


def area_properties(r: AreaRow) -> AreaProperties:
    return AreaProperties(
        code=r.code, name=r.name, level=r.level.value, parent_code=r.parent_code,
        households=r.households, population=r.population, kind=r.kind,
    )


def area_feature(area: AreaRow, *, path: list[AreaRow], workers, generation: int) -> AreaDetailFeature:
    """The area as a Feature with its path up to the city and its current workers."""
    props = AreaDetailProperties(
        **area_properties(area).model_dump(),
        generation=generation,
        path=[PathItem(code=p.code, name=p.name, level=p.level.value) for p in path],
        workers=[PublicWorkerOut(**asdict(w)) for w in workers],
    )
    geometry = orjson.loads(area.geometry_json) if area.geometry_json else None
    return AreaDetailFeature(id=area.code, geometry=geometry, properties=props)


def area_detail_feature(session: Session, *, code: str, generation: int) -> AreaDetailFeature:
    """``area_feature`` of ``code`` in ``generation``, from the cached area index. Raises AreaNotFound."""
    index = area_index(session, generation=generation)
    return area_feature(index.area(code), path=index.path(code), workers=area_workers(session, codes=[code])[code],
                        generation=generation)
