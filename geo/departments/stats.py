"""Per-department figures (``GET /api/v1/stats?level=department``, the bulletin)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from geo.cityconfig import CityConfig


@dataclass(frozen=True, slots=True)
class DepartmentStats:
    """One department's figures over a window of transfers ([since, until)): cases it
    received (transfers to it), accepted, returned, solved (resolved or closed while it held
    them), overdue now (open, held by it, past due at ``now``), the median hours from its
    receiving a case to the case's close, and satisfaction (ratings of 4–5 / all ratings)
    of the cases it solved."""

    code: str
    name_zh: str
    name_en: str
    received: int
    accepted: int
    returned: int
    solved: int
    overdue: int
    median_hours_to_close: float | None
    satisfaction_rate: float | None


def department_stats(session: Session, *, config: CityConfig, now: datetime,
                     since: datetime | None = None, until: datetime | None = None) -> list[DepartmentStats]:
    """``DepartmentStats`` of every configured department (zeros for one without cases), in
    the configuration's order. Times are tz-aware; the window bounds transfers."""
    raise NotImplementedError("filled in by the departments work (issue 14)")
