"""The duty rule: whether a worker is on duty at a moment, from their roster. Written once, as
one SQL expression (``on_duty_expr``), so routing, escalation, the nearest-on-duty search, the
API and the periodic refresh of ``workers.on_duty`` all evaluate exactly the same thing, in
the database, next to the rows they already read.

At an instant ``at`` (local wall clock in the city's time zone for the weekly shifts):
1. a leave of the worker covering ``at`` → off duty (leave wins over everything);
2. else an extra duty of the worker covering ``at`` → on duty; so is covering a colleague: a
   leave covering ``at`` that names the worker as cover, while one of the absent colleague's
   weekly shifts covers ``at`` (the cover stands in for the hours the colleague would have
   worked, not for the nights of a week's leave);
3. else, when the worker has weekly shifts → on duty exactly when one covers ``at``: weekday
   and start ≤ minute < end, or for an overnight shift (end before start) also the next
   day's minutes before its end;
4. else (no weekly shifts: not rostered) → the stored ``workers.on_duty`` flag, as before
   rosters existed.
Ranges are half-open: a shift 08:30–17:30 is on duty at 08:30:00 and off at 17:30:00. Phone
position pings never enter the rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from geo.errors import InvalidInput
from geo.models import ExceptionKind, RosterException, RosterShift, Worker

MINUTES_PER_DAY = 1440


@dataclass(frozen=True, slots=True)
class DutyClock:
    """The moment duty is judged at: the instant, and its local ISO weekday and minute of the
    day in the city's time zone (what weekly shifts are written in)."""

    at: datetime
    weekday: int
    minute: int

    @classmethod
    def of(cls, now: datetime, zone: ZoneInfo) -> DutyClock:
        """For the aware instant ``now`` in ``zone``. Raises InvalidInput (field ``now``) if naive."""
        if now.tzinfo is None:
            raise InvalidInput("a moment needs its time zone", field="now")
        local = now.astimezone(zone)
        return cls(now, local.isoweekday(), local.hour * 60 + local.minute)

    @property
    def yesterday(self) -> int:
        return 7 if self.weekday == 1 else self.weekday - 1

    def params(self) -> dict:
        """The bind values ``on_duty_expr`` reads."""
        return {"duty_at": self.at, "duty_dow": self.weekday, "duty_min": self.minute, "duty_prev": self.yesterday}


def _at():
    return sa.bindparam("duty_at", type_=sa.DateTime(timezone=True))


def covering(at=None):
    """Exceptions whose half-open range [starts_at, ends_at) holds ``at`` (default: the clock's bind)."""
    at = _at() if at is None else at
    return sa.and_(RosterException.starts_at <= at, RosterException.ends_at > at)


def _in_shift(s=RosterShift):
    """The weekly shift row ``s`` holds the clock's local weekday and minute."""
    dow, minute, prev = (sa.bindparam(n, type_=sa.SmallInteger) for n in ("duty_dow", "duty_min", "duty_prev"))
    overnight = s.end_min < s.start_min
    return sa.or_(
        sa.and_(s.weekday == dow, s.start_min <= minute, sa.or_(s.end_min > minute, overnight)),
        sa.and_(s.weekday == prev, overnight, s.end_min > minute),
    )


def on_duty_expr(worker_id=Worker.id, flag=Worker.on_duty) -> sa.ColumnElement[bool]:
    """THE duty rule (module docstring) for the worker whose id is the column ``worker_id``,
    falling back to ``flag`` when they have no weekly shifts. Reads the bind parameters of
    ``DutyClock.params()``, so a statement using it is built once and run at any moment."""
    e, s = RosterException, RosterShift
    # NULL when none of the worker's own exceptions holds the moment; false when a leave does.
    own = (sa.select(sa.func.bool_and(e.kind == ExceptionKind.duty))
           .where(e.worker_id == worker_id, covering()).scalar_subquery())
    # Covering a colleague's leave during the colleague's own shift: true, else NULL. A scalar
    # subquery with LIMIT, not EXISTS: the planner would hash an EXISTS over every covering
    # leave and running shift of the city once per statement (~70 ms on the demo) instead of
    # probing the cover index per worker.
    absent = aliased(RosterShift)
    covers = (sa.select(sa.true()).where(e.cover_worker_id == worker_id, covering(),
                                         absent.worker_id == e.worker_id, _in_shift(absent))
              .limit(1).scalar_subquery())
    # NULL when the worker has no weekly shifts (not rostered): the flag decides.
    weekly = sa.select(sa.func.bool_or(_in_shift())).where(s.worker_id == worker_id).scalar_subquery()
    return sa.func.coalesce(own, covers, weekly, flag)


def leave_cover_expr(worker_id=Worker.id) -> sa.ScalarSelect:
    """The colleague named to cover the worker's leave at the clock's instant (NULL: none)."""
    e = RosterException
    # A worker's exceptions never overlap (geo.rosters.service), so at most one leave holds
    # the moment: an aggregate, not a sort.
    return (
        sa.select(sa.func.max(e.cover_worker_id))
        .where(e.worker_id == worker_id, e.kind == ExceptionKind.leave, covering())
        .scalar_subquery()
    )


def rostered_expr(worker_id=Worker.id) -> sa.ColumnElement[bool]:
    """Whether the worker has weekly shifts (then the roster, not the flag, decides their duty)."""
    return sa.exists().where(RosterShift.worker_id == worker_id)
