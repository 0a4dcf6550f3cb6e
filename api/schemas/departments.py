"""Functional departments (the city configuration's ``[[departments]]``) and their figures."""

from __future__ import annotations

from pydantic import BaseModel, Field


class DepartmentOut(BaseModel):
    """One department as the city configures it (public: no staff numbers, no names of people)."""

    code: str = Field(description="What a transfer names (`department`).")
    name_zh: str
    name_en: str
    categories: list[str] = Field(description="The 2-digit category and 4-digit subcategory codes it owns.")
    default_time_limit_h: float | None = Field(description=(
        "Hours from a transfer for a case of a code not in time_limits_h (null: the city's limit for it)."))
    time_limits_h: dict[str, float] = Field(description="Its own hours from a transfer, per category or subcategory.")


class DepartmentStatsOut(BaseModel):
    """One department's figures over the window's transfers (``geo.departments.stats``)."""

    code: str
    name_zh: str
    name_en: str
    received: int = Field(description="Cases transferred to it in the window.")
    accepted: int = Field(description="Of those, cases it accepted.")
    returned: int = Field(description="Of those, cases it returned to the dispatcher (\"not ours\").")
    solved: int = Field(description="Of those, cases resolved while it held them.")
    overdue: int = Field(description="Open cases it holds that are past due now (whatever the window).")
    median_hours_to_close: float | None = Field(description="Median hours from its receiving a case to the close.")
    satisfaction_rate: float | None = Field(description="Ratings of 4–5 / all ratings, of the cases it solved.")
