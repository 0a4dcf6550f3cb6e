"""The hops of a case between the grid chain and the functional departments: ``transfer``,
``accept``, ``return``, and the escalation of a case a department holds.

``geo.reports.workflow.apply_transition`` calls these under the report's row lock, after it
has checked who may and that the loop allows the action; each changes the report and returns
the data of its trail event. The case keeps its id and its one trail through every hop.

Escalation of a department's case: level 0 is the department (its desk, or whoever it handed
the case to); levels 1..n are its ``escalation`` contacts in order (``escalated_to`` stays
NULL there: the contact is the assigned worker, and the trail's data names the staff_no);
level 4 is the city command centre, as on the grid chain (``escalated_to`` = the city's
code). A department with one contact climbs 0 → 1 → 4. Each level gets a full period of the
department's limit. A transfer to another holder and a return start the new holder's chain
from level 0 (the trail keeps the climb that came before).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.boundaries.generations import active_generation_id
from geo.cityconfig import CityConfig
from geo.departments.config import Department
from geo.errors import InvalidInput
from geo.models import Report, ReportStatus, Worker
from geo.reports.routing import ESCALATION_LEVELS, MAX_ESCALATION, escalation_code, lead_of

log = logging.getLogger("gridmap.departments")


@dataclass(frozen=True, slots=True)
class TransferTarget:
    """Where a transfer sends a case: ``department`` (None: a worker of the grid chain) and
    the ``worker`` who gets it (None: the department's desk is not a worker here)."""

    department: Department | None
    worker: Worker | None


def worker_by_staff_no(session: Session, staff_no: str | None) -> Worker | None:
    return session.scalar(sa.select(Worker).where(Worker.staff_no == staff_no)) if staff_no else None


def limit_h(config: CityConfig, department: Department | None, report: Report) -> float:
    """Hours the holder has for ``report``: the department's limit, else the city's."""
    city = config.time_limit_h(report.category, report.subcategory)
    if department is None:
        return city
    return department.time_limit_h(report.category, report.subcategory, city_limit_h=city)


def transfer_target(session: Session, *, config: CityConfig, department: str | None,
                    worker_id: int | None) -> TransferTarget:
    """The target of a transfer to ``department`` (its desk) or to ``worker_id`` (a worker on
    a department's staff takes the case into that department). Both: the worker must be on
    that department's staff. Raises InvalidInput (``department``, ``worker_id``)."""
    if department is None and worker_id is None:
        raise InvalidInput("a transfer names the department or the worker it goes to", field="department")
    dept = config.department(department) if department is not None else None
    if worker_id is None:
        desk = worker_by_staff_no(session, dept.contact)
        if desk is None:
            log.warning("department %s has no desk worker (contact %r): the case waits unassigned in its queue",
                        dept.code, dept.contact)
        return TransferTarget(dept, desk)
    worker = session.get(Worker, worker_id)
    if worker is None:
        raise InvalidInput(f"no worker {worker_id}", field="worker_id")
    if dept is None:
        dept = config.find_department(worker.department_code)
    elif worker.department_code != dept.code:
        raise InvalidInput(f"worker {worker_id} is not on the staff of {dept.code}", field="worker_id")
    return TransferTarget(dept, worker)


def transfer(report: Report, *, target: TransferTarget, config: CityConfig, now: datetime) -> dict:
    """Hand ``report`` to ``target``. To a department (or one of its staff): dispatched, held
    by it, not yet accepted, due after the department's limit. To a grid worker: dispatched,
    held by no department, due after the city's limit. A hand-over inside the department
    already holding the case keeps its status, acceptance and due time (a clock that restarted
    on every internal hand-over could be run down for ever). Raises InvalidInput (a transfer
    to the grid worker who already has the case)."""
    dept, worker = target.department, target.worker
    worker_id = worker.id if worker is not None else None
    if dept is not None and report.department_code == dept.code:
        report.assigned_worker_id = worker_id
        return {"department": dept.code, "worker_id": worker_id,
                "due_at": report.due_at.isoformat() if report.due_at else None, "within_department": True}
    if dept is None and report.department_code is None and worker_id == report.assigned_worker_id:
        raise InvalidInput(f"the case is already worker {worker_id}'s", field="worker_id")
    report.department_code = dept.code if dept is not None else None
    report.department_accepted_at = None
    report.assigned_worker_id = worker_id
    report.escalation_level, report.escalated_to = 0, None  # the new holder's chain starts at its bottom
    report.status = ReportStatus.dispatched
    report.dispatched_at = report.dispatched_at or now
    report.due_at = config.deadline(now, limit_h(config, dept, report))
    data = {"department": dept.code} if dept is not None else {}
    return {**data, "worker_id": worker_id, "due_at": report.due_at.isoformat()}


def accept(report: Report, *, now: datetime) -> dict:
    """The holding department takes the case on (its status does not change)."""
    report.department_accepted_at = now
    return {"department": report.department_code}


def give_back(report: Report) -> dict:
    """The holding department returns the case, "not ours": back to the dispatcher as
    registered (unassigned, no due time, the grid chain's level 0), ``return_count`` + 1."""
    code = report.department_code
    report.status = ReportStatus.registered
    report.department_code = report.department_accepted_at = None
    report.assigned_worker_id = report.due_at = None
    report.escalation_level, report.escalated_to = 0, None
    report.return_count += 1
    return {"department": code}


def escalate(session: Session, report: Report, *, config: CityConfig, now: datetime, note: str | None) -> dict:
    """One level up the chain of the department holding ``report`` (the caller has checked it
    is below the city): its next escalation contact, else the city command centre. A contact
    or centre that is not a worker here leaves the assignee as it was (logged)."""
    dept = config.find_department(report.department_code)
    contacts = dept.escalation if dept is not None else []
    level = report.escalation_level
    staff_no = None
    if level < len(contacts):
        new, staff_no = level + 1, contacts[level]
        worker, report.escalated_to, name = worker_by_staff_no(session, staff_no), None, "department"
    else:
        new = MAX_ESCALATION
        generation = report.generation_id or active_generation_id(session)
        report.escalated_to = escalation_code(session, grid_code=report.grid_code, level=new, generation=generation)
        worker = lead_of(session, area_code=report.escalated_to) if report.escalated_to else None
        name = ESCALATION_LEVELS[new]
    if worker is not None:
        report.assigned_worker_id = worker.id
    else:
        log.warning("case %s of %s escalated to level %d: nobody there is a worker (%s)", report.id,
                    report.department_code, new, staff_no or report.escalated_to)
    report.escalation_level = new
    report.due_at = config.deadline(now, limit_h(config, dept, report))
    return {"level": new, "level_name": name, "department": report.department_code, "staff_no": staff_no,
            "to": report.escalated_to, "worker_id": worker.id if worker is not None else None,
            "due_at": report.due_at.isoformat(), "note": note}


def missing_contacts(session: Session, *, config: CityConfig) -> list[str]:
    """One sentence per configured desk or escalation staff_no that is no worker here (a
    transfer to that department would wait unassigned; an escalation would leave the case
    with whoever had it). Empty when all are known."""
    wanted = [(d.code, "desk", d.contact) for d in config.departments if d.contact]
    wanted += [(d.code, f"escalation {i}", s) for d in config.departments for i, s in enumerate(d.escalation, 1)]
    if not wanted:
        return []
    known = set(session.scalars(sa.select(Worker.staff_no).where(Worker.staff_no.in_({s for _, _, s in wanted}))))
    return [f"department {code}: the {role} contact staff_no {s!r} is not a worker"
            for code, role, s in wanted if s not in known]
