"""The worker's own queue (GET /api/v1/me/cases): what a phone needs of each open case."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class ReporterContact(BaseModel):
    name: str | None
    phone: str | None


class QueueCaseOut(BaseModel):
    id: uuid.UUID
    category: str = Field(description="2-digit class code.")
    category_name: dict[str, str] = Field(description="`zh` and `en`.", examples=[{"zh": "城市管理",
                                                                                  "en": "Urban management"}])
    subcategory: str | None
    subcategory_name: dict[str, str] | None
    description: str | None = Field(description="None for a sensitive case this worker may not read in full.")
    status: str
    reported_at: datetime
    due_at: datetime | None
    overdue: bool
    escalation_level: int = Field(description="0 grid, 1 community, 2 street, 3 district, 4 city command centre.")
    grid_code: str | None
    place: str | None = Field(description="The grid's name (the case's area; reports carry no street address).")
    lon: float = Field(description="WGS-84. A sensitive case this worker may not read in full: its cell's centre.")
    lat: float
    location_precision_m: int | None = Field(None, description="Set when lon/lat is a cell centre, not the point.")
    department: str | None = Field(description="The department holding the case (its code), if one does.")
    assigned_to_me: bool = Field(description="False: a case of your department carried by a colleague.")
    allowed: list[str] = Field(description="The actions you may take now (POST /api/v1/reports/{id}/transitions).")
    photo_count: int
    may_add_photo: bool
    reporter: ReporterContact | None = Field(description="Only for the cases assigned to you (an audited read).")


class QueueOut(BaseModel):
    worker_id: int
    public_name: str | None = Field(description="Your public name (as signs and the trail name you).")
    department: str | None = Field(description="Your department, when you are department staff.")
    total: int = Field(description="Open cases in your queue (`cases` lists at most 500).")
    cases: list[QueueCaseOut]
