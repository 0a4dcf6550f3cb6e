"""The city's functional departments (多部门联动): what a transfer can name."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CityConfigDep
from api.schemas.departments import DepartmentOut

router = APIRouter(tags=["reports"])


@router.get("/departments", response_model=list[DepartmentOut], summary="The functional departments")
def get_departments(config: CityConfigDep):
    """The departments a case can be transferred to, in the configuration's order: their codes,
    names, the categories they own and their time limits (hours from the transfer)."""
    return [DepartmentOut(code=d.code, name_zh=d.name_zh, name_en=d.name_en, categories=list(d.categories),
                          default_time_limit_h=d.default_time_limit_h, time_limits_h=dict(d.time_limits_h))
            for d in config.departments]
