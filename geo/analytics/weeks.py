"""Weeks of reports: Monday 00:00 in the city's time zone, binned in SQL and numbered.

The zone is the city configuration's ``timezone`` (an IANA name), passed by whoever asks
for weekly counts; nothing here assumes China Standard Time.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import sqlalchemy as sa

from geo.models import Report

_WEEK = 7 * 86400
_MONDAY_SHIFT_S = 3 * 86400  # 1970-01-01 was a Thursday: week 0 starts Monday 1969-12-29


@lru_cache(maxsize=16)
def _fixed_offset_s(zone: str) -> int | None:
    """The zone's UTC offset in seconds if it has kept one since 1992 and keeps it (no
    daylight saving; all of China since 1991), else None."""
    tz = ZoneInfo(zone)
    offsets = {datetime(y, m, 15, tzinfo=tz).utcoffset() for y in range(1992, 2100) for m in (1, 7)}
    return int(offsets.pop().total_seconds()) if len(offsets) == 1 else None


def week_bin(zone: str) -> sa.ColumnElement:
    """Per row: the start of the report's week, Monday 00:00 in ``zone`` (IANA name, from the
    city configuration). A zone of one offset bins the timestamptz itself: date_bin is integer
    arithmetic, a third of the cost of date_part('epoch') over 1 M rows, and converting every
    row to local time would add a quarter; a zone with daylight saving converts first. The
    origin and zone are inline SQL, not bind parameters, so the expression in SELECT and in
    GROUP BY is textually the same."""
    week = sa.literal_column("interval '7 days'")
    offset = _fixed_offset_s(zone)
    if offset is not None:
        origin = datetime(1970, 1, 5, tzinfo=timezone(timedelta(seconds=offset))).isoformat()
        return sa.func.date_bin(week, Report.reported_at, sa.literal_column(f"timestamptz '{origin}'"))
    local = sa.func.timezone(sa.literal(zone, literal_execute=True), Report.reported_at)
    return sa.func.date_bin(week, local, sa.literal_column("timestamp '1970-01-05'"))


def week_number(bin_: sa.ColumnElement, zone: str) -> sa.ColumnElement:
    """Per group: a week bin of :func:`week_bin` as the week number :func:`week_start` takes."""
    offset = _fixed_offset_s(zone)
    shift = (offset or 0) + _MONDAY_SHIFT_S  # a local-time bin's epoch is already local
    return sa.cast((sa.extract("epoch", bin_) + shift) / _WEEK, sa.Integer)


def week_numbers(instants: pd.Series | pd.DatetimeIndex, zone: str) -> np.ndarray:
    """Per instant (timezone-aware, any zone): the number of its week, Monday 00:00 in
    ``zone``, equal to ``week_number(week_bin(zone), zone)`` in SQL (int64; the batch jobs
    bin in pandas what the database bins in SQL). Raises ValueError for a missing instant."""
    ts = pd.DatetimeIndex(instants)
    if ts.tz is None:
        raise ValueError("week_numbers needs timezone-aware instants")
    if ts.hasnans:
        raise ValueError("week_numbers: a missing instant has no week")
    offset = _fixed_offset_s(zone)
    if offset is None:  # daylight saving: the local wall clock, as week_bin converts first
        seconds = ts.tz_convert(zone).tz_localize(None).as_unit("us").asi8 // 1_000_000
        offset = 0
    else:
        seconds = ts.as_unit("us").asi8 // 1_000_000
    return (seconds + offset + _MONDAY_SHIFT_S) // _WEEK


def week_start(week: int) -> date:
    """The local date (Monday) a week number of :func:`week_number` starts on."""
    return date(1970, 1, 1) + timedelta(days=7 * int(week) - 3)
