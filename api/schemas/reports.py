"""Report intake, workflow, statistics and dispatch schemas."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.params import BIGINT_MAX, LAT_DOC, LON_DOC
from api.schemas.departments import DepartmentStatsOut
from api.schemas.types import Instant, InstantText
from geo.departments.config import CODE_PATTERN as DEPARTMENT_CODE
from geo.models import ReportSource
from geo.reports.workflow import ACTIONS

CRS_DOC = "wgs84 (default), cgcs2000, gcj02 (Amap/Tencent/WeChat), bd09 (Baidu) or EPSG:<code>"


class LocationIn(BaseModel):
    """Where the problem is, in the coordinates the client has (converted to WGS-84 at intake)."""

    model_config = ConfigDict(extra="forbid")

    lon: float = Field(allow_inf_nan=False, description=LON_DOC)
    lat: float = Field(allow_inf_nan=False, description=LAT_DOC)
    crs: str = Field("wgs84", max_length=16, description=CRS_DOC)
    accuracy_m: float | None = Field(None, ge=0, le=100_000, allow_inf_nan=False,
                                     description="The position's accuracy as the phone states it, in metres.")


class ReporterIn(BaseModel):
    """Who reported it: personal data, shown only to dispatchers and admins (audited)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=100, description="The reporter's name.")
    phone: str | None = Field(None, max_length=32, pattern=r"^\+?[0-9][0-9 \-]{3,30}$",
                              description="A phone number to call back (digits, spaces, dashes, a leading +).")


REPORT_EXAMPLE = {
    "id": "7d0f6c2e-4a51-4e4e-9d61-5b7f3c2a9e10", "category": "30", "subcategory": "3001",
    "description": "小区门口垃圾堆积", "source": "citizen",
    "location": {"lon": 122.0773, "lat": 41.1231, "crs": "gcj02", "accuracy_m": 10},
    "reported_at": "2026-11-22T09:30:00+08:00", "reporter": {"name": "王小明", "phone": "13912345678"},
}


