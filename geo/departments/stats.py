"""Per-department figures (``GET /api/v1/stats?level=department``, the bulletin)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from geo.cityconfig import CityConfig
from geo.models import OPEN_STATUSES, Report, ReportEvent


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


def _spells(codes: list[str], since: datetime | None, until: datetime | None):
    """One row per reception (a transfer to one of ``codes`` in the window): the report, the
    event that started it and the one that ended it (the next transfer out or return of the
    same report; NULL while it lasts). A hand-over inside the department is not a boundary."""
    e = ReportEvent
    internal = sa.func.coalesce(e.data["within_department"].as_boolean(), sa.false())
    hops = (
        sa.select(e.id, e.report_id, e.at, e.action, e.data["department"].astext.label("department"),
                  sa.func.lead(e.id).over(partition_by=e.report_id, order_by=e.id).label("end_id"),
                  sa.func.lead(e.action).over(partition_by=e.report_id, order_by=e.id).label("end_action"))
        .where(sa.or_(e.action == "return", sa.and_(e.action == "transfer", sa.not_(internal))))
        .subquery("hops")
    )
    conds = [hops.c.action == "transfer", hops.c.department.in_(codes)]
    if since is not None:
        conds.append(hops.c.at >= since)
    if until is not None:
        conds.append(hops.c.at < until)
    return sa.select(hops).where(*conds).subquery("spells")


def _during(spells, action: str):
    """SQL: whether the report's trail holds ``action`` during each spell."""
    e = aliased(ReportEvent)
    return sa.exists().where(e.report_id == spells.c.report_id, e.action == action, e.id > spells.c.id,
                             sa.or_(spells.c.end_id.is_(None), e.id < spells.c.end_id))


def department_stats(session: Session, *, config: CityConfig, now: datetime,
                     since: datetime | None = None, until: datetime | None = None) -> list[DepartmentStats]:
    """``DepartmentStats`` of every configured department (zeros for one without cases), in
    the configuration's order. Times are tz-aware; the window bounds transfers.

    Read from the trail: each transfer to a department starts a reception, which lasts until
    the case's next transfer elsewhere or its return. Accepted, returned and solved count the
    receptions with an accept, ending in a return, with a resolve; the median time to close
    and the satisfaction are those of the solved receptions' cases that were closed, rated."""
    codes = [d.code for d in config.departments]
    if not codes:
        return []
    spells = _spells(codes, since, until)
    solved = _during(spells, "resolve")
    hours = sa.extract("epoch", Report.closed_at - spells.c.at) / 3600.0
    rows = {r.department: r for r in session.execute(
        sa.select(
            spells.c.department,
            sa.func.count().label("received"),
            sa.func.count().filter(_during(spells, "accept")).label("accepted"),
            sa.func.count().filter(spells.c.end_action == "return").label("returned"),
            sa.func.count().filter(solved).label("solved"),
            sa.func.percentile_cont(0.5).within_group(hours)
            .filter(solved, Report.closed_at.is_not(None)).label("median_hours"),
            sa.func.count().filter(solved, Report.rating >= 4).label("satisfied"),
            sa.func.count(Report.rating).filter(solved).label("rated"),
        )
        .join(Report, Report.id == spells.c.report_id)
        .group_by(spells.c.department)
    )}
    overdue = dict(session.execute(
        sa.select(Report.department_code, sa.func.count())
        .where(Report.department_code.in_(codes), Report.status.in_(OPEN_STATUSES), Report.due_at < now)
        .group_by(Report.department_code)
    ).all())
    out = []
    for d in config.departments:
        r = rows.get(d.code)
        out.append(DepartmentStats(
            code=d.code, name_zh=d.name_zh, name_en=d.name_en,
            received=r.received if r else 0, accepted=r.accepted if r else 0, returned=r.returned if r else 0,
            solved=r.solved if r else 0, overdue=overdue.get(d.code, 0),
            median_hours_to_close=round(float(r.median_hours), 2) if r and r.median_hours is not None else None,
            satisfaction_rate=round(r.satisfied / r.rated, 4) if r and r.rated else None,
        ))
    return out
