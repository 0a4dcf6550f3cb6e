"""Roles, permissions and the one table that joins them.

Roles: ``public`` (no token), ``reporter`` (the person who filed a case, holding its case
token), ``worker``, ``dispatcher``, ``planner``, ``admin`` (together: staff) and ``system``
(a 12345 hotline, a video-analytics feed). A worker's permissions over cases reach only the
cases assigned to them, and for the staff of a functional department (a worker with a
``department_code``) also the cases their department holds; a reporter's only their own
case; a system key's reading of filed reports only the ones it filed.

With no token configured at all (a local demo), anonymous callers may do everything except
read personal data and manage tokens: ``Principal.open``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import sqlalchemy as sa

from geo.access.privacy import is_sensitive
from geo.models import Report


class Role(str, enum.Enum):
    public = "public"
    reporter = "reporter"
    worker = "worker"
    dispatcher = "dispatcher"
    planner = "planner"
    admin = "admin"
    system = "system"


STAFF = frozenset({Role.worker, Role.dispatcher, Role.planner, Role.admin})
TOKEN_ROLES = (Role.worker, Role.dispatcher, Role.planner, Role.admin, Role.system)  # issued as api tokens


class Permission(str, enum.Enum):
    file_report = "reports:file"  # POST a report
    file_batch = "reports:file_batch"  # POST up to 10,000 at once
    read_reports = "reports:read"  # the public view of reports, listings and rates
    read_filed = "reports:read_filed"  # list the reports this token filed (?filed_by=me)
    read_personal = "reports:read_personal"  # reporter name/phone, exact location and text of sensitive cases, worker phones
    move_case = "reports:move"  # transitions of the closed loop
    rate_case = "reports:rate"  # the satisfaction rating of a closed case
    upload_photo = "reports:photo"  # attach a photo; see photos of sensitive cases
    report_position = "workers:position"  # a worker's phone reports where it is
    exact_positions = "workers:exact_positions"  # exact distances to workers in dispatch
    internal_maps = "maps:internal"  # command centre, hot-spot analysis, live feeds (exact points)
    full_history = "stats:full_history"  # windows of any length and precision (others: bounded, by day)
    change_boundaries = "boundaries:change"
    change_assignments = "assignments:change"
    manage_tokens = "tokens:manage"
    read_audit = "audit:read"
    manage_webhooks = "webhooks:manage"  # register and remove webhooks (a system: for its own filings)
    read_webhooks = "webhooks:read"  # webhooks and their delivery logs (a system: its own)


P = Permission
_EVERYONE = {P.file_report, P.read_reports}
# The table. Scoped entries: a worker reads personal data of, moves, and adds photos to the
# cases assigned to them only; a reporter rates and adds photos to their own case only; a
# system key lists only what it filed, and manages and reads only its own webhooks.
# Personal data: never planner, public or system.
PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.public: frozenset(_EVERYONE),
    Role.reporter: frozenset(_EVERYONE | {P.rate_case, P.upload_photo}),
    Role.worker: frozenset(_EVERYONE | {P.read_personal, P.move_case, P.upload_photo, P.report_position,
                                        P.exact_positions, P.internal_maps, P.full_history}),
    Role.dispatcher: frozenset(_EVERYONE | {P.file_batch, P.read_personal, P.move_case, P.rate_case, P.upload_photo,
                                            P.report_position, P.exact_positions, P.internal_maps, P.full_history,
                                            P.read_webhooks}),
    Role.planner: frozenset(_EVERYONE | {P.internal_maps, P.full_history, P.change_boundaries, P.change_assignments}),
    Role.admin: frozenset(set(Permission)),
    Role.system: frozenset(_EVERYONE | {P.file_batch, P.read_filed, P.manage_webhooks, P.read_webhooks}),
}
SCOPED: dict[Role, frozenset[Permission]] = {
    Role.worker: frozenset({P.read_personal, P.move_case, P.upload_photo, P.report_position}),
    Role.reporter: frozenset({P.rate_case, P.upload_photo}),
    Role.system: frozenset({P.read_filed, P.manage_webhooks, P.read_webhooks}),
}
# What stays closed even when no token is configured (the open local demo): personal data,
# and where people are (workers' exact positions); and webhooks, which make the server send
# requests to any address it is given.
NEVER_OPEN = frozenset({P.read_personal, P.exact_positions, P.manage_tokens, P.read_audit, P.manage_webhooks,
                        P.read_webhooks})
# Actions a worker may take on their own cases; the rest of the loop is the dispatcher's.
# A transfer hands the case on (to a department or a colleague) with a reason in the trail.
WORKER_ACTIONS = frozenset({"start", "resolve", "escalate", "transfer"})
# Actions the staff of a department may take on the cases their department holds (assigned
# to any of them). A transfer by department staff stays inside the department (to a
# colleague, or back to the desk): a case that is not theirs goes back to the dispatcher
# with ``return``, which is counted, rather than sideways to another department.
DEPARTMENT_ACTIONS = frozenset({"accept", "return", "start", "resolve", "escalate", "transfer"})


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking. ``holder`` names them for the audit ("dispatcher 王芳", "system:hotline")."""

    role: Role
    holder: str = "anonymous"
    token_id: int | None = None
    worker_id: int | None = None
    system: str | None = None
    open: bool = False  # no token configured anywhere: the local demo
    case_id: object = None  # a reporter: the one case their token opens
    department_code: str | None = None  # a worker on a functional department's staff

    @property
    def staff(self) -> bool:
        return self.role in STAFF

    @property
    def filed_by(self) -> str | None:
        """What ``reports.filed_by`` records for a report this principal files."""
        if self.role == Role.system:
            return f"system:{self.system}"
        if self.token_id is not None or self.staff:
            return f"{self.role.value}:{self.worker_id or self.token_id or self.holder}"[:80]
        return None

    def can(self, permission: Permission) -> bool:
        """Whether the role holds ``permission`` at all (scoped ones: for some cases)."""
        if permission in PERMISSIONS[self.role]:
            return True
        return self.open and permission not in NEVER_OPEN


