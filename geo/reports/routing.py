"""Who handles a case: the grid's worker, the backups, and the escalation chain above the grid.

Codes nest by prefix: a grid's community is its first 12 digits, street 9, district 6; the
city is the district's parent. Escalation level 0 = grid, 1 = community, 2 = street,
3 = district, 4 = city command centre.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from geo.boundaries.generations import valid_in
from geo.boundaries.hierarchy import LEVEL_ORDER, PREFIX_LENGTH
from geo.models import Area, AreaLevel, Assignment, AssignmentRole, Worker, WorkerRole
from geo.rosters.rules import DutyClock, leave_cover_expr, on_duty_expr

# Escalation climbs the hierarchy from the grid (level 0) to the city command centre.
ESCALATION_LEVELS = tuple(level.value for level in reversed(LEVEL_ORDER))
MAX_ESCALATION = len(ESCALATION_LEVELS) - 1
_PREFIX = {n: PREFIX_LENGTH[AreaLevel(name)] for n, name in enumerate(ESCALATION_LEVELS) if 0 < n < MAX_ESCALATION}


def escalation_codes(grid_code: str, *, city_code: str | None) -> tuple[str | None, ...]:
    """The area code at each escalation level (0 grid, 1 community … 4 city) above
    ``grid_code``: prefixes of the code, then ``city_code``. No database."""
    return (grid_code, *(grid_code[:_PREFIX[n]] for n in sorted(_PREFIX)), city_code)


def escalation_code(session: Session, *, grid_code: str | None, level: int, generation: int) -> str | None:
    """The area code responsible at escalation ``level`` for a case in ``grid_code`` (an
    unassigned case, ``grid_code`` None, goes to the city above the grid level)."""
    if level == 0:
        return grid_code
    if grid_code and level < MAX_ESCALATION:
        return escalation_codes(grid_code, city_code=None)[level]
    district = grid_code[: PREFIX_LENGTH[AreaLevel.district]] if grid_code else None
    query = sa.select(Area.parent_code if district else Area.code).where(valid_in(Area, generation))
    query = query.where(Area.code == district) if district else query.where(Area.level == AreaLevel.city)
    return session.scalar(query.order_by(Area.code).limit(1))


def _current(role: AssignmentRole, param: str):
    """Assignments of ``role`` still running, for the area codes in the array parameter ``param``."""
    codes = sa.bindparam(param, type_=ARRAY(sa.String))
    return sa.and_(Assignment.role == role, Assignment.area_code == sa.any_(codes), Assignment.ended_at.is_(None))


@dataclass(frozen=True, slots=True)
class Responsible:
    """The worker a case goes to, as intake and dispatch need them (``phone`` is personal
    data: shown to staff only). A plain row, not an ORM object: intake looks these up on
    every pass, and loading ORM instances cost more than the query."""

    id: int
    public_name: str
    role: WorkerRole
    on_duty: bool
    phone: str | None

    @classmethod
    def of(cls, worker) -> Responsible:
        """From a ``Worker`` or any row with the same attribute names."""
        return cls(worker.id, worker.public_name, worker.role, worker.on_duty, worker.phone)


@lru_cache(maxsize=2)
def _candidates_statement(rostered: bool) -> sa.Select:
    # Built once with array parameters: intake calls this on every pass, and building the
    # statement cost more than running it. ``rostered``: duty by the roster rule at the
    # clock's bind parameters (geo.rosters.rules), and each worker's current leave cover;
    # otherwise the stored flag (as of the last refresh_duty).
    base = (
        sa.select(Worker.id, Worker.public_name, Worker.role, Worker.on_duty, Worker.phone,
                  Assignment.area_code, Assignment.role.label("assignment"), Assignment.rank)
        .join(Assignment, Assignment.worker_id == Worker.id)
        .where(
            sa.or_(
                _current(AssignmentRole.primary, "grids"),
                _current(AssignmentRole.backup, "grids"),
                _current(AssignmentRole.lead, "leads"),
            )
        )
    )
    if not rostered:
        return base.add_columns(sa.null().label("cover_id"))
    # The candidates first, planned as before rosters (materialized: otherwise the planner,
    # costing the rule's subqueries, may scan every assignment against the grid arrays), then
    # the rule once per distinct worker (a grid's worker is also the next grid's backup, a
    # community lead every grid's last resort).
    c = base.cte("candidates").prefix_with("MATERIALIZED")
    people = sa.select(c.c.id, c.c.on_duty).distinct().subquery("people")
    judged = (sa.select(people.c.id, on_duty_expr(people.c.id, people.c.on_duty).label("on_duty"))
              .cte("judged").prefix_with("MATERIALIZED"))
    # The cover of a leave matters only to those off duty (looked up for them alone).
    duty = sa.select(judged.c.id, judged.c.on_duty, sa.case((judged.c.on_duty, sa.null()),
                                                            else_=leave_cover_expr(judged.c.id)).label("cover_id")
                     ).subquery("duty")
    return (sa.select(c.c.id, c.c.public_name, c.c.role, duty.c.on_duty, c.c.phone, c.c.area_code, c.c.assignment,
                      c.c.rank, duty.c.cover_id)
            .join(duty, duty.c.id == c.c.id))


@lru_cache(maxsize=1)
def _covers_statement() -> sa.Select:
    return (sa.select(Worker.id, Worker.public_name, Worker.role, on_duty_expr().label("on_duty"), Worker.phone)
            .where(Worker.id == sa.any_(sa.bindparam("ids", type_=ARRAY(sa.BigInteger)))))


_ORDER = {AssignmentRole.primary: 0, AssignmentRole.backup: 1, AssignmentRole.lead: 2}


def _candidates(session: Session, *, grids: list[str], leads: list[str], clock: DutyClock | None) -> dict[str, list]:
    """Candidate rows per area code, primary first, then backups, then leads; by rank, id; and
    under the key ``_COVERS`` the workers named to cover their leave now (by id). Two queries
    at most: the second only when an off-duty primary or lead has a named cover."""
    conn = session.connection()
    params = {"grids": grids, "leads": leads, **(clock.params() if clock else {})}
    rows = conn.execute(_candidates_statement(clock is not None), params).all()
    by_area: dict[str, list] = {}
    for r in sorted(rows, key=lambda r: (_ORDER[r.assignment], r.rank, r.id)):
        by_area.setdefault(r.area_code, []).append(r)
    wanted = sorted({r.cover_id for r in rows if r.cover_id is not None and not r.on_duty
                     and r.assignment != AssignmentRole.backup})
    covers = ({r.id: r for r in conn.execute(_covers_statement(), {"ids": wanted, **clock.params()})}
              if wanted and clock else {})
    by_area[_COVERS] = covers
    return by_area


_COVERS = "covers"  # not an area code (codes are digits)


def _covered(row, by_area: dict[str, list]):
    """``row`` itself, or when they are off duty on a leave naming an on-duty cover, the cover."""
    if row is None or row.on_duty or row.cover_id is None:
        return row
    cover = by_area[_COVERS].get(row.cover_id)
    return cover if cover is not None and cover.on_duty else row


def _pick(grid: str, by_area: dict[str, list]) -> Responsible | None:
    """The routing rule: the primary when on duty; else the colleague covering the primary's
    leave (on duty by the roster rule); else the first on-duty backup; else the community lead
    (or the cover of their leave), on duty or not: someone must own the case."""
    candidates = by_area.get(grid, [])
    primary = next((r for r in candidates if r.assignment == AssignmentRole.primary), None)
    pick = _covered(primary, by_area)
    if pick is None or not pick.on_duty:
        pick = next((r for r in candidates if r.on_duty and r.assignment == AssignmentRole.backup), None)
    pick = pick or _covered(next((r for r in by_area.get(grid[:_PREFIX[1]], [])
                                  if r.assignment == AssignmentRole.lead), None), by_area)
    return None if pick is None else Responsible.of(pick)


def responsible_workers(session: Session, *, grid_codes: list[str],
                        clock: DutyClock | None = None) -> dict[str, Responsible | None]:
    """For each grid: the one worker who gets a new case there (``_pick``), with duty judged by
    the roster at ``clock`` (``DutyClock.of(now, config.tz)``; None: the stored flag, as of the
    last ``refresh_duty``). One query for all grids (two when a leave with a cover matters)."""
    grids = sorted(set(grid_codes))
    if not grids:
        return {}
    communities = sorted({g[:_PREFIX[1]] for g in grids})
    by_area = _candidates(session, grids=grids, leads=communities, clock=clock)
    return {grid: _pick(grid, by_area) for grid in grids}


@dataclass(frozen=True, slots=True)
class GridContacts:
    """Who answers for one grid: the responsible worker, the first backup who is not them
    (on duty first), and the lead of each area code asked for (None where there is none)."""

    responsible: Responsible | None
    backup: Responsible | None
    leads: dict[str, Responsible | None]


def grid_contacts(session: Session, *, grid_code: str, lead_codes: list[str],
                  clock: DutyClock | None = None) -> GridContacts:
    """``GridContacts`` of ``grid_code`` and the leads of ``lead_codes`` (its community must
    be among them for the routing rule's last resort), duty judged at ``clock`` as in
    ``responsible_workers``; a lead on leave with an on-duty cover is shown as the cover."""
    by_area = _candidates(session, grids=[grid_code], leads=sorted(set(lead_codes)), clock=clock)
    responsible = _pick(grid_code, by_area)
    backups = sorted((r for r in by_area.get(grid_code, []) if r.assignment == AssignmentRole.backup
                      and (responsible is None or r.id != responsible.id)),
                     key=lambda r: (not r.on_duty, r.rank, r.id))
    leads = {code: _lead(by_area.get(code, []), by_area) for code in lead_codes}
    return GridContacts(responsible, Responsible.of(backups[0]) if backups else None, leads)


def _lead(rows: list, by_area: dict[str, list]) -> Responsible | None:
    pick = _covered(next((r for r in rows if r.assignment == AssignmentRole.lead), None), by_area)
    return None if pick is None else Responsible.of(pick)


def lead_of(session: Session, *, area_code: str, clock: DutyClock | None = None) -> Worker | None:
    """The current lead (contact) of a community, street, district or city; with ``clock``, a
    lead on leave then with a named cover on duty (the roster rule) hands over to the cover."""
    lead = session.scalar(
        sa.select(Worker)
        .join(Assignment, Assignment.worker_id == Worker.id)
        .where(_current(AssignmentRole.lead, "codes"))
        .order_by(Assignment.rank, Worker.id)
        .limit(1),
        {"codes": [area_code]},
    )
    if lead is None or clock is None:
        return lead
    row = session.execute(sa.select(on_duty_expr().label("on_duty"), leave_cover_expr().label("cover_id"))
                          .where(Worker.id == lead.id), clock.params()).one()
    if row.on_duty or row.cover_id is None:
        return lead
    cover_on_duty = session.scalar(sa.select(on_duty_expr()).where(Worker.id == row.cover_id), clock.params())
    return session.get(Worker, row.cover_id) if cover_on_duty else lead
