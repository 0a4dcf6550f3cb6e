"""Write the reports archive (``geo.archive.layout``) from the database, incrementally.

Each run rewrites only the months that changed since the last one, each whole, from the
database. What changed is told by ``reports.change_seq`` (migration 0020: every insert and
every update draws the next value of the sequence ``reports_change_seq``) and, for reports
that left a month (deleted, or their ``reported_at`` changed, or a TRUNCATE), by
``report_departures`` (filled by triggers with values of the same sequence).
``archive.json`` keeps the watermark W: every change with ``change_seq <= W`` is in the files.

Why the watermark is safe with concurrent writers: a sequence value is issued when a row is
written, not when it commits, so "the highest change_seq I have seen" could pass over a row
written earlier by a transaction that commits later (with a lower value), and lose it for
good. So W is read under ``LOCK TABLE reports IN SHARE MODE``, in a short transaction of its
own: the lock waits until every transaction writing reports has ended (and holds new writers
back only for that instant), and every value is issued by a writer holding a lock that
conflicts with it (the INSERT, UPDATE, DELETE or TRUNCATE on reports, also for the triggers'
departure rows). Once it is granted, every value issued so far belongs to a transaction that
has committed or rolled back; the sequence's last value is W (CACHE 1: values are issued in
order), and values issued later are above W. Then, in new snapshots, the months holding a row
with ``previous W < change_seq <= W`` (an index range scan), and the months departures in that
range left, are each rewritten from all their current rows. Rows changed after W may already
be in those files; they are rewritten again next time (a month is always written whole,
so that is harmless), and none is missed. Waiting for the lock is bounded (``lock_timeout_s``,
default 5 s): a long bulk write makes the run fail with Busy instead of holding intake back
behind the lock request; nothing is written then and the next run catches up.

``archive.json`` also names the database and sequence the watermark counts in (``source_of``):
an archive of another database, or one whose watermark this database has not reached (a
restore), is refused; ``full`` rewrites it instead.

The months to rewrite are read in one ``COPY`` in time order, in one snapshot (a full archive
of the demo's 1 M reports: one scan and sort), and cut into months as they stream; memory is
bounded by one month (its rows as one frame: ~300 MB resident for the demo's 40,000-report
months). No personal data is read.
"""

from __future__ import annotations

import fcntl
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import OID, REGCLASS

from geo.archive.layout import (
    COLUMNS, META, REPORTS, ArchiveMeta, month_dir, months, read_meta, write_meta, write_month,
)
from geo.cityconfig import CityConfig
from geo.errors import Busy, InvalidState
from geo.models import Report, ReportDeparture
from geo.reports.export import copy_query, joined
from geo.reports.export_arrow import CSV_BLOCK_BYTES, PiecesReader

SEQUENCE = "reports_change_seq"
LOCK = ".archive.lock"


@dataclass
class ArchiveRun:
    """What one run did: ``written`` the months rewritten (``removed``: those among them left
    empty, so deleted), ``rows`` the rows written, ``unchanged`` the months kept as they were,
    the watermark before and after."""

    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    rows: int = 0
    unchanged: int = 0
    watermark_before: int = 0
    watermark_after: int = 0


Progress = Callable[[int, int, str], None]  # (months done, months to write, the month just written)


@contextmanager
def _transaction(bind: sa.Engine | sa.Connection) -> Iterator[sa.Connection]:
    """A transaction of its own on an engine; on a connection, the caller's (which it ends)."""
    if isinstance(bind, sa.Engine):
        with bind.begin() as conn:
            yield conn
    else:
        yield bind


def read_watermark(conn: sa.Connection, *, lock_timeout_s: float = 5.0) -> int:
    """The highest change_seq every change up to which is committed (or rolled back): the last
    value of ``reports_change_seq`` under a SHARE lock on reports (module docstring), 0 when
    none was ever issued. The lock lasts until ``conn``'s transaction ends: end it at once.
    Raises Busy when writers hold reports longer than ``lock_timeout_s``."""
    conn.execute(sa.select(sa.func.set_config("lock_timeout", f"{max(1, int(lock_timeout_s * 1000))}ms", True)))
    try:
        with conn.begin_nested():
            # A fixed statement (no SQLAlchemy construct exists for LOCK).
            conn.exec_driver_sql("LOCK TABLE reports IN SHARE MODE")
    except sa.exc.OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != "55P03":  # lock_not_available
            raise
        raise Busy(f"reports were being written for more than {lock_timeout_s:g} s (a bulk import, rematch or "
                   "purge?)", hint="run the archive again when that has finished (or give a longer --lock-timeout)") from None
    last = conn.scalar(sa.select(sa.func.pg_sequence_last_value(sa.cast(SEQUENCE, REGCLASS))))
    return int(last or 0)