PUBLIC = Principal(Role.public)


def sees_exact_locations(p: Principal) -> bool:
    """Whether ``p`` may see every case where it is, sensitive ones included (dispatcher,
    admin): then filters and aggregates use exact points. Everyone else (a worker too, whose
    own cases are a few among many) gets sensitive cases at their public location."""
    return p.can(Permission.read_personal) and p.role in (Role.dispatcher, Role.admin)


def is_assigned(p: Principal, report: Report) -> bool:
    """Whether ``p`` is the grid worker ``report`` is assigned to (a worker's scope)."""
    return p.role == Role.worker and p.worker_id is not None and report.assigned_worker_id == p.worker_id


def may_read_personal(p: Principal, report: Report) -> bool:
    """Whether ``p`` sees this report's personal data (reporter, exact location and text of
    a sensitive case, the original coordinates, staff names in the trail)."""
    if not p.can(Permission.read_personal):
        return False
    return p.role != Role.worker or is_assigned(p, report)


def personal_condition(p: Principal, assigned_worker_col):
    """SQL: ``may_read_personal`` of each row, for queries over many cases (bulk exports):
    the same rule, given the column holding the case's assigned worker."""
    if not p.can(Permission.read_personal):
        return sa.false()
    if p.role != Role.worker:
        return sa.true()
    return assigned_worker_col == p.worker_id if p.worker_id is not None else sa.false()


def own_case_condition(p: Principal, id_col):
    """SQL: ``is_own_case`` of each row, given the column holding the case's id."""
    return id_col == p.case_id if p.role == Role.reporter and p.case_id is not None else sa.false()


def holds_for_department(p: Principal, report: Report) -> bool:
    """Whether ``p`` is on the staff of the department holding ``report`` (their scope)."""
    return (p.role == Role.worker and p.department_code is not None
            and report.department_code == p.department_code)


def may_move(p: Principal, report: Report, action: str, *, to_department: str | None = None) -> bool:
    """Whether ``p`` may take ``action`` on ``report``. ``to_department``: for a transfer,
    the department the case would go to (None: to a worker outside any department).

    Dispatchers and admins: everything (accept and return too, on a department's behalf).
    Department staff, on the cases their department holds: ``DEPARTMENT_ACTIONS``, a transfer
    only within their department. A worker, on the cases assigned to them: ``WORKER_ACTIONS``
    (a grid worker's transfer goes anywhere: a department, a colleague)."""
    if not p.can(Permission.move_case):
        return False
    if p.role == Role.worker:
        if holds_for_department(p, report):
            return action in DEPARTMENT_ACTIONS and (action != "transfer" or to_department == p.department_code)
        return action in WORKER_ACTIONS and is_assigned(p, report)
    return True


def is_own_case(p: Principal, report: Report) -> bool:
    """Whether ``p`` is the reporter of ``report`` (their case token opened it)."""
    return p.role == Role.reporter and p.case_id == report.id


def may_see_photos(p: Principal, report: Report) -> bool:
    """Whether ``p`` sees the photos of ``report``: anyone for most cases; for a sensitive
    case those who read it in full, and its reporter."""
    return not is_sensitive(report.category) or may_read_personal(p, report) or is_own_case(p, report)


def may_upload_photo(p: Principal, report: Report) -> bool:
    """Whether ``p`` may add a photo to ``report``."""
    if not p.can(Permission.upload_photo):
        return False
    if p.role == Role.reporter:
        return is_own_case(p, report)
    if p.role == Role.worker:
        return is_assigned(p, report)
    return True


def may_rate(p: Principal, report: Report) -> bool:
    """Whether ``p`` may rate ``report`` (the reporter of the case, or a dispatcher on their behalf)."""
    if not p.can(Permission.rate_case):
        return False
    return p.role != Role.reporter or is_own_case(p, report)


def may_report_position(p: Principal, worker_id: int) -> bool:
    """Whether ``p`` may report the position of worker ``worker_id`` (a worker: their own)."""
    return p.can(Permission.report_position) and (p.role != Role.worker or p.worker_id == worker_id)


def may_use_webhook(p: Principal, system: str, permission: Permission) -> bool:
    """Whether ``p`` may use (``permission``: read or manage) a webhook of ``system``: a system
    key its own system's only; the roles holding the permission unscoped, any."""
    if not p.can(permission):
        return False
    return p.role != Role.system or p.system == system


def permission_table() -> str:
    """The role × permission table as Markdown (the README prints it; a test keeps them equal).
    ✓ holds it, ◐ for their own cases only (a worker's assigned cases and their department's
    cases, a reporter's own case, a system key's own filings), · not."""
    roles = list(Role)
    lines = ["| permission | " + " | ".join(r.value for r in roles) + " |",
             "|---|" + "---|" * len(roles)]
    for perm in Permission:
        cells = []
        for role in roles:
            if perm not in PERMISSIONS[role]:
                cells.append("·")
            else:
                cells.append("◐" if perm in SCOPED.get(role, ()) else "✓")
        lines.append(f"| `{perm.value}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)
