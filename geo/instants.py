"""The one set of rules for times a client sends: report times, position fixes, windows.

- A time is an ISO 8601 string with a UTC offset (``2026-11-22T09:30:00+08:00``, ``…Z``).
  A number is not a time: ``1700000000`` or ``0.5`` is refused, never read as a Unix epoch.
- A window bound may also be a bare date (``2026-11-01``): that day's start in the city's
  time zone. A report or position time may not (it must be an instant).
- Every time lies within [ABSOLUTE_EARLIEST, LATEST]; report times after the city's
  configured earliest date (default 2000-01-01). Outside that range PostgreSQL would store
  what Python cannot read back (``0001-01-01T00:00:00+14:00`` is 1 BC in UTC).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from geo.errors import InvalidInput

# Nothing a city records predates this, and every year from here on reads back in Python.
ABSOLUTE_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
# Phones' clocks drift; a report "from the future" by less than this is accepted as now.
CLOCK_SKEW = timedelta(minutes=5)

_DATE = r"\d{4}-\d{2}-\d{2}"
_INSTANT = re.compile(rf"^{_DATE}[T ]\d{{2}}:\d{{2}}(:\d{{2}}(\.\d{{1,9}})?)?(Z|z|[+-]\d{{2}}(:?\d{{2}})?)$")
_NAIVE = re.compile(rf"^{_DATE}[T ]\d{{2}}:\d{{2}}(:\d{{2}}(\.\d{{1,9}})?)?$")
_BARE_DATE = re.compile(rf"^{_DATE}$")

INSTANT_FORMAT = "an ISO 8601 date-time with a UTC offset, e.g. 2026-11-22T09:30:00+08:00"


def instant_problem(value: object) -> str | None:
    """Why ``value`` is not an ISO 8601 instant string with an offset (None when it is)."""
    if isinstance(value, bool) or isinstance(value, int | float):
        return f"must be {INSTANT_FORMAT}, not a number"
    if not isinstance(value, str):
        return f"must be {INSTANT_FORMAT}"
    if _NAIVE.match(value):
        return f"must include a timezone offset: {INSTANT_FORMAT}"
    if not _INSTANT.match(value):
        return f"must be {INSTANT_FORMAT}"
    return None


def start_of_day(day: date, tz: tzinfo) -> datetime:
    """Midnight at the start of ``day`` in ``tz`` (what a bare date in a window means)."""
    return datetime.combine(day, time(0), tzinfo=tz)


def _parse(value: str, field: str) -> datetime:
    try:
        return datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise InvalidInput(f"is not a valid date-time: {value!r}", field=field) from None


def check_range(value: datetime, *, field: str, earliest: datetime = ABSOLUTE_EARLIEST,
                latest: datetime = LATEST) -> datetime:
    """``value`` (aware) if within [earliest, latest], else InvalidInput naming ``field``."""
    if value.tzinfo is None:
        raise InvalidInput("must include a timezone offset", field=field)
    if value < earliest:
        raise InvalidInput(f"must not be before {earliest.date().isoformat()}", field=field)
    if value >= latest:
        raise InvalidInput(f"must be before {latest.date().isoformat()}", field=field)
    return value


def parse_instant(value: str, *, field: str) -> datetime:
    """An aware datetime from an ISO 8601 string with an offset, within the absolute range.

    Raises InvalidInput naming ``field``."""
    if (reason := instant_problem(value)) is not None:
        raise InvalidInput(reason, field=field)
    return check_range(_parse(value, field), field=field)


def parse_bound(value: str, *, field: str, tz: tzinfo) -> datetime:
    """A window bound: an instant with an offset, or a bare date meaning its start in ``tz``.

    Raises InvalidInput naming ``field``."""
    if isinstance(value, str) and _BARE_DATE.match(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise InvalidInput(f"is not a valid date: {value!r}", field=field) from None
        return check_range(start_of_day(day, tz), field=field)
    if (reason := instant_problem(value)) is not None:
        raise InvalidInput(reason.replace("must be ", "must be a date (YYYY-MM-DD) or ", 1), field=field)
    return check_range(_parse(value, field), field=field)


def parse_window(since: str | None, until: str | None, *, tz: tzinfo) -> tuple[datetime | None, datetime | None]:
    """``since``/``until`` query values as aware datetimes (None stays None); ``since`` must
    come before ``until``. Raises InvalidInput naming the field."""
    start = parse_bound(since, field="since", tz=tz) if since is not None else None
    end = parse_bound(until, field="until", tz=tz) if until is not None else None
    if start is not None and end is not None and start >= end:
        raise InvalidInput("must be after since", field="until")
    return start, end


def parse_interval(value: str, *, field: str, tz: tzinfo) -> tuple[datetime | None, datetime | None]:
    """An OGC API ``datetime``: an instant, a bare date (that whole day in ``tz``), or an
    interval ``start/end`` of those whose open end is ``..`` or empty. Returns the half-open
    range [since, until) it selects (None: unbounded); the closed interval's end is kept
    (an instant end selects up to and including it, a date end the whole day).

    Raises InvalidInput naming ``field``."""
    parts = value.split("/")
    if len(parts) > 2 or not value.strip():
        raise InvalidInput("must be a date-time, a date, or an interval start/end (open ends: ..)", field=field)
    bounds = []
    for k, part in enumerate(parts):
        if part in ("", "..") and len(parts) == 2:
            bounds.append((None, None))
            continue
        if _BARE_DATE.match(part):
            start = parse_bound(part, field=field, tz=tz)
            bounds.append((start, check_range(start_of_day(start.date() + timedelta(days=1), tz), field=field)))
            continue
        if (reason := instant_problem(part)) is not None:
            raise InvalidInput(reason.replace("must be ", "must be a date (YYYY-MM-DD) or ", 1), field=field)
        at = check_range(_parse(part, field), field=field)
        bounds.append((at, at + timedelta(microseconds=1)))
    if len(bounds) == 1:
        return bounds[0]
    (since, _), (_, until) = bounds
    if since is None and until is None:
        return None, None
    if since is not None and until is not None and since >= until:
        raise InvalidInput("the interval's end must not be before its start", field=field)
    return since, until


def check_not_future(value: datetime, *, now: datetime, field: str) -> None:
    """Refuse a time later than ``now`` plus the clock skew (InvalidInput naming ``field``)."""
    if value > now + CLOCK_SKEW:
        raise InvalidInput("is in the future", field=field)


def check_reported_at(value: datetime, *, now: datetime, earliest: datetime, field: str = "reported_at") -> None:
    """A report's time: aware, not before ``earliest`` (the city's configured date), and not
    later than ``now`` plus the clock skew. Raises InvalidInput naming ``field``."""
    if value.tzinfo is None:
        raise InvalidInput("must include a timezone offset", field=field)
    if value < max(earliest, ABSOLUTE_EARLIEST):
        raise InvalidInput(f"must not be before {max(earliest, ABSOLUTE_EARLIEST).date().isoformat()} "
                           "(the configured earliest report date)", field=field)
    check_not_future(value, now=now, field=field)
