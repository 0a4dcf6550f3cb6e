"""Assembling response schemas from domain rows (shared by several routes)."""

from __future__ import annotations

from dataclasses import asdict

import orjson
from sqlalchemy.orm import Session

from api.schemas import AreaDetailFeature, AreaDetailProperties, AreaProperties, PathItem, PublicWorkerOut
from geo.boundaries.areas import area_path, area_workers, get_area
from geo.readmodels import AreaRow


def area_properties(r: AreaRow) -> AreaProperties:
    return AreaProperties(
        code=r.code, name=r.name, level=r.level.value, parent_code=r.parent_code,
        households=r.households, population=r.population, kind=r.kind,
    )


def area_detail_feature(session: Session, *, code: str, generation: int) -> AreaDetailFeature:
    """The area as a Feature with its path up to the city and its current workers."""
    area = get_area(session, code=code, generation=generation)
    path = area_path(session, code=code, generation=generation)
    workers = area_workers(session, codes=[code])[code]
    props = AreaDetailProperties(
        **area_properties(area).model_dump(),
        generation=generation,
        path=[PathItem(code=p.code, name=p.name, level=p.level.value) for p in path],
        workers=[PublicWorkerOut(**asdict(w)) for w in workers],
    )
    geometry = orjson.loads(area.geometry_json) if area.geometry_json else None
    return AreaDetailFeature(id=area.code, geometry=geometry, properties=props)
