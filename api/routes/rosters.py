"""Duty rosters: a worker's week, leave and extra duty, read and edited by dispatchers and
admins. Thin: the rules are ``geo.rosters`` (the duty rule, validation; audited here)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response

from api.deps import CityConfigDep, SessionDep
from api.params import BIGINT_MAX
from api.schemas.rosters import ExceptionIn, ExceptionOut, RosterOut, ShiftOut, ShiftsIn
from api.security import require
from geo.access import Permission, record_audit
from geo.models import RosterException
from geo.rosters.service import (
    ExceptionInput, Roster, Shift, add_exception, clock_text, delete_exception, get_roster, parse_clock, replace_shifts,
)

router = APIRouter(tags=["rosters"])

Rosterer = require(Permission.manage_rosters)
WorkerPath = Annotated[int, Path(ge=1, le=BIGINT_MAX, examples=[17], description="The worker's id.")]
ExceptionPath = Annotated[int, Path(ge=1, le=BIGINT_MAX, examples=[3], description="The exception's id.")]
_AUTH = {401: {"description": "A token is needed"}, 403: {"description": "Not a dispatcher or admin"}}
_404 = {404: {"description": "No such worker (code worker_not_found) or exception (roster_exception_not_found)"}}
_422 = {422: {"description": "Invalid field, named in error.fields: a time not HH:MM, a weekday outside 1–7, "
                             "overlapping shifts (shifts.N), ends_at not after starts_at, cover_worker_id equal "
                             "to the worker, unknown, on leave then or given for a duty, worker_id without "
                             "weekly shifts, shifts emptied while exceptions exist"}}
_409 = {409: {"description": "roster_overlap: the exception overlaps another of the worker "
                             "(error.field starts_at, error.conflicts_with its id)"}}


def _exception(e: RosterException) -> ExceptionOut:
    return ExceptionOut(id=e.id, kind=e.kind.value, starts_at=e.starts_at, ends_at=e.ends_at,
                        cover_worker_id=e.cover_worker_id, note=e.note, created_at=e.created_at)


def _out(r: Roster, config) -> RosterOut:
    return RosterOut(worker_id=r.worker_id, timezone=config.timezone, rostered=r.rostered, on_duty=r.on_duty,
                     shifts=[ShiftOut(weekday=s.weekday, start=clock_text(s.start_min), end=clock_text(s.end_min),
                                      overnight=s.end_min < s.start_min) for s in r.shifts],
                     exceptions=[_exception(e) for e in r.exceptions])


@router.get("/workers/{worker_id}/roster", response_model=RosterOut, responses={**_AUTH, **_404},
            summary="A worker's duty roster")
def get_worker_roster(worker_id: WorkerPath, session: SessionDep, config: CityConfigDep, principal: Rosterer):
    """The weekly shifts (local times in the city's zone), leave and extra duty not yet ended,
    and whether the worker is on duty now by the roster rule."""
    return _out(get_roster(session, worker_id=worker_id, config=config, now=datetime.now(UTC)), config)


@router.put("/workers/{worker_id}/roster/shifts", response_model=RosterOut, responses={**_AUTH, **_404, **_422},
            summary="Replace a worker's week")
def put_worker_shifts(worker_id: WorkerPath, body: ShiftsIn, session: SessionDep, config: CityConfigDep,
                      principal: Rosterer):
    """The whole week at once (the same body again changes nothing). Shifts of one worker may
    not overlap, overnight ones and Sunday night into Monday included."""
    week = [Shift(s.weekday, parse_clock(s.start, field=f"shifts.{i}.start"),
                  parse_clock(s.end, field=f"shifts.{i}.end", end=True)) for i, s in enumerate(body.shifts)]
    now = datetime.now(UTC)
    roster = replace_shifts(session, worker_id=worker_id, shifts=week, config=config, now=now)
    record_audit(session, actor=principal, action="roster.shifts", subject_type="worker", subject_id=worker_id,
                 detail={"shifts": [[s.weekday, clock_text(s.start_min), clock_text(s.end_min)] for s in week]})
    session.commit()
    return _out(roster, config)


@router.post("/workers/{worker_id}/roster/exceptions", response_model=ExceptionOut, status_code=201,
             responses={200: {"description": "The same exception was stored before: returned, not added again"},
                        **_AUTH, **_404, **_409, **_422},
             summary="Add leave or extra duty")
def post_worker_exception(worker_id: WorkerPath, body: ExceptionIn, response: Response, session: SessionDep,
                          config: CityConfigDep, principal: Rosterer):
    """Leave (with an optional covering colleague) or extra duty for a worker with weekly shifts.
    Routing follows at once: during the leave the worker's grid goes to the cover while the
    worker's shifts run, else to the first on-duty backup, else the community lead."""
    item = ExceptionInput(body.kind, body.starts_at, body.ends_at, body.cover_worker_id, body.note)
    row, created = add_exception(session, worker_id=worker_id, item=item, config=config, now=datetime.now(UTC))
    if created:
        record_audit(session, actor=principal, action="roster.exception.add", subject_type="worker",
                     subject_id=worker_id, detail={"exception_id": row.id, "kind": row.kind.value,
                                                   "starts_at": row.starts_at.isoformat(),
                                                   "ends_at": row.ends_at.isoformat(),
                                                   "cover_worker_id": row.cover_worker_id})
    else:
        response.status_code = 200
    session.commit()
    session.refresh(row)
    return _exception(row)


@router.delete("/workers/{worker_id}/roster/exceptions/{exception_id}", response_model=ExceptionOut,
               responses={**_AUTH, **_404}, summary="Remove leave or extra duty")
def delete_worker_exception(worker_id: WorkerPath, exception_id: ExceptionPath, session: SessionDep,
                            config: CityConfigDep, principal: Rosterer):
    """The exception as it was; the worker's duty follows their week again."""
    row = delete_exception(session, worker_id=worker_id, exception_id=exception_id, config=config,
                           now=datetime.now(UTC))
    out = _exception(row)
    record_audit(session, actor=principal, action="roster.exception.delete", subject_type="worker",
                 subject_id=worker_id, detail={"exception_id": exception_id, "kind": out.kind})
    session.commit()
    return out
