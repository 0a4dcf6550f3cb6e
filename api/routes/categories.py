"""The category catalogue with this city's time limits."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CityConfigDep
from api.schemas.reports import CategoryOut
from geo.reports.categories import CATALOGUE

router = APIRouter(tags=["reports"])


@router.get("/categories", response_model=list[CategoryOut], summary="The category catalogue and time limits")
def get_categories(config: CityConfigDep):
    """Classes and subclasses with Chinese and English names and time limits (hours from dispatch)."""
    return [
        CategoryOut(
            code=c.code, key=c.key, group=c.group, name_zh=c.name_zh, name_en=c.name_en,
            time_limit_h=config.time_limit_h(c.code, None),
            subcategories=[
                {"code": s.code, "name_zh": s.name_zh, "name_en": s.name_en,
                 "time_limit_h": config.time_limit_h(c.code, s.code)}
                for s in c.subcategories
            ],
        )
        for c in CATALOGUE
    ]
