"""A city's working calendar: public holidays and make-up working days (调休).

Chinese public holidays move every year (the State Council publishes the next year's
arrangement each November) and are bridged by make-up days: a Saturday or Sunday that is
worked instead. A city lists both in its configuration::

    [calendar]
    holidays = ["2026-10-01..2026-10-07", "2026-01-01"]   # a day, or an inclusive range
    workdays = ["2026-09-20", "2026-10-10"]               # make-up days, worked though a weekend

A day is worked when it is a make-up day, or when it is one of the working weekdays
(``[working_hours] weekdays``) and not a holiday. Only working-hour deadlines
(``CityConfig.deadline`` with ``working_hours.enabled``) read it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta

from pydantic import BaseModel, Field, PrivateAttr, model_validator

# One entry may span at most this many days: a typo such as 2026-10-01..2062-10-07 is refused
# instead of expanding into 13,000 holidays.
MAX_SPAN_DAYS = 366


def parse_days(entry: object, *, field: str) -> tuple[date, date]:
    """``entry`` ("YYYY-MM-DD", "YYYY-MM-DD..YYYY-MM-DD" or a TOML date) as its first and last
    day (inclusive). Raises ValueError naming ``field`` and the entry."""
    if isinstance(entry, datetime):  # a TOML date-time: a datetime is also a date, but not a day
        raise ValueError(f"{field}: {entry!r} is a date-time; give a day (YYYY-MM-DD)")
    if isinstance(entry, date):
        return entry, entry
    if not isinstance(entry, str):
        raise ValueError(f"{field}: {entry!r} is not a day (YYYY-MM-DD) or a range (YYYY-MM-DD..YYYY-MM-DD)")
    first, sep, last = entry.strip().partition("..")
    try:
        start = date.fromisoformat(first.strip())
        end = date.fromisoformat(last.strip()) if sep else start
    except ValueError:
        raise ValueError(f"{field}: {entry!r} is not a day (YYYY-MM-DD) or a range (YYYY-MM-DD..YYYY-MM-DD)") from None
    if end < start:
        raise ValueError(f"{field}: the range {entry!r} ends before it starts")
    if (end - start).days >= MAX_SPAN_DAYS:
        raise ValueError(f"{field}: the range {entry!r} is longer than {MAX_SPAN_DAYS} days")
    return start, end


def expand(entries: Iterable[object], *, field: str) -> frozenset[date]:
    """Every day the ``entries`` name (see ``parse_days``)."""
    days: set[date] = set()
    for entry in entries:
        start, end = parse_days(entry, field=field)
        days.update(start + timedelta(days=i) for i in range((end - start).days + 1))
    return frozenset(days)


class WorkCalendar(BaseModel):
    """Holidays and make-up working days (entries as in the module docstring). A day may not
    be both; ranges must be ordered."""

    holidays: list[str | date] = Field(default_factory=list)
    workdays: list[str | date] = Field(default_factory=list)
    _holidays: frozenset[date] = PrivateAttr(default=frozenset())
    _workdays: frozenset[date] = PrivateAttr(default=frozenset())

    @model_validator(mode="after")
    def _expand(self) -> WorkCalendar:
        self._holidays = expand(self.holidays, field="holidays")
        self._workdays = expand(self.workdays, field="workdays")
        both = sorted(self._holidays & self._workdays)
        if both:
            raise ValueError("a day cannot be both a holiday and a make-up working day: "
                             + ", ".join(d.isoformat() for d in both[:5]) + (" …" if len(both) > 5 else ""))
        return self

    def is_holiday(self, day: date) -> bool:
        return day in self._holidays

    def is_make_up_day(self, day: date) -> bool:
        return day in self._workdays

    def is_workday(self, day: date, weekdays: Iterable[int]) -> bool:
        """Whether ``day`` is worked: a make-up day, or a working weekday (ISO numbers,
        Monday = 1) that is not a holiday."""
        return self.workday_rule(weekdays)(day)

    def workday_rule(self, weekdays: Iterable[int]) -> Callable[[date], bool]:
        """``is_workday`` for these ``weekdays`` as a function of the day, for loops over days
        (reading a pydantic private attribute costs more than the test itself)."""
        holidays, workdays, week = self._holidays, self._workdays, frozenset(weekdays)
        return lambda day: day in workdays or (day.isoweekday() in week and day not in holidays)
