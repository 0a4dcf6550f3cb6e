"""Request/response schemas of ``/api/v1/workers/{id}/roster``."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from api.params import BIGINT_MAX
from api.schemas.types import Instant
from geo.models import ExceptionKind


class ShiftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weekday: int = Field(ge=1, le=7, examples=[1], description="ISO weekday: 1 Monday … 7 Sunday.")
    start: str = Field(max_length=5, examples=["08:30"], description="Local time HH:MM in the city's time zone.")
    end: str = Field(max_length=5, examples=["17:30"], description=(
        "Local time HH:MM (24:00: midnight); before ``start``: the shift runs overnight into the next day."))


class ShiftsIn(BaseModel):
    """The worker's whole week; it replaces the one stored. An empty list returns the worker to
    the plain ``on_duty`` flag (refused while they hold exceptions)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"shifts": [
        {"weekday": d, "start": "08:30", "end": "17:30"} for d in range(1, 6)]}]})

    shifts: list[ShiftIn] = Field(max_length=100)


class ShiftOut(BaseModel):
    weekday: int
    start: str
    end: str
    overnight: bool = Field(description="Ends the next day.")


class ExceptionIn(BaseModel):
    """A dated leave (optionally covered by a named colleague, who takes the worker's new cases
    during the worker's shifts) or an extra duty."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "kind": "leave", "starts_at": "2026-12-07T08:00:00+08:00", "ends_at": "2026-12-09T18:00:00+08:00",
        "cover_worker_id": 18, "note": "年假"}]})

    kind: ExceptionKind = Field(examples=["leave"], description="leave (off duty) or duty (extra duty).")
    starts_at: Instant
    ends_at: Instant
    cover_worker_id: int | None = Field(None, ge=1, le=BIGINT_MAX, examples=[18], description=(
        "A leave only: the colleague covering it (not the worker)."))
    note: str | None = Field(None, max_length=500, examples=["年假"])


class ExceptionOut(BaseModel):
    id: int
    kind: str
    starts_at: datetime
    ends_at: datetime
    cover_worker_id: int | None = None
    note: str | None = None
    created_at: datetime | None = None


class RosterOut(BaseModel):
    worker_id: int
    timezone: str = Field(examples=["Asia/Shanghai"], description="The zone shift times are written in.")
    rostered: bool = Field(description="Has weekly shifts: the roster decides their duty (else the on_duty flag).")
    on_duty: bool = Field(description="On duty now, by the roster rule.")
    shifts: list[ShiftOut]
    exceptions: list[ExceptionOut] = Field(description="Leave and extra duty not yet ended, oldest first.")
