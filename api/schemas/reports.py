"""Report intake, workflow, statistics and dispatch schemas."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.params import BIGINT_MAX
from api.schemas.types import Instant, InstantText
from geo.models import ReportSource
from geo.workflow import ACTIONS

CRS_DOC = "wgs84 (default), cgcs2000, gcj02 (Amap/Tencent/WeChat), bd09 (Baidu) or EPSG:<code>"


class LocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lon: float = Field(allow_inf_nan=False, description="Longitude (or easting in metres for a projected EPSG crs).")
    lat: float = Field(allow_inf_nan=False, description="Latitude (or northing in metres for a projected EPSG crs).")
    crs: str = Field("wgs84", max_length=16, description=CRS_DOC)
    accuracy_m: float | None = Field(None, ge=0, le=100_000, allow_inf_nan=False)


class ReporterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=100)
    phone: str | None = Field(None, max_length=32, pattern=r"^\+?[0-9][0-9 \-]{3,30}$")


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID | None = Field(None, description="Client-made UUID: retries with the same id never duplicate.")
    category: str = Field(max_length=8, description="2-digit class code (GET /api/v1/categories).")
    subcategory: str | None = Field(None, max_length=8)
    # 20,000 bounds the parser; the city's own limit (2,000 by default) is enforced by intake
    # and is what the OpenAPI document states (api.openapi).
    description: str = Field("", max_length=20_000, description="What is wrong.")
    source: ReportSource
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
    model_config = ConfigDict(extra="forbid")

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


Action = Literal[ACTIONS]  # the loop's rules (geo.workflow), so the document cannot drift from them


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Action = Field(description="The step of the loop to take (see GET /api/v1/reports/{id} `allowed`).")
    actor: str = Field(min_length=1, max_length=100)
    note: str | None = Field(None, max_length=2000)
    duplicate_of: uuid.UUID | None = Field(None, description="mark_duplicate: the original report's id.")
    worker_id: int | None = Field(None, ge=1, le=BIGINT_MAX, description="dispatch: the worker to send it to.")
    expected_level: int | None = Field(
        None, ge=0, le=4, description="The escalation level you saw: if the case has moved on since, the request "
                                      "is refused (409) instead of escalating twice.")


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: int = Field(ge=1, le=5)
    comment: str | None = Field(None, max_length=2000)


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
    allowed: list[str] = Field(default_factory=list, description="Actions the loop allows from this status.")
    photos: list[str] = Field(default_factory=list, description="Omitted publicly for sensitive categories.")
    reporter: dict | None = Field(None, description="Staff only.")
    trail: list[EventOut] | None = None


class ReportPage(BaseModel):
    items: list[ReportOut]
    numberMatched: int
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
    model_config = ConfigDict(extra="forbid")

    lon: float = Field(allow_inf_nan=False)
    lat: float = Field(allow_inf_nan=False)
    crs: str = Field("wgs84", max_length=16, description=CRS_DOC)
    at: Instant | None = None


class PositionOut(BaseModel):
    id: int
    lon: float
    lat: float
    last_seen_at: datetime
