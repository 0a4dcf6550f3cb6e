"""Importing rosters from CSV (UTF-8, a header row; ``gridmap workers roster FILE``).

Two kinds of file, told apart by their header:

- weekly shifts: ``staff_no,weekday,start,end`` — ISO weekday 1 (Monday) … 7 (Sunday), local
  ``HH:MM`` times in the city's time zone, ``end`` before ``start`` for an overnight shift,
  ``24:00`` for midnight at the end. The rows of one worker are their whole new week: it
  replaces the old one at once. A worker with a bad row keeps their old week (every row of
  theirs is reported), the other workers' weeks are replaced.
- exceptions: ``staff_no,kind,starts_at,ends_at,cover_staff_no,note`` — ``kind`` ``leave`` or
  ``duty``, ISO 8601 instants with an offset (or local ``YYYY-MM-DD HH:MM`` in the city's zone),
  ``cover_staff_no`` and ``note`` may be empty. Each row stands alone; a row already stored
  (same worker, kind, range and cover) is counted unchanged, never added twice.

Every rejected row is reported with its line number and the reason; one never sinks another
(each worker or row is written under its own savepoint).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.cityconfig import CityConfig
from geo.errors import GridmapError, InvalidInput
from geo.models import ExceptionKind, Worker
from geo.rosters.service import ExceptionInput, Shift, add_exception, check_shifts, parse_clock, replace_shifts

SHIFT_COLUMNS = ("staff_no", "weekday", "start", "end")
EXCEPTION_COLUMNS = ("staff_no", "kind", "starts_at", "ends_at", "cover_staff_no", "note")
MAX_ROWS = 200_000


@dataclass
class RosterImport:
    """What an import did: ``kind`` (shifts or exceptions), ``workers`` whose week was replaced,
    exceptions ``added`` and ``unchanged``, and ``rejects`` as (line, reason), line 1 the header."""

    kind: str
    rows: int = 0
    workers: int = 0
    added: int = 0
    unchanged: int = 0
    rejects: list[tuple[int, str]] = field(default_factory=list)


def _reason(exc: GridmapError) -> str:
    where = exc.details.get("field")
    return f"{where}: {exc.message}" if where else exc.message


def read_roster_csv(text: str) -> tuple[str, list[tuple[int, dict]]]:
    """(kind, [(line, row)]) of a roster CSV. Raises InvalidInput (field ``file``) for a header
    that is neither format, or more than MAX_ROWS rows."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = tuple(h.strip() for h in (reader.fieldnames or ()))
    if set(SHIFT_COLUMNS) <= set(header):
        kind = "shifts"
    elif set(EXCEPTION_COLUMNS[:4]) <= set(header):
        kind = "exceptions"
    else:
        raise InvalidInput(f"the header must be {','.join(SHIFT_COLUMNS)} (weekly shifts) or "
                           f"{','.join(EXCEPTION_COLUMNS)} (exceptions); found {','.join(header) or 'nothing'}",
                           field="file")
    rows = []
    for n, row in enumerate(reader, start=2):
        if n - 1 > MAX_ROWS:
            raise InvalidInput(f"more than {MAX_ROWS:,} rows: split the file", field="file")
        rows.append((n, {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None}))
    return kind, rows


def import_roster(session: Session, *, text: str, config: CityConfig, now: datetime,
                  advance: Callable[[int], None] | None = None) -> RosterImport:
    """Apply a roster CSV (module docstring) in the caller's transaction (roll it back for a
    dry run). ``advance(n)`` is told of each n rows done (a progress bar)."""
    kind, rows = read_roster_csv(text)
    staff = sorted({r["staff_no"] for _, r in rows if r.get("staff_no")}
                   | {r.get("cover_staff_no") for _, r in rows if r.get("cover_staff_no")})
    ids = {r.staff_no: r.id for r in session.execute(
        sa.select(Worker.staff_no, Worker.id).where(Worker.staff_no.in_(staff)))} if staff else {}
    result = RosterImport(kind, rows=len(rows))
    tick = advance or (lambda n: None)
    if kind == "shifts":
        _shifts(session, rows, ids, result, config=config, now=now, tick=tick)
    else:
        _exceptions(session, rows, ids, result, config=config, now=now, tick=tick)
    result.rejects.sort()
    return result