def source_of(conn: sa.Connection) -> str:
    """Which database and which change sequence a watermark counts in: the database's name and
    OID and the sequence's OID. A database restored by pg_restore, or a sequence dropped and
    created again (a migration undone and redone), numbers its changes anew: its watermark
    means nothing to an archive written from the other."""
    db = sa.table("pg_database", sa.column("oid"), sa.column("datname"))
    name, db_oid, seq_oid = conn.execute(sa.select(
        sa.func.current_database(),
        sa.select(sa.cast(db.c.oid, sa.BigInteger)).where(db.c.datname == sa.func.current_database())
        .scalar_subquery(),
        sa.cast(sa.cast(sa.cast(SEQUENCE, REGCLASS), OID), sa.BigInteger))).one()
    return f"{name}:{db_oid}:{seq_oid}"


def month_of(at: datetime, tz: ZoneInfo) -> str:
    """``YYYY-MM``: the month of the instant ``at`` in ``tz``."""
    return at.astimezone(tz).strftime("%Y-%m")


def month_bounds(month: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants (UTC) a month in ``tz`` starts and ends at (end exclusive)."""
    year, mon = (int(p) for p in month.split("-"))
    start = datetime(year, mon, 1, tzinfo=tz)
    end = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def _local_month(tz: ZoneInfo):
    return sa.func.to_char(sa.func.timezone(tz.key, Report.reported_at), "YYYY-MM")


def changed_months(conn: sa.Connection, *, after: int, upto: int, tz: ZoneInfo) -> set[str] | None:
    """The months (``YYYY-MM`` in ``tz``) holding a report with ``after < change_seq <= upto``
    or left by a departure in that range; None: every month (a TRUNCATE is in the range)."""
    departed: set[str] = set()
    rows = conn.execute(sa.select(ReportDeparture.first_at, ReportDeparture.last_at)
                        .where(ReportDeparture.change_seq > after, ReportDeparture.change_seq <= upto))
    for first, last in rows:
        if first is None:
            return None
        departed.update((month_of(first, tz), month_of(last, tz)))
    present = conn.scalars(sa.select(_local_month(tz)).distinct()
                           .where(Report.change_seq > after, Report.change_seq <= upto))
    return departed | set(present)


def database_months(conn: sa.Connection, *, tz: ZoneInfo) -> set[str]:
    """Every month (in ``tz``) holding a report."""
    return set(conn.scalars(sa.select(_local_month(tz)).distinct()))


def _selected():
    cols = [sa.cast(Report.id, sa.String).label("id")]
    cols += [Report.__table__.c[name] for name in COLUMNS if name != "id"]
    return [*cols, sa.func.ST_X(Report.location).label("lon"), sa.func.ST_Y(Report.location).label("lat")]


# How Arrow reads each column of the COPY (times: PostgreSQL's text in UTC, "2026-11-01 08:00:00+00").
_ARROW = {"string": pa.string(), "Int32": pa.int32(), "Int64": pa.int64(), "int64": pa.int64(),
          "datetime64[us, UTC]": pa.timestamp("us", tz="UTC")}


def _runs(todo: list[str], tz: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """The months (ascending) as the fewest [start, end) ranges: consecutive months join."""
    runs: list[tuple[datetime, datetime]] = []
    for month in todo:
        start, end = month_bounds(month, tz)
        if runs and runs[-1][1] == start:
            runs[-1] = (runs[-1][0], end)
        else:
            runs.append((start, end))
    return runs


def read_months(conn: sa.Connection, *, todo: list[str], tz: ZoneInfo) -> Iterator[tuple[str, pd.DataFrame]]:
    """Every report of each month of ``todo`` (``YYYY-MM`` in ``tz``, ascending), month by month
    (an empty frame for a month without reports): the archive's columns plus lon/lat (WGS-84
    degrees), in (reported_at, id) order.

    One ``COPY`` of all their rows in that order (one scan and sort for a full archive instead
    of a pass over the table per month: the rows of a month lie all over the table), parsed by
    Arrow's CSV reader as it streams, so no row becomes a Python object; only the month being
    cut is held in memory. One statement: one snapshot of the database for the whole run."""
    if not todo:
        return
    bounds = [month_bounds(m, tz) for m in todo]
    ranges = _runs(todo, tz)
    query = (sa.select(*_selected())
             .where(sa.or_(*(sa.and_(Report.reported_at >= a, Report.reported_at < b) for a, b in ranges)))
             .order_by(Report.reported_at, Report.id))
    conn.execute(sa.select(sa.func.set_config("TimeZone", "UTC", True)))
    types = {name: _ARROW[dtype] for name, dtype in COLUMNS.items()} | {"lon": pa.float64(), "lat": pa.float64()}
    source = io.BufferedReader(PiecesReader(joined(copy_query(conn, query))), 1 << 20)
    reader = pacsv.open_csv(source, read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
                            parse_options=pacsv.ParseOptions(newlines_in_values=True),
                            convert_options=pacsv.ConvertOptions(
                                column_types=types, null_values=[""], strings_can_be_null=True,
                                quoted_strings_can_be_null=False))
    ends = np.array([int(b.timestamp() * 1_000_000) for _, b in bounds], dtype=np.int64)  # µs, exclusive
    current, held = 0, []
    for batch in reader:
        at = batch.column("reported_at").cast(pa.int64()).to_numpy()
        # The rows are in time order: each month's rows are one slice of the batch.
        cuts = np.searchsorted(at, ends, side="left")
        lo = 0
        while current < len(todo) and cuts[current] < len(at):
            held.append(batch.slice(lo, cuts[current] - lo))
            yield todo[current], _frame(held, reader.schema)
            lo, held, current = cuts[current], [], current + 1
        held.append(batch.slice(lo))
    while current < len(todo):
        yield todo[current], _frame(held, reader.schema)
        held, current = [], current + 1


def _frame(batches: list[pa.RecordBatch], schema: pa.Schema) -> pd.DataFrame:
    # Nullable integers stay integers (a float would not hold a 64-bit H3 cell exactly).
    mapper = {pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype(), pa.string(): pd.StringDtype()}.get
    return pa.Table.from_batches(batches, schema=schema).to_pandas(types_mapper=mapper)


@contextmanager
def _exclusive(root: Path) -> Iterator[None]:
    """One run at a time per archive folder (a second one fails instead of interleaving)."""
    with (root / LOCK).open("w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(f"another archive run is writing {root}", hint="wait for it to finish") from None
        yield


def _check_folder(root: Path, meta: ArchiveMeta | None, config: CityConfig) -> None:
    if meta is None:
        stray = sorted(p.name for p in root.iterdir() if p.name not in (REPORTS, META, LOCK))
        if stray:
            raise InvalidState(f"{root} is not an archive and not empty ({', '.join(stray[:3])}, ...)",
                               hint="give another folder (an empty or a new one)", folder=str(root))
        return
    if meta.timezone != config.timezone or (meta.city and meta.city != config.name):
        raise InvalidState(f"{root} is the archive of {meta.city or 'a city'} in {meta.timezone}, not of "
                           f"{config.name} in {config.timezone}", hint="give another folder for this city's archive",
                           folder=str(root))


def archive_reports(
    bind: sa.Engine | sa.Connection, *, out: Path, config: CityConfig, full: bool = False,
    lock_timeout_s: float = 5.0, progress: Progress | None = None,
) -> ArchiveRun:
    """Bring the archive in ``out`` up to date with the database: write the months changed
    since its watermark (all of them on the first run, or with ``full``), remove the months no
    report is in any more, then record the new watermark in ``archive.json``.

    ``bind``: an Engine (each step in a short transaction of its own: the way to run it), or a
    Connection whose transaction it runs in (tests; the SHARE lock is then held until the
    caller's transaction ends). ``progress(done, total, month)`` is called once the months are
    known (done 0) and after each. Raises InvalidState when ``out`` holds something else (an
    archive of another city or time zone, other files, an archive ahead of this database, or
    another archive format) and Busy when reports stay locked or another run writes ``out``.
    """
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    tz = config.tz
    if not (root / META).exists():  # refuse a foreign folder before leaving a lock file in it
        _check_folder(root, None, config)
    with _exclusive(root):
        try:
            meta = read_meta(root)
        except ValueError as exc:
            raise InvalidState(str(exc), hint="give another folder (or use the gridmap that wrote this one)",
                               folder=str(root)) from None
        _check_folder(root, meta, config)
        before = meta.watermark if meta is not None and not full else 0
        with _transaction(bind) as conn:
            upto = read_watermark(conn, lock_timeout_s=lock_timeout_s)
            source = source_of(conn)
        if before and meta.source and meta.source != source:
            raise InvalidState(f"{root} was archived from another database ({meta.source}; this one is {source}), "
                               "whose change numbers mean nothing here",
                               hint="give another folder, or rewrite this one with --full", folder=str(root))
        if upto < before:
            raise InvalidState(f"{root} is archived up to change {before:,}, but this database has only issued "
                               f"{upto:,}: it is another database (or one restored from a backup)",
                               hint="give another folder, or rewrite this one with --full", folder=str(root))
        with _transaction(bind) as conn:
            todo = changed_months(conn, after=before, upto=upto, tz=tz) if before else None
            if todo is None:
                todo = database_months(conn, tz=tz) | set(months(root))
        meta = meta or ArchiveMeta(timezone=config.timezone)
        meta.city, meta.source = config.name, source
        run = ArchiveRun(watermark_before=before, watermark_after=upto)
        order = sorted(todo)
        if progress:
            progress(0, len(order), "")
        with _transaction(bind) as conn:
            for done, (month, frame) in enumerate(read_months(conn, todo=order, tz=tz), 1):
                existed = month in meta.months or month_dir(root, month).exists()
                rows = write_month(root, month, frame)
                run.rows += rows
                if rows:
                    meta.months[month] = rows
                    run.written.append(month)
                else:
                    meta.months.pop(month, None)
                    if existed:
                        run.written.append(month)
                        run.removed.append(month)
                if progress:
                    progress(done, len(order), month)
        meta.watermark = upto
        write_meta(root, meta)
        run.unchanged = len(set(months(root)) - set(order))
        return run
