"""The catalogue as Open311 services, and gridmap's statuses as Open311's open/closed.

One service per subcategory: ``service_code`` is the 4-digit subcategory code (3001 exposed
rubbish), ``group`` its class's name (城市管理). No category has attributes yet, so every
service definition lists none (``metadata`` false); the attributes gridmap reads from any
request (``attribute[fixmystreet_id]``, ``attribute[source]``) are documented with the route.
"""

from __future__ import annotations

from dataclasses import dataclass

from geo.cityconfig import CityConfig
from geo.errors import InvalidInput, NotFound
from geo.models import CLOSED_STATUSES, OPEN_STATUSES, ReportStatus
from geo.reports.categories import BY_CODE, CATALOGUE, SUB_BY_CODE

# Open311's two states. Resolved counts as closed: the grid reports it handled, and the
# client's citizen sees it fixed; a failed verification reopens it (open again).
OPEN, CLOSED = "open", "closed"
STATES = (OPEN, CLOSED)

STATUS_NOTES = {
    ReportStatus.registered: "registered (立案); waiting to be dispatched",
    ReportStatus.dispatched: "dispatched (派遣) to the grid responsible",
    ReportStatus.in_progress: "being handled (处置) by the grid responsible",
    ReportStatus.resolved: "resolved by the grid; waiting for verification (核查), which may reopen it",
    ReportStatus.closed: "verified and closed (结案)",
    ReportStatus.rejected: "rejected: not a case for grid management",
    ReportStatus.duplicate: "closed as a duplicate",
}


@dataclass(frozen=True, slots=True)
class Service:
    """One Open311 service: a subcategory of the catalogue."""

    service_code: str
    service_name: str
    description: str
    group: str
    keywords: tuple[str, ...]
    metadata: bool = False  # True when the service definition has attributes
    type: str = "realtime"  # every request is answered at once with its service_request_id


def _service(code: str, *, config: CityConfig) -> Service:
    sub = SUB_BY_CODE[code]
    cat = BY_CODE[code[:2]]
    hours = config.time_limit_h(cat.code, sub.code)
    return Service(
        service_code=sub.code, service_name=sub.name_zh,
        description=f"{sub.name_en} ({cat.name_en}); time limit {hours:g} h from dispatch",
        group=cat.name_zh, keywords=(cat.key, cat.name_en, sub.name_en),
    )


def service_list(*, config: CityConfig) -> list[Service]:
    """Every subcategory as a service, in catalogue order; time limits as ``config`` sets them."""
    return [_service(s.code, config=config) for c in CATALOGUE for s in c.subcategories]


def service_definition(code: str) -> tuple[str, list[dict]]:
    """(service_code, attributes) of service ``code``: no category defines attributes, so the
    list is empty. Raises NotFound for a code that is no subcategory."""
    if code not in SUB_BY_CODE:
        raise NotFound(f"no service {code!r}: services/{{format}} lists the 4-digit codes", service_code=code)
    return code, []


def parse_service_code(code: str, *, field: str = "service_code") -> tuple[str, str]:
    """A POSTed service code → (category, subcategory). Raises InvalidInput naming ``field``."""
    code = code.strip()
    if code not in SUB_BY_CODE:
        raise InvalidInput(f"unknown service_code {code!r}: GET services.json lists the 4-digit codes", field=field)
    return code[:2], code


def service_of(category: str, subcategory: str | None) -> tuple[str, str]:
    """(service_code, service_name) of a report: its subcategory, or for a report filed with a
    class only (through the JSON API) the 2-digit class code and name."""
    if subcategory and subcategory in SUB_BY_CODE:
        return subcategory, SUB_BY_CODE[subcategory].name_zh
    cat = BY_CODE.get(category)
    return category, cat.name_zh if cat else category


def state_of(status: ReportStatus) -> str:
    """Open311's open/closed for a gridmap status (open: registered, dispatched, in progress)."""
    return OPEN if status in OPEN_STATUSES else CLOSED


def statuses_for(states: list[str]) -> tuple[ReportStatus, ...]:
    """The gridmap statuses of Open311 states (``open``, ``closed``). Raises InvalidInput
    (field ``status``) for anything else."""
    out: list[ReportStatus] = []
    for s in states:
        s = s.strip().lower()
        if s not in STATES:
            raise InvalidInput(f"unknown status {s!r}: open or closed (comma-separated for both)", field="status")
        out += [st for st in (OPEN_STATUSES if s == OPEN else CLOSED_STATUSES) if st not in out]
    return tuple(out)


def status_notes(status: ReportStatus, *, escalation_level: int = 0) -> str:
    """The public words for where a case stands (no names, no text of the case)."""
    note = STATUS_NOTES[status]
    if escalation_level and status in OPEN_STATUSES:
        note += f"; escalated {escalation_level} level(s) up"
    return note
