"""Reading and changing duty rosters: replace a worker's week, add and remove dated
exceptions, and keep the stored ``workers.on_duty`` flag in step with the rule
(``refresh_duty``). Every change takes the worker's row lock first, so two dispatchers
editing one roster queue instead of interleaving. Commits nothing: the caller owns the
transaction. Errors name their field: InvalidInput (422), RosterConflict (409), WorkerNotFound.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.cityconfig import CityConfig
from geo.errors import InvalidInput, RosterConflict, RosterExceptionNotFound, WorkerNotFound
from geo.instants import check_range
from geo.models import ExceptionKind, RosterException, RosterShift, Worker
from geo.rosters.rules import MINUTES_PER_DAY, DutyClock, on_duty_expr, rostered_expr
from geo.text import check_text

_CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
WEEK_MIN = 7 * MINUTES_PER_DAY


def parse_clock(value: str, *, field: str, end: bool = False) -> int:
    """Minutes since local midnight of ``"HH:MM"`` (``"24:00"`` only as an ``end``).
    Raises InvalidInput naming ``field``."""
    m = _CLOCK.match(value.strip()) if isinstance(value, str) else None
    minutes = int(m.group(1)) * 60 + int(m.group(2)) if m else -1
    if not m or minutes > MINUTES_PER_DAY or (minutes == MINUTES_PER_DAY and not end):
        raise InvalidInput(f"{value!r} is not a time of day HH:MM (00:00–23:59{', or 24:00' if end else ''})",
                           field=field)
    return minutes


def clock_text(minutes: int) -> str:
    """``"HH:MM"`` of minutes since midnight (1440 is ``"24:00"``)."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True, slots=True)
class Shift:
    """A weekly shift: ISO weekday 1–7, local start and end minutes (end < start: overnight)."""

    weekday: int
    start_min: int
    end_min: int

    @property
    def minutes(self) -> int:
        return (self.end_min - self.start_min) % MINUTES_PER_DAY or MINUTES_PER_DAY

    def span(self) -> tuple[int, int]:
        """Minutes of the week [from, to), Monday 00:00 = 0 (``to`` may pass the week's end)."""
        start = (self.weekday - 1) * MINUTES_PER_DAY + self.start_min
        return start, start + self.minutes


def check_shifts(shifts: list[Shift], *, field: str = "shifts") -> list[Shift]:
    """The week sorted, or InvalidInput naming ``field.i`` for a bad weekday, an empty shift,
    or two shifts that overlap (overnight ones included, Sunday night into Monday too)."""
    for i, s in enumerate(shifts):
        if s.weekday not in range(1, 8):
            raise InvalidInput("weekday must be 1 (Monday) to 7 (Sunday)", field=f"{field}.{i}.weekday")
        if not (0 <= s.start_min < MINUTES_PER_DAY and 0 < s.end_min <= MINUTES_PER_DAY):
            raise InvalidInput("start must be 00:00–23:59 and end 00:01–24:00", field=f"{field}.{i}.end")
        if s.start_min == s.end_min:
            raise InvalidInput("a shift cannot start and end at the same time", field=f"{field}.{i}.end")
    spans = [s.span() for s in shifts]
    for i, (a1, b1) in enumerate(spans):
        for j in range(i):
            a2, b2 = spans[j]
            if any(a1 < b2 + k and a2 + k < b1 for k in (-WEEK_MIN, 0, WEEK_MIN)):
                raise InvalidInput(f"overlaps shift {j} ({_describe(shifts[j])})", field=f"{field}.{i}")
    return sorted(shifts, key=lambda s: (s.weekday, s.start_min))


def _describe(s: Shift) -> str:
    return f"weekday {s.weekday} {clock_text(s.start_min)}–{clock_text(s.end_min)}"


@dataclass(frozen=True, slots=True)
class Roster:
    """A worker's roster and their duty at the moment asked (``rostered``: has weekly shifts,
    so the roster decides; else the stored flag does, exceptions aside)."""

    worker_id: int
    shifts: list[RosterShift]
    exceptions: list[RosterException]
    on_duty: bool
    rostered: bool