def _shifts(session, rows, ids, result: RosterImport, *, config, now, tick) -> None:
    by_worker: dict[str, list[tuple[int, dict]]] = {}
    for n, r in rows:
        if not r.get("staff_no"):
            result.rejects.append((n, "staff_no: missing"))
            tick(1)
            continue
        by_worker.setdefault(r["staff_no"], []).append((n, r))
    for staff_no, items in by_worker.items():
        bad: list[tuple[int, str]] = []
        week: list[Shift] = []
        if staff_no not in ids:
            bad = [(n, f"staff_no: no worker {staff_no!r}") for n, _ in items]
        for n, r in items if not bad else ():
            try:
                day = r.get("weekday", "")
                if not day.isdigit() or int(day) not in range(1, 8):
                    raise InvalidInput(f"{day!r} is not 1 (Monday) to 7 (Sunday)", field="weekday")
                week.append(Shift(int(day), parse_clock(r.get("start", ""), field="start"),
                                  parse_clock(r.get("end", ""), field="end", end=True)))
            except GridmapError as exc:
                bad.append((n, _reason(exc)))
        if not bad:
            try:
                check_shifts(week, field="row")
            except InvalidInput as exc:  # "row.i": the i-th row of this worker
                i = int(exc.details["field"].split(".")[1])
                bad.append((items[i][0], f"{exc.message}"))
        if not bad:
            try:
                with session.begin_nested():
                    replace_shifts(session, worker_id=ids[staff_no], shifts=week, config=config, now=now)
                result.workers += 1
            except GridmapError as exc:
                bad.append((items[0][0], _reason(exc)))
        if bad:
            lines = {n for n, _ in bad}
            result.rejects.extend(bad)
            result.rejects.extend((n, f"not applied: {staff_no}'s week has a rejected row")
                                  for n, _ in items if n not in lines)
        tick(len(items))


def _instant(value: str, *, field: str, config: CityConfig) -> datetime:
    try:
        t = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise InvalidInput(f"{value!r} is not a date-time (2026-11-22T09:30+08:00, or local 2026-11-22 09:30)",
                           field=field) from None
    return t if t.tzinfo else t.replace(tzinfo=config.tz)


_CSV_FIELD = {"cover_worker_id": "cover_staff_no", "worker_id": "staff_no"}


def _exceptions(session, rows, ids, result: RosterImport, *, config, now, tick) -> None:
    for n, r in rows:
        try:
            staff_no, cover = r.get("staff_no", ""), r.get("cover_staff_no") or None
            if staff_no not in ids:
                raise InvalidInput(f"no worker {staff_no!r}", field="staff_no")
            if cover is not None and cover not in ids:
                raise InvalidInput(f"no worker {cover!r}", field="cover_staff_no")
            if r.get("kind") not in {k.value for k in ExceptionKind}:
                raise InvalidInput(f"{r.get('kind')!r} is not leave or duty", field="kind")
            item = ExceptionInput(ExceptionKind(r["kind"]), _instant(r.get("starts_at", ""), field="starts_at", config=config),
                                  _instant(r.get("ends_at", ""), field="ends_at", config=config),
                                  ids.get(cover) if cover else None, r.get("note") or None)
            with session.begin_nested():
                _row, created = add_exception(session, worker_id=ids[staff_no], item=item, config=config, now=now)
            if created:
                result.added += 1
            else:
                result.unchanged += 1
        except GridmapError as exc:
            where = exc.details.get("field")
            where = _CSV_FIELD.get(where, where)  # the service names API fields; say the file's columns
            result.rejects.append((n, f"{where}: {exc.message}" if where else exc.message))
        tick(1)
