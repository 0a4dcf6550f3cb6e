"""Request/response schemas of the planners' endpoints (``/api/v1/generations``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class GenerationOut(BaseModel):
    id: int
    status: str = Field(examples=["draft"])
    description: str
    based_on: int | None = Field(None, description="The generation it was drawn against.")
    created_at: datetime
    created_by: str | None = None
    activated_at: datetime | None = None
    activated_by: str | None = None
    scheduled_at: datetime | None = None
    scheduled_by: str | None = None
    counts: dict[str, dict[str, int]] = Field(description="Per level: areas added, changed, removed.")
    summary: dict[str, Any] = Field(default_factory=dict)


class GenerationList(BaseModel):
    generations: list[GenerationOut]


class ImportOut(BaseModel):
    generation: int = Field(description="The draft the file went into.")
    level: str
    scope: list[str] = Field(description="Parents whose children the file replaced.")
    added: list[str]
    removed: list[str]
    redrawn: list[str]
    kept: int = Field(description="Areas identical within the tolerance: their row is kept.")
    numbered: dict[int, str] = Field(description="File row → the code given to a feature without one.")
    noise_cleaned: int
    estimated: list[str] = Field(description="Areas whose households were estimated by area.")
    findings: int = Field(description="Problems found (see …/check).")


class ActivateIn(BaseModel):
    """Activate the draft now (no ``at``), or schedule it for ``at``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"at": "2027-01-01T00:00:00+08:00"}, {"lead_covers": True}]})

    at: AwareDatetime | None = Field(None, description="Schedule for this moment (with its offset); omit: now.")
    lead_covers: bool = Field(False, description="Activate although grids have no primary worker (their cases "
                                                 "go to the community lead).")


class ActivationOut(BaseModel):
    generation: int
    status: str = Field(examples=["active", "scheduled"])
    previous: int | None = None
    open_cases_moved: int | None = None
    scheduled_at: datetime | None = None


class AssignmentsOut(BaseModel):
    generation: int
    planned: int = Field(description="Assignments planned for the draft; they start when it is activated.")
