"""The closed loop: registered → dispatched → in_progress → resolved → closed, plus rejected,
duplicate and escalation. Every change appends to the report's trail in the same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.cityconfig import CityConfig
from geo.errors import InvalidInput, InvalidState, NotFound
from geo.generations import active_generation_id
from geo.models import OPEN_STATUSES, Report, ReportEvent, ReportStatus, Worker
from geo.routing import ESCALATION_LEVELS, MAX_ESCALATION, escalation_code, lead_of

S = ReportStatus


class ReportNotFound(NotFound):
    code = "report_not_found"


class IllegalTransition(InvalidState):
    code = "illegal_transition"


@dataclass(frozen=True)
class Rule:
    sources: frozenset[ReportStatus]
    target: ReportStatus | None  # None: the status does not change (escalate)


OPEN = frozenset(OPEN_STATUSES)
RULES: dict[str, Rule] = {
    "dispatch": Rule(frozenset({S.registered}), S.dispatched),
    "start": Rule(frozenset({S.dispatched}), S.in_progress),
    "resolve": Rule(frozenset({S.dispatched, S.in_progress}), S.resolved),
    "close": Rule(frozenset({S.resolved}), S.closed),
    "reopen": Rule(frozenset({S.resolved}), S.in_progress),
    "reject": Rule(frozenset({S.registered, S.dispatched}), S.rejected),
    "mark_duplicate": Rule(OPEN, S.duplicate),
    "escalate": Rule(OPEN, None),
}
ACTIONS = tuple(RULES)


def allowed_actions(status: ReportStatus) -> list[str]:
    """Actions that are legal from ``status`` (empty for closed, rejected, duplicate)."""
    return [a for a, rule in RULES.items() if status in rule.sources]


def get_report(session: Session, *, report_id: uuid.UUID, for_update: bool = False) -> Report:
    report = session.get(Report, report_id, with_for_update=for_update)
    if report is None:
        raise ReportNotFound(f"no report {report_id}", report_id=str(report_id))
    return report


def trail(session: Session, *, report_id: uuid.UUID) -> list[ReportEvent]:
    """The report's events, oldest first."""
    return list(session.scalars(sa.select(ReportEvent).where(ReportEvent.report_id == report_id).order_by(ReportEvent.id)))


def _escalate(session: Session, report: Report, *, config: CityConfig, now: datetime, actor: str, note: str | None) -> dict:
    if report.escalation_level >= MAX_ESCALATION:
        raise IllegalTransition(
            "already at the city command centre; it cannot go higher", allowed=allowed_actions(report.status)
        )
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


def apply_transition(
    session: Session, *, report_id: uuid.UUID, action: str, actor: str, note: str | None = None,
    config: CityConfig, now: datetime, duplicate_of: uuid.UUID | None = None, worker_id: int | None = None,
) -> Report:
    """Apply ``action`` to a report under a row lock and append it to the trail.

    Raises ReportNotFound, IllegalTransition (409, with the allowed actions), InvalidInput.
    """
    if action not in RULES:
        raise InvalidInput(f"unknown action {action!r}; one of {', '.join(ACTIONS)}", field="action")
    report = get_report(session, report_id=report_id, for_update=True)
    rule = RULES[action]
    if report.status not in rule.sources:
        raise IllegalTransition(
            f"cannot {action} a report that is {report.status.value}",
            status=report.status.value, allowed=allowed_actions(report.status),
        )
    before = report.status
    data: dict = {}
    if action == "escalate":
        data = _escalate(session, report, config=config, now=now, actor=actor, note=note)
    elif action == "mark_duplicate":
        if duplicate_of is None:
            raise InvalidInput("mark_duplicate needs the original report's id", field="duplicate_of")
        if duplicate_of == report.id:
            raise InvalidInput("a report cannot duplicate itself", field="duplicate_of")
        get_report(session, report_id=duplicate_of)
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
    session.add(ReportEvent(report_id=report.id, at=now, action=action, actor=actor, note=note,
                            from_status=before.value, to_status=report.status.value, data=data))
    session.flush()
    return report


def escalate_overdue(session: Session, *, config: CityConfig, now: datetime, batch: int = 500) -> int:
    """Escalate every open, overdue case one level up the chain; returns how many moved.

    Rows locked by another escalator are skipped, so several processes may run this at once.
    """
    moved = 0
    while True:
        ids = list(session.scalars(
            sa.select(Report.id)
            .where(Report.status.in_(OPEN_STATUSES), Report.due_at < now, Report.escalation_level < MAX_ESCALATION)
            .order_by(Report.due_at)
            .limit(batch)
            .with_for_update(skip_locked=True)
        ))
        if not ids:
            return moved
        for rid in ids:
            apply_transition(session, report_id=rid, action="escalate", actor="system", note="overdue",
                             config=config, now=now)
        moved += len(ids)


class AlreadyRated(InvalidState):
    code = "already_rated"


def rate(session: Session, *, report_id: uuid.UUID, rating: int, comment: str | None, now: datetime) -> Report:
    """The reporter's satisfaction (1–5) after closure; once per report.

    Raises ReportNotFound, IllegalTransition (not closed), AlreadyRated, InvalidInput.
    """
    if not 1 <= rating <= 5:
        raise InvalidInput("must be 1 to 5", field="rating")
    report = get_report(session, report_id=report_id, for_update=True)
    if report.status != S.closed:
        raise IllegalTransition(f"only a closed report can be rated; this one is {report.status.value}",
                                status=report.status.value, allowed=allowed_actions(report.status))
    if report.rating is not None:
        raise AlreadyRated("this report was already rated", rating=report.rating)
    report.rating, report.rating_comment, report.rated_at, report.updated_at = rating, comment, now, now
    session.add(ReportEvent(report_id=report.id, at=now, action="rate", actor="reporter", note=comment,
                            from_status=S.closed.value, to_status=S.closed.value, data={"rating": rating}))
    session.flush()
    return report


def attach_photo(session: Session, *, report_id: uuid.UUID, url: str, config: CityConfig, now: datetime) -> Report:
    """Add a stored photo's URL to the report (once) and to its trail.

    Raises ReportNotFound, InvalidInput (field ``photo``) past the city's photo limit.
    """
    report = get_report(session, report_id=report_id, for_update=True)
    if url in report.photos:
        return report
    if len(report.photos) >= config.max_photos:
        raise InvalidInput(f"a report holds at most {config.max_photos} photos", field="photo")
    report.photos = [*report.photos, url]
    report.updated_at = now
    session.add(ReportEvent(report_id=report.id, at=now, action="photo", actor="reporter",
                            from_status=report.status.value, to_status=report.status.value, data={"url": url}))
    session.flush()
    return report
