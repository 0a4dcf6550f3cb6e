"""The closed loop: registered → dispatched → in_progress → resolved → closed, plus rejected,
duplicate and escalation, and the hops between departments (transfer, accept, return:
``geo.departments.flow``). Every change appends to the report's trail in the same transaction.
The rules (which action is legal from where) are ``geo.reports.rules``.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.access.roles import Principal, Role, may_move, may_rate, may_upload_photo
from geo.boundaries.generations import active_generation_id
from geo.cityconfig import CityConfig
from geo.errors import AlreadyRated, Forbidden, GridmapError, IllegalTransition, InvalidInput, ReportNotFound
from geo.models import OPEN_STATUSES, Report, ReportEvent, ReportStatus, Worker
from geo.departments import flow
from geo.reports.routing import ESCALATION_LEVELS, MAX_ESCALATION, escalation_code, lead_of
from geo.reports.rules import ACTIONS, RULES, allowed_actions, legal
from geo.reports.trail import TrailEvent, append_events
from geo.text import check_text

log = logging.getLogger("gridmap.workflow")

S = ReportStatus


def get_report(session: Session, *, report_id: uuid.UUID, for_update: bool = False) -> Report:
    """The report; with ``for_update`` row-locked and re-read, so a change made by another
    transaction before the lock is never overwritten by attributes loaded earlier.

    Raises ReportNotFound."""
    report = session.get(Report, report_id, with_for_update=for_update or None, populate_existing=for_update)
    if report is None:
        raise ReportNotFound(f"no report {report_id}", report_id=str(report_id))
    return report


def trail(session: Session, *, report_id: uuid.UUID) -> list[ReportEvent]:
    """The report's events, oldest first."""
    return list(session.scalars(sa.select(ReportEvent).where(ReportEvent.report_id == report_id).order_by(ReportEvent.id)))


def _escalate(session: Session, report: Report, *, config: CityConfig, now: datetime, note: str | None) -> dict:
    if report.escalation_level >= MAX_ESCALATION:
        raise IllegalTransition(
            "already at the city command centre; it cannot go higher", allowed=allowed_actions(report)
        )
    if report.department_code is not None:  # the department's own chain, then the city
        return flow.escalate(session, report, config=config, now=now, note=note)
    level = report.escalation_level + 1
    generation = report.generation_id or active_generation_id(session)
    target = escalation_code(session, grid_code=report.grid_code, level=level, generation=generation)
    lead = lead_of(session, area_code=target) if target else None
    report.escalation_level = level
    report.escalated_to = target
    if lead is not None:
        report.assigned_worker_id = lead.id
    # The new level gets a full period of its own to act.
    report.due_at = config.deadline(now, config.time_limit_h(report.category, report.subcategory))
    return {"level": level, "level_name": ESCALATION_LEVELS[level], "to": target,
            "worker_id": lead.id if lead else None, "due_at": report.due_at.isoformat(), "note": note}


def _lock_pair(session: Session, report_id: uuid.UUID, other_id: uuid.UUID) -> tuple[Report, Report | None]:
    """Lock two reports in id order (a crossed pair of requests then waits instead of
    deadlocking); returns (report, other or None when it does not exist)."""
    rows = {r.id: r for r in session.scalars(
        sa.select(Report).where(Report.id.in_(sorted({report_id, other_id}))).order_by(Report.id)
        .with_for_update().execution_options(populate_existing=True))}
    if report_id not in rows:
        raise ReportNotFound(f"no report {report_id}", report_id=str(report_id))
    return rows[report_id], rows.get(other_id)


def _replay(session: Session, report: Report, request_key: str | None) -> bool:
    """Whether this report's trail already holds the transition sent with ``request_key``."""
    if request_key is None:
        return False
    return session.scalar(sa.select(sa.literal(True)).where(
        ReportEvent.report_id == report.id, ReportEvent.data["request_key"].astext == request_key).limit(1)) is not None