class ReportIn(BaseModel):
    """One report (a problem seen somewhere in the city). Only ``category``, ``source``,
    ``location`` and ``reported_at`` are required; send an ``id`` (or an Idempotency-Key
    header) so that a retry never files it twice."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [REPORT_EXAMPLE]})

    id: uuid.UUID | None = Field(None, description="Client-made UUID: retries with the same id never duplicate.")
    category: str = Field(max_length=8, description="2-digit class code (GET /api/v1/categories).")
    subcategory: str | None = Field(None, max_length=8, description=(
        "4-digit subclass code; its time limit sets the due time (default: the class's)."))
    # 20,000 bounds the parser; the city's own limit (2,000 by default) is enforced by intake
    # and is what the OpenAPI document states (api.openapi).
    description: str = Field("", max_length=20_000, description="What is wrong.")
    source: ReportSource = Field(description=(
        "Who filed it: citizen (the public, the report form), grid_worker (a worker on patrol), hotline_12345 "
        "(the city hotline), video (camera analytics) or other."))
    location: LocationIn
    reported_at: InstantText
    reporter: ReporterIn | None = Field(None, description="Personal data: never shown publicly.")
    photos: list[Annotated[str, Field(max_length=2000)]] = Field(default_factory=list, max_length=9,
                                     description="Links to photos held elsewhere (absolute http/https URLs).")


class WorkerBrief(BaseModel):
    id: int
    public_name: str
    role: str


class ReportCreated(BaseModel):
    id: uuid.UUID
    grid_code: str | None
    generation: int | None
    match: Literal["inside", "edge", "snapped", "unassigned"]
    distance_m: float | None = Field(None, description="Snapping distance (snapped) in metres.")
    worker: WorkerBrief | None
    status: str
    due_at: datetime | None
    escalation_level: int
    possible_duplicates: list[uuid.UUID]
    case_token: str | None = Field(None, description=(
        "The reporter's key to this case (X-Case-Token): follow it, rate it, add photos. Shown once; a retry "
        "gets it again only when sent with the same Idempotency-Key or by the same token holder."))


class BatchIn(BaseModel):
    """Many reports at once (a hotline system's backlog); each is answered on its own."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reports": [REPORT_EXAMPLE]}]})

    reports: list[dict] = Field(max_length=10_000, description="Up to 10,000 report bodies, each validated on its own.")


class BatchItemOut(BaseModel):
    index: int
    status: int = Field(description="HTTP status this item would have had on its own: 201, 200, 409 or 422.")
    report: ReportCreated | None = None
    error: dict | None = None


class BatchOut(BaseModel):
    created: int
    replayed: int
    failed: int
    results: list[BatchItemOut]


Action = Literal[ACTIONS]  # the loop's rules (geo.reports.workflow), so the document cannot drift from them


class TransitionIn(BaseModel):
    """One step of the closed loop: dispatch, start, resolve, close, reopen, reject,
    mark_duplicate (with ``duplicate_of``), escalate (with ``expected_level``), and the hops
    between departments: transfer (to ``department`` or ``worker_id``, with the reason in
    ``note``), accept (by the department holding the case) and return (its "not ours", with
    the reason in ``note``: back to the dispatcher, counted in ``return_count``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"action": "start", "actor": "张伟 (grid worker)", "note": "on my way"},
        {"action": "transfer", "actor": "王芳 (dispatch desk)", "department": "city_management",
         "note": "占道经营，属城管执法"},
        {"action": "accept", "actor": "刘洋 (城管局受理台)"},
        {"action": "return", "actor": "刘洋 (城管局受理台)", "note": "not ours: the pipe is the water company's"},
        {"action": "mark_duplicate", "actor": "王芳 (dispatch desk)",
         "duplicate_of": "0b4e9f7a-2c1d-4e8f-9a6b-3d5c7e1f2a4b"},
        {"action": "escalate", "actor": "王芳 (dispatch desk)", "expected_level": 0},
    ]})

    action: Action = Field(description="The step of the loop to take (see GET /api/v1/reports/{id} `allowed`).")
    actor: str = Field(min_length=1, max_length=100, description=(
        "Who takes the step, as the trail should name them (the token's holder is recorded beside it)."))
    note: str | None = Field(None, max_length=2000, description=(
        "Why, or what was done (kept in the trail); required for transfer and return."))
    duplicate_of: uuid.UUID | None = Field(None, description="mark_duplicate: the original report's id.")
    worker_id: int | None = Field(None, ge=1, le=BIGINT_MAX, description=(
        "dispatch or transfer: the worker to send it to (a transfer to a department's staff member takes the "
        "case into that department)."))
    department: str | None = Field(None, max_length=32, pattern=DEPARTMENT_CODE, examples=["city_management"],
                                   description="transfer: the department's code (GET /api/v1/departments).")
    expected_level: int | None = Field(
        None, ge=0, le=4, description="The escalation level you saw: if the case has moved on since, the request "
                                      "is refused (409) instead of escalating twice.")


class RatingIn(BaseModel):
    """The reporter's verdict on a closed case, once."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"rating": 5, "comment": "很快就清理了"}]})

    rating: int = Field(ge=1, le=5, description="1 (very dissatisfied) to 5 (very satisfied).")
    comment: str | None = Field(None, max_length=2000, description="In the reporter's words.")


class EventOut(BaseModel):
    at: datetime
    action: str
    actor: str
    note: str | None
    from_status: str | None
    to_status: str | None
    data: dict


class ReportOut(BaseModel):
    id: uuid.UUID
    category: str
    subcategory: str | None
    description: str | None = Field(description="Omitted publicly for sensitive categories.")
    source: str
    lon: float | None = Field(description="WGS-84. Publicly, a sensitive case shows the centre of its ~500 m "
                                          "cell instead (see location_precision_m).")
    lat: float | None
    location_precision_m: int | None = Field(None, description="Set when lon/lat is a cell centre, not the point.")
    orig: dict | None = Field(None, description="Coordinates and crs as received (staff only).")
    reported_at: datetime
    status: str
    grid_code: str | None
    generation: int | None
    match: str | None
    assigned_worker: WorkerBrief | None
    dispatched_at: datetime | None
    due_at: datetime | None
    overdue: bool
    escalation_level: int
    escalated_to: str | None
    resolved_at: datetime | None
    closed_at: datetime | None
    duplicate_of: uuid.UUID | None
    rating: int | None
    department_code: str | None = Field(None, description=(
        "The functional department holding the case (GET /api/v1/departments); null while the grid chain has it."))
    department_accepted_at: datetime | None = Field(None, description="When the holding department accepted it.")
    return_count: int = Field(0, description="How often a department returned the case to the dispatcher.")
    allowed: list[str] = Field(default_factory=list, description=(
        "Actions the loop allows on the case now (accept and return only while a department holds it)."))
    your_actions: list[str] = Field(default_factory=list, description=(
        "The allowed actions you may take on this case with your token (a grid worker: start, resolve, escalate "
        "on their own cases; department staff their department's; none for the public and a reporter)."))
    photos: list[str] = Field(default_factory=list, description="Omitted publicly for sensitive categories.")
    reporter: dict | None = Field(None, description="Staff only.")
    trail: list[EventOut] | None = None


class DuplicateCandidateOut(BaseModel):
    id: uuid.UUID
    category: str
    status: str
    reported_at: datetime
    grid_code: str | None
    description: str | None = Field(description="The first 200 characters (omitted where the case's text is not "
                                                "yours to read).")
    lon: float = Field(description="WGS-84 degrees.")
    lat: float
    distance_m: float = Field(description="Metres from the case.")
    suggested: bool = Field(description="Intake listed it when the case was filed.")
    nearby: bool = Field(description="Open, of the case's category, within the duplicate radius now.")
    instead_of: uuid.UUID | None = Field(None, description=(
        "The suggestion this report stands for: that one has since been marked a duplicate of this one."))


class DuplicatesOut(BaseModel):
    report_id: uuid.UUID
    radius_m: float = Field(description="The city's duplicate radius (GRIDMAP city configuration).")
    window_days: int = Field(description="Candidates reported no earlier than this many days before the case.")
    candidates: list[DuplicateCandidateOut]


class ReportPage(BaseModel):
    items: list[ReportOut]
    numberMatched: int | None = Field(description=(
        "How many reports match; null past 100,000 (counting them all would cost more than the page)."))
    numberReturned: int
    next: str | None


class CategoryOut(BaseModel):
    code: str
    key: str
    group: str
    name_zh: str
    name_en: str
    time_limit_h: float
    subcategories: list[dict]


class AreaStats(BaseModel):
    code: str
    name: str | None
    total: int
    response_rate: float | None
    solved_rate: float | None
    satisfaction_rate: float | None
    overdue: int
    median_hours_to_close: float | None


class StatsOut(BaseModel):
    level: str
    since: datetime | None
    until: datetime | None
    category: str | None = Field(description="The category filter as understood: all, a group or a category key.")
    areas: list[AreaStats]
    departments: list[DepartmentStatsOut] = Field(default_factory=list, description=(
        "level=department: the functional departments' figures (areas is then empty)."))


class ContactOut(BaseModel):
    level: str
    area_code: str | None
    worker: WorkerBrief | None
    phone: str | None = Field(None, description="Staff only.")


class NearbyWorker(BaseModel):
    id: int
    public_name: str
    role: str
    distance_m: float = Field(description="Metres; publicly to the worker's ~500 m cell, rounded to 100 m.")
    last_seen_at: datetime | None = Field(description="Staff only.")
    phone: str | None = Field(None, description="Dispatchers and admins only.")


class DispatchOut(BaseModel):
    grid_code: str | None
    generation: int
    match: str
    distance_m: float | None
    responsible: ContactOut | None
    backup: ContactOut | None
    escalation_chain: list[ContactOut]
    nearest_on_duty: list[NearbyWorker]


class PositionIn(BaseModel):
    """Where a worker's phone is now (it keeps dispatch's nearest-worker answer current)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"lon": 122.0701, "lat": 41.1187, "crs": "gcj02", "at": "2026-11-22T09:31:00+08:00"}]})

    lon: float = Field(allow_inf_nan=False, description=LON_DOC)
    lat: float = Field(allow_inf_nan=False, description=LAT_DOC)
    crs: str = Field("wgs84", max_length=16, description=CRS_DOC)
    at: Instant | None = Field(None, description="When the phone took the position (default: now).")


class PositionOut(BaseModel):
    id: int
    lon: float
    lat: float
    last_seen_at: datetime
