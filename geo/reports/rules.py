"""The rules of the closed loop: which action is legal from where. Pure data; the moves
themselves are ``geo.reports.workflow`` (and ``geo.departments.flow`` for the hops between
departments)."""

from __future__ import annotations

from dataclasses import dataclass

from geo.models import OPEN_STATUSES, Report, ReportStatus

S = ReportStatus


@dataclass(frozen=True)
class Rule:
    sources: frozenset[ReportStatus]
    target: ReportStatus | None  # None: the status does not change, or the move decides it


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
    # To a department or another worker (geo.departments.flow): dispatched, except a hand-over
    # inside the department holding the case, which keeps its status.
    "transfer": Rule(OPEN, None),
    # By the department holding the case: it takes it on (status unchanged) ...
    "accept": Rule(frozenset({S.dispatched}), None),
    # ... or sends it back to the dispatcher, "not ours".
    "return": Rule(frozenset({S.dispatched, S.in_progress}), S.registered),
}
ACTIONS = tuple(RULES)
# Legal only while a department holds the case (accept: and has not accepted it yet).
HELD_ONLY = frozenset({"accept", "return"})


def legal(report: Report, action: str) -> bool:
    """Whether the loop allows ``action`` on ``report`` as it is now."""
    rule = RULES[action]
    if report.status not in rule.sources:
        return False
    if action in HELD_ONLY and report.department_code is None:
        return False
    return not (action == "accept" and report.department_accepted_at is not None)


def allowed_actions(report: Report) -> list[str]:
    """Actions that are legal on ``report`` now: from its status, and ``accept``/``return``
    only while a department holds it (``accept`` until it has). Empty for closed, rejected
    and duplicate cases."""
    return [a for a in RULES if legal(report, a)]