def apply_transition(
    session: Session, *, report_id: uuid.UUID, action: str, actor: str, note: str | None = None,
    config: CityConfig, now: datetime, duplicate_of: uuid.UUID | None = None, worker_id: int | None = None,
    expected_level: int | None = None, request_key: str | None = None, by: Principal | None = None,
    department: str | None = None,
) -> Report:
    """Apply ``action`` to a report under a row lock and append it to the trail.

    ``expected_level``: the escalation level the caller saw; if the case has moved on, the
    call is refused (409) instead of escalating again, so a double submit escalates once.
    ``request_key`` (an Idempotency-Key): a repeat of a transition already applied with the
    same key changes nothing and returns the report as it is.
    ``by``: who asks (checked under the lock, ``geo.access.roles.may_move``: a worker moves
    only the cases assigned to them, department staff the cases their department holds); the
    trail records them beside ``actor``.
    ``transfer`` goes to ``department`` (a code) or ``worker_id``; it and ``return`` need a
    ``note`` (the reason). ``start`` or ``resolve`` of a case its department has not accepted
    yet records the acceptance first (a department working on a case has taken it on).
    Raises ReportNotFound, Forbidden, IllegalTransition (409, with the allowed actions), InvalidInput.
    """
    if action not in RULES:
        raise InvalidInput(f"unknown action {action!r}; one of {', '.join(ACTIONS)}", field="action")
    check_text(actor, field="actor")
    check_text(note, field="note")
    check_text(request_key, field="idempotency-key")
    if department is not None and action != "transfer":
        raise InvalidInput("only a transfer names a department", field="department")
    if action in ("transfer", "return") and not (note and note.strip()):
        raise InvalidInput(f"a {action} needs its reason", field="note")
    original = None
    if action == "mark_duplicate" and duplicate_of is not None and duplicate_of != report_id:
        report, original = _lock_pair(session, report_id, duplicate_of)
    else:
        report = get_report(session, report_id=report_id, for_update=True)
    target = flow.transfer_target(session, config=config, department=department, worker_id=worker_id) \
        if action == "transfer" else None
    to_department = target.department.code if target is not None and target.department is not None else None
    if by is not None and not may_move(by, report, action, to_department=to_department):
        raise Forbidden(f"a {by.role.value} may not {action} this case" + _scope_hint(by))
    if _replay(session, report, request_key):
        return report
    if expected_level is not None and expected_level != report.escalation_level:
        raise IllegalTransition(
            f"the case is at escalation level {report.escalation_level}, not {expected_level}: it has moved on",
            status=report.status.value, escalation_level=report.escalation_level,
            allowed=allowed_actions(report))
    if not legal(report, action):
        raise IllegalTransition(_why_not(report, action), status=report.status.value,
                                department=report.department_code, allowed=allowed_actions(report))
    rule = RULES[action]
    before = report.status
    events: list[TrailEvent] = []
    data: dict = {}
    if action in ("start", "resolve") and report.department_code is not None and report.department_accepted_at is None:
        events.append(TrailEvent(report.id, "accept", actor, before.value, before.value,
                                 {**flow.accept(report, now=now), "implied_by": action, **_by(by)}, at=now))
    if action == "escalate":
        data = _escalate(session, report, config=config, now=now, note=note)
    elif action == "transfer":
        data = flow.transfer(report, target=target, config=config, now=now)
    elif action == "accept":
        data = flow.accept(report, now=now)
    elif action == "return":
        data = flow.give_back(report)
    elif action == "mark_duplicate":
        if duplicate_of is None:
            raise InvalidInput("mark_duplicate needs the original report's id", field="duplicate_of")
        if duplicate_of == report.id:
            raise InvalidInput("a report cannot duplicate itself", field="duplicate_of")
        if original is None:
            raise ReportNotFound(f"no report {duplicate_of}", report_id=str(duplicate_of))
        if original.status == S.duplicate:
            raise IllegalTransition(
                f"report {duplicate_of} is itself a duplicate of {original.duplicate_of}: mark this one a "
                "duplicate of that report", duplicate_of=str(original.duplicate_of),
                allowed=allowed_actions(report))
        report.duplicate_of = duplicate_of
        data = {"duplicate_of": str(duplicate_of)}
    elif action == "dispatch":
        if worker_id is not None:
            if session.get(Worker, worker_id) is None:
                raise InvalidInput(f"no worker {worker_id}", field="worker_id")
            report.assigned_worker_id = worker_id
        if report.assigned_worker_id is None:
            raise InvalidInput("nobody to dispatch to: give worker_id", field="worker_id")
        report.dispatched_at = now
        report.due_at = config.deadline(now, config.time_limit_h(report.category, report.subcategory))
        data = {"worker_id": report.assigned_worker_id, "due_at": report.due_at.isoformat()}
    elif action == "resolve":
        report.resolved_at = now
    elif action == "reopen":
        report.resolved_at = None
    elif action == "close":
        report.closed_at = now
    if rule.target is not None:
        report.status = rule.target
    report.updated_at = now
    if request_key is not None:
        data["request_key"] = request_key
    data.update(_by(by))
    session.flush()
    events.append(TrailEvent(report.id, action, actor, before.value, report.status.value, data, note=note, at=now))
    append_events(session, events)
    return report


def _by(by: Principal | None) -> dict:
    """Who really did it, whatever the actor field says (token holders, admins, reporters)."""
    if by is not None and (by.token_id is not None or by.role in (Role.admin, Role.reporter)):
        return {"by": by.holder}
    return {}


def _scope_hint(by: Principal) -> str:
    if by.role != Role.worker:
        return ""
    if by.department_code is not None:
        return (f" (the staff of {by.department_code} move the cases it holds: accept, return, start, resolve, "
                "escalate, and transfer within the department; and the cases assigned to them)")
    return " (a grid worker moves only the cases assigned to them: start, resolve, escalate, transfer)"