# Roster edits and the periodic refresh take this first, then worker rows: a refresh (many
# rows) and an edit (the worker, then their cover) can never wait on each other crosswise.
ROSTER_LOCK = 0x726F7374  # "rost"


def _lock(session: Session, worker_id: int) -> Worker:
    session.execute(sa.select(sa.func.pg_advisory_xact_lock(ROSTER_LOCK)))
    worker = session.get(Worker, worker_id, with_for_update=True)
    if worker is None:
        raise WorkerNotFound(f"no worker {worker_id}", worker_id=worker_id)
    return worker


def duty_now(session: Session, *, worker_ids: list[int], clock: DutyClock) -> dict[int, bool]:
    """Each worker's duty at ``clock`` by the roster rule (absent ids: unknown workers)."""
    rows = session.execute(sa.select(Worker.id, on_duty_expr()).where(Worker.id.in_(worker_ids)), clock.params())
    return {r[0]: bool(r[1]) for r in rows}


def get_roster(session: Session, *, worker_id: int, config: CityConfig, now: datetime,
               past: bool = False) -> Roster:
    """The worker's week, their exceptions (those not ended by ``now`` unless ``past``) and
    whether they are on duty at ``now``. Raises WorkerNotFound."""
    if session.get(Worker, worker_id) is None:
        raise WorkerNotFound(f"no worker {worker_id}", worker_id=worker_id)
    shifts = list(session.scalars(sa.select(RosterShift).where(RosterShift.worker_id == worker_id)
                                  .order_by(RosterShift.weekday, RosterShift.start_min)))
    q = sa.select(RosterException).where(RosterException.worker_id == worker_id)
    if not past:
        q = q.where(RosterException.ends_at > now)
    exceptions = list(session.scalars(q.order_by(RosterException.starts_at, RosterException.id)))
    on = duty_now(session, worker_ids=[worker_id], clock=DutyClock.of(now, config.tz))[worker_id]
    return Roster(worker_id, shifts, exceptions, on, bool(shifts))


def replace_shifts(session: Session, *, worker_id: int, shifts: list[Shift], config: CityConfig,
                   now: datetime) -> Roster:
    """Replace the worker's whole week by ``shifts`` (validated by ``check_shifts``) and bring
    their stored duty flag up to date. An empty week returns them to the plain flag (which
    keeps its last value), refused while they hold exceptions (field ``shifts``).
    Raises WorkerNotFound, InvalidInput."""
    week = check_shifts(shifts)
    _lock(session, worker_id)
    if not week and session.scalar(sa.select(sa.exists().where(RosterException.worker_id == worker_id))):
        raise InvalidInput("the worker has roster exceptions: delete them before clearing the week", field="shifts")
    session.execute(sa.delete(RosterShift).where(RosterShift.worker_id == worker_id))
    if week:
        session.execute(sa.insert(RosterShift), [
            {"worker_id": worker_id, "weekday": s.weekday, "start_min": s.start_min, "end_min": s.end_min}
            for s in week])
    refresh_duty(session, config=config, now=now, worker_ids=[worker_id])
    return get_roster(session, worker_id=worker_id, config=config, now=now)


@dataclass(frozen=True, slots=True)
class ExceptionInput:
    kind: ExceptionKind
    starts_at: datetime
    ends_at: datetime
    cover_worker_id: int | None = None
    note: str | None = None


