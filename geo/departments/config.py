"""A functional department as the city configuration declares it (``[[departments]]`` in
the city TOML): pure data and rules, no database."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from geo.reports.categories import BY_CODE, SUB_BY_CODE

CODE_PATTERN = r"^[a-z][a-z0-9_]{1,31}$"


def _known(codes: list[str] | dict[str, float], what: str) -> None:
    for code in codes:
        if code not in BY_CODE and code not in SUB_BY_CODE:
            raise ValueError(f"{what}: unknown category code {code!r}")


class Department(BaseModel):
    """One department. ``categories``: the 2-digit category or 4-digit subcategory codes it
    owns (a subcategory listed by one department wins over its category listed by another).
    ``time_limits_h``: its own hours from transfer, per category or subcategory code; a case
    of a code not listed gets ``default_time_limit_h``, else the city's limit for it.
    ``contact``: the staff_no of the department's desk, who receives transferred cases.
    ``escalation``: the staff_nos above the desk, in order; an overdue case climbs them, then
    goes to the city command centre."""

    code: str = Field(pattern=CODE_PATTERN)
    name_zh: str = Field(min_length=1, max_length=64)
    name_en: str = Field(min_length=1, max_length=128)
    categories: list[str] = Field(default_factory=list)
    time_limits_h: dict[str, float] = Field(default_factory=dict)
    default_time_limit_h: float | None = Field(None, gt=0)
    contact: str | None = Field(None, min_length=1, max_length=32)
    escalation: list[str] = Field(default_factory=list, max_length=3)

    @field_validator("categories")
    @classmethod
    def _categories(cls, v: list[str]) -> list[str]:
        _known(v, "categories")
        return v

    @field_validator("time_limits_h")
    @classmethod
    def _limits(cls, v: dict[str, float]) -> dict[str, float]:
        _known(v, "time_limits_h")
        if any(h <= 0 for h in v.values()):
            raise ValueError("time_limits_h: hours must be positive")
        return v

    def owns(self, category: str, subcategory: str | None) -> int:
        """How specifically this department owns the code: 2 by subcategory, 1 by category, 0 not."""
        if subcategory and subcategory in self.categories:
            return 2
        return 1 if category in self.categories else 0

    def time_limit_h(self, category: str, subcategory: str | None, *, city_limit_h: float) -> float:
        """Hours this department has for a case: its own limit (subcategory, then category),
        else its default, else ``city_limit_h``."""
        if subcategory and subcategory in self.time_limits_h:
            return self.time_limits_h[subcategory]
        if category in self.time_limits_h:
            return self.time_limits_h[category]
        return self.default_time_limit_h or city_limit_h
