"""Reading reports: filtered listings and the rates every command centre reports."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.access.privacy import below_public_area, public_area_condition, public_bbox_condition, sensitive_expr
from geo.boundaries.areas import BBox, get_area
from geo.boundaries.generations import valid_in
from geo.boundaries.hierarchy import PREFIX_LENGTH
from geo.errors import InvalidInput
from geo.models import OPEN_STATUSES, Area, AreaLevel, Report, ReportStatus

SOLVED = (ReportStatus.resolved, ReportStatus.closed)
NOT_CASES = (ReportStatus.rejected, ReportStatus.duplicate)


@dataclass(frozen=True)
class ReportFilter:
    """Which reports a listing, a count or a map takes (every field optional; all must hold)."""

    area_prefix: str | None = None  # from ``area_prefix()``: grid codes starting with it
    categories: tuple[str, ...] | None = None  # 2-digit codes (geo.reports.categories.parse_category); None: all
    status: ReportStatus | None = None
    statuses: tuple[ReportStatus, ...] | None = None  # any of these (e.g. OPEN_STATUSES)
    subcategory: str | None = None  # a 4-digit code
    since: datetime | None = None
    until: datetime | None = None
    bbox: BBox | None = None
    # False: the bbox tests each case's public location (a sensitive case's cell) and an area
    # below community level does not match sensitive cases (geo.access.privacy); only viewers who may
    # see every case where it is get the exact tests.
    exact: bool = False
    overdue: bool = False
    unassigned: bool = False
    filed_by: str | None = None
    statuses: tuple[ReportStatus, ...] | None = None  # any of these (Open311's open/closed: several)
    subcategories: tuple[str, ...] | None = None  # 4-digit codes
    ids: tuple[uuid.UUID, ...] | None = None  # only these reports

    def conditions(self, now: datetime | None = None) -> list:
        """The WHERE conditions; ``now`` (for ``overdue``, else unused) is when due times are compared."""
        if self.overdue and now is None:
            raise ValueError("overdue needs the time to compare due times with")
        conds = []
        if self.area_prefix and self.exact:
            conds.append(Report.grid_code.startswith(self.area_prefix, autoescape=True))
        elif self.area_prefix:
            conds.append(public_area_condition(Report.category, Report.grid_code, self.area_prefix))
        if self.categories is not None:
            conds.append(Report.category.in_(self.categories))
        if self.status:
            conds.append(Report.status == self.status)
        if self.statuses is not None:
            conds.append(Report.status.in_(self.statuses))
        if self.subcategory is not None:
            conds.append(Report.subcategory == self.subcategory)
        if self.since:
            conds.append(Report.reported_at >= self.since)
        if self.until:
            conds.append(Report.reported_at < self.until)
        if self.bbox and self.exact:
            conds.append(sa.func.ST_Intersects(Report.location, self.bbox.envelope()))
        elif self.bbox:
            conds.append(public_bbox_condition(Report.category, Report.location, self.bbox.envelope()))
        if self.overdue:
            conds += [Report.status.in_(OPEN_STATUSES), Report.due_at < now]
        if self.unassigned:
            conds.append(Report.grid_code.is_(None))
        if self.filed_by:
            conds.append(Report.filed_by == self.filed_by)
        if self.statuses is not None:
            conds.append(Report.status.in_(self.statuses))
        if self.subcategories is not None:
            conds.append(Report.subcategory.in_(self.subcategories))
        if self.ids is not None:
            conds.append(Report.id.in_(self.ids))
        return conds


def area_prefix(session: Session, *, code: str, generation: int) -> str | None:
    """The grid-code prefix selecting reports in area ``code`` (None for the whole city).

    Raises AreaNotFound for an unknown code.
    """
    area = get_area(session, code=code, generation=generation, with_geometry=False)
    return None if area.level == AreaLevel.city else code


# Past this many matches an exact count costs more than a page, and more with every year of
# history kept (20 M reports: 20 x the 1 M count): numberMatched is left out instead.
COUNT_CAP = 100_000


def count_matched(session: Session, conds: list, *, cap: int = COUNT_CAP) -> int | None:
    """How many reports match ``conds``, or None when more than ``cap``: the count stops after
    ``cap`` + 1 rows, so a listing costs the same however much history lies behind it."""
    capped = sa.select(sa.literal(1)).select_from(Report).where(*conds).limit(cap + 1).subquery()
    total = session.scalar(sa.select(sa.func.count()).select_from(capped)) or 0
    return total if total <= cap else None


def list_reports(
    session: Session, *, filters: ReportFilter, now: datetime, limit: int, offset: int = 0,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> tuple[list[Report], int | None]:
    """One page of reports matching ``filters``, newest first (ties by id), and the total
    matched (``count_matched``: None past ``COUNT_CAP``). ``after`` pages by key: the reports
    after (reported_at, id) in that order."""
    conds = filters.conditions(now)
    total = count_matched(session, conds)
    page = []
    if after is not None:
        at, rid = after
        page.append(sa.or_(Report.reported_at < at, sa.and_(Report.reported_at == at, Report.id > rid)))
    rows = session.scalars(
        sa.select(Report).where(*conds, *page).order_by(Report.reported_at.desc(), Report.id).limit(limit).offset(offset)
    )
    return list(rows), total


@dataclass(frozen=True)
class AreaStatsRow:
    code: str
    name: str | None
    total: int
    response_rate: float | None
    solved_rate: float | None
    satisfaction_rate: float | None
    overdue: int
    median_hours_to_close: float | None


def _ratio(num, den):
    return sa.cast(num, sa.Float) / sa.func.nullif(den, 0)


def area_stats(
    session: Session, *, level: AreaLevel, generation: int, now: datetime,
    since: datetime | None = None, until: datetime | None = None, categories: tuple[str, ...] | None = None,
    public: bool = False,
) -> list[AreaStatsRow]:
    """Per-area counts and rates for reports matched to grids (unassigned cases are excluded),
    of ``categories`` (2-digit codes; None: all).
    ``public``: per grid, sensitive cases are left out (their public area is the community).

    response rate = dispatched / all; solved rate = resolved or closed / all but rejected and
    duplicates; satisfaction = ratings of 4–5 / all ratings; median hours from report to close.
    """
    if level not in PREFIX_LENGTH:
        raise InvalidInput("level must be grid, community, street or district", field="level")
    code = sa.func.substr(Report.grid_code, 1, PREFIX_LENGTH[level]).label("code")
    conds = [Report.grid_code.is_not(None)]
    conds += ReportFilter(categories=categories, since=since, until=until).conditions(now)
    if public and below_public_area(PREFIX_LENGTH[level]):
        conds.append(sa.not_(sensitive_expr(Report.category)))
    is_case = Report.status.not_in(NOT_CASES)
    hours_to_close = sa.extract("epoch", Report.closed_at - Report.reported_at) / 3600.0
    agg = (
        sa.select(
            code,
            sa.func.count().label("total"),
            _ratio(sa.func.count().filter(Report.dispatched_at.is_not(None)), sa.func.count()).label("response_rate"),
            _ratio(sa.func.count().filter(Report.status.in_(SOLVED)), sa.func.count().filter(is_case)).label("solved_rate"),
            _ratio(sa.func.count().filter(Report.rating >= 4), sa.func.count(Report.rating)).label("satisfaction_rate"),
            sa.func.count().filter(Report.status.in_(OPEN_STATUSES), Report.due_at < now).label("overdue"),
            sa.func.percentile_cont(0.5).within_group(hours_to_close).filter(Report.closed_at.is_not(None))
            .label("median_hours"),
        )
        .where(*conds)
        .group_by(code)
        .subquery()
    )
    rows = session.execute(
        sa.select(agg, Area.name)
        .outerjoin(Area, sa.and_(Area.code == agg.c.code, valid_in(Area, generation)))
        .order_by(agg.c.code)
    ).all()
    return [
        AreaStatsRow(
            code=r.code, name=r.name, total=r.total,
            response_rate=_round(r.response_rate), solved_rate=_round(r.solved_rate),
            satisfaction_rate=_round(r.satisfaction_rate), overdue=r.overdue,
            median_hours_to_close=_round(r.median_hours, 2),
        )
        for r in rows
    ]


def _round(v, digits: int = 4):
    return None if v is None else round(float(v), digits)