def add_exception(session: Session, *, worker_id: int, item: ExceptionInput, config: CityConfig,
                  now: datetime) -> tuple[RosterException, bool]:
    """Add a leave or extra duty to a rostered worker; returns (the exception, created). The
    same exception sent again (kind, range and cover equal) is returned, not duplicated.
    Refused, naming the field: ``worker_id`` without weekly shifts (their duty is the flag),
    ``ends_at`` not after ``starts_at``, ``cover_worker_id`` on a duty, equal to the worker,
    unknown, or on leave during it (422); ``starts_at`` overlapping another exception of the
    worker (409 RosterConflict). Raises WorkerNotFound."""
    kind = ExceptionKind(item.kind)
    check_range(item.starts_at, field="starts_at")
    check_range(item.ends_at, field="ends_at")
    check_text(item.note, field="note")
    if item.ends_at <= item.starts_at:
        raise InvalidInput("must be after starts_at", field="ends_at")
    cover = item.cover_worker_id
    if cover is not None:
        if kind is not ExceptionKind.leave:
            raise InvalidInput("only a leave has a cover", field="cover_worker_id")
        if cover == worker_id:
            raise InvalidInput("a worker cannot cover their own leave", field="cover_worker_id")
    _lock(session, worker_id)
    if not session.scalar(sa.select(rostered_expr(sa.literal(worker_id)))):
        raise InvalidInput("the worker has no weekly shifts: their duty is the on_duty flag; "
                           "give them a week first", field="worker_id")
    if cover is not None:
        if session.get(Worker, cover) is None:
            raise InvalidInput(f"no worker {cover}", field="cover_worker_id")
        busy = session.scalar(sa.select(RosterException.id).where(
            RosterException.worker_id == cover, RosterException.kind == ExceptionKind.leave,
            RosterException.starts_at < item.ends_at, RosterException.ends_at > item.starts_at).limit(1))
        if busy is not None:
            raise InvalidInput(f"the cover is on leave then (exception {busy})", field="cover_worker_id")
    e = RosterException
    clash = session.scalars(sa.select(e).where(e.worker_id == worker_id, e.starts_at < item.ends_at,
                                               e.ends_at > item.starts_at).order_by(e.starts_at, e.id)).all()
    for other in clash:
        if (other.kind, other.starts_at, other.ends_at, other.cover_worker_id) == (
                kind, item.starts_at, item.ends_at, cover):
            return other, False
    if clash:
        raise RosterConflict(f"overlaps {clash[0].kind.value} {clash[0].id} "
                             f"({clash[0].starts_at.isoformat()} – {clash[0].ends_at.isoformat()})",
                             field="starts_at", conflicts_with=clash[0].id)
    row = RosterException(worker_id=worker_id, kind=kind, starts_at=item.starts_at, ends_at=item.ends_at,
                          cover_worker_id=cover, note=item.note)
    session.add(row)
    session.flush()
    refresh_duty(session, config=config, now=now, worker_ids=[worker_id] + ([cover] if cover else []))
    return row, True


def delete_exception(session: Session, *, worker_id: int, exception_id: int, config: CityConfig,
                     now: datetime) -> RosterException:
    """Remove one exception of the worker (returned, detached). Raises WorkerNotFound, and
    RosterExceptionNotFound (404) when the worker has no such exception."""
    _lock(session, worker_id)
    row = session.scalar(sa.select(RosterException).where(RosterException.id == exception_id,
                                                          RosterException.worker_id == worker_id))
    if row is None:
        raise RosterExceptionNotFound(f"worker {worker_id} has no roster exception {exception_id}",
                                      exception_id=exception_id)
    cover = row.cover_worker_id
    session.delete(row)
    session.flush()
    refresh_duty(session, config=config, now=now, worker_ids=[worker_id] + ([cover] if cover else []))
    return row


def refresh_duty(session: Session, *, config: CityConfig, now: datetime, worker_ids: list[int] | None = None) -> int:
    """Store the roster rule's answer at ``now`` in ``workers.on_duty`` for every rostered
    worker (with weekly shifts; all, or the ``worker_ids``) whose flag differs; returns how
    many changed. The flag is what the public nearest-worker index and the maps filter on; the
    server's periodic job runs this every interval, and every roster change runs it for the
    workers it touches. Workers without weekly shifts keep their flag as set. The whole-city
    refresh skips (returns 0) while a roster edit or another server process's refresh holds
    the roster lock: the edit refreshes its own workers, and the next interval comes soon."""
    if worker_ids is None and not session.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(ROSTER_LOCK))):
        return 0
    clock = DutyClock.of(now, config.tz)
    rule = on_duty_expr()
    q = (sa.update(Worker).where(rostered_expr(), Worker.on_duty.is_distinct_from(rule))
         .values(on_duty=rule).execution_options(synchronize_session=False))
    if worker_ids is not None:
        q = q.where(Worker.id.in_(worker_ids))
    result = session.execute(q, clock.params())
    return result.rowcount