def _why_not(report: Report, action: str) -> str:
    """Why the loop refuses ``action`` on ``report`` (for the 409's message)."""
    if report.status in RULES[action].sources:
        if report.department_code is None:
            return f"cannot {action} a case no department holds"
        return f"department {report.department_code} has already accepted this case"
    return f"cannot {action} a report that is {report.status.value}"


class EscalationRun(NamedTuple):
    moved: int  # cases escalated one level
    failed: list[uuid.UUID]  # cases that could not be read or moved (logged; the others went on)


def escalate_overdue(session: Session, *, config: CityConfig, now: datetime, batch: int = 500) -> EscalationRun:
    """Escalate every open, overdue case one level up the chain.

    Rows locked by another escalator are skipped, so several processes may run this at once.
    Each case moves under its own savepoint: one that cannot be read or moved is logged and
    left out, and never stops the others.
    """
    moved, failed = 0, []
    while True:
        ids = list(session.scalars(
            sa.select(Report.id)
            .where(Report.status.in_(OPEN_STATUSES), Report.due_at < now, Report.escalation_level < MAX_ESCALATION,
                   *([Report.id.not_in(failed)] if failed else []))
            .order_by(Report.due_at)
            .limit(batch)
            .with_for_update(skip_locked=True)
        ))
        if not ids:
            return EscalationRun(moved, failed)
        for rid in ids:
            try:
                with session.begin_nested():
                    apply_transition(session, report_id=rid, action="escalate", actor="system", note="overdue",
                                     config=config, now=now)
                moved += 1
            except (sa.exc.DBAPIError, GridmapError, ValueError, OverflowError) as exc:
                if isinstance(exc, sa.exc.OperationalError):
                    raise  # the database itself is in trouble: not this case's fault
                log.error("overdue case %s could not be escalated; the others go on: %s", rid, exc)
                session.expunge_all()  # nothing half-loaded from the failed case is reused
                failed.append(rid)


def rate(session: Session, *, report_id: uuid.UUID, rating: int, comment: str | None, now: datetime,
         by: Principal | None = None) -> Report:
    """The reporter's satisfaction (1–5) after closure; once per report. ``by``: the reporter
    (their case token) or a dispatcher recording it for them.

    Raises ReportNotFound, Forbidden, IllegalTransition (not closed), AlreadyRated, InvalidInput.
    """
    if not 1 <= rating <= 5:
        raise InvalidInput("must be 1 to 5", field="rating")
    check_text(comment, field="comment")
    report = get_report(session, report_id=report_id, for_update=True)
    if by is not None and not may_rate(by, report):
        raise Forbidden("only this case's reporter (with its case token) or a dispatcher may rate it")
    if report.status != S.closed:
        raise IllegalTransition(f"only a closed report can be rated; this one is {report.status.value}",
                                status=report.status.value, allowed=allowed_actions(report))
    if report.rating is not None:
        raise AlreadyRated("this report was already rated", rating=report.rating)
    report.rating, report.rating_comment, report.rated_at, report.updated_at = rating, comment, now, now
    actor, who = _reporter_or_staff(by)
    session.flush()
    append_events(session, [TrailEvent(report.id, "rate", actor, S.closed.value, S.closed.value,
                                       {"rating": rating, **who}, note=comment, at=now)])
    return report


def _reporter_or_staff(by: Principal | None) -> tuple[str, dict]:
    """The trail's actor for a step the reporter usually takes (a rating, a photo): the
    reporter, or staff acting for them; and who it really was, for the event's data."""
    reporter = by is None or by.role in (Role.reporter, Role.public)
    return "reporter" if reporter else "staff", {"by": by.holder} if by is not None else {}


def lock_for_photo(session: Session, *, report_id: uuid.UUID, url: str, config: CityConfig,
                   by: Principal | None = None) -> tuple[Report, bool]:
    """Lock the report for adding the photo at ``url``; returns (report, already attached).
    Uploads to one report then run one at a time, so the limit holds however many arrive at
    once. Raises ReportNotFound, Forbidden, InvalidInput (field ``photo``) past the limit."""
    report = get_report(session, report_id=report_id, for_update=True)
    if by is not None and not may_upload_photo(by, report):
        raise Forbidden("only this case's reporter (with its case token), its worker or a dispatcher may add photos")
    if url in report.photos:
        return report, True
    if len(report.photos) >= config.max_photos:
        raise InvalidInput(f"a report holds at most {config.max_photos} photos", field="photo")
    return report, False


def add_photo(session: Session, *, report: Report, url: str, now: datetime, by: Principal | None = None) -> Report:
    """Add the stored photo at ``url`` to ``report`` (locked by ``lock_for_photo`` in this
    transaction, which also checked who may and the limit) and to its trail."""
    report.photos = [*report.photos, url]
    report.updated_at = now
    actor, who = _reporter_or_staff(by)
    session.flush()
    append_events(session, [TrailEvent(report.id, "photo", actor, report.status.value, report.status.value,
                                       {"url": url, **who}, at=now)])
    return report
