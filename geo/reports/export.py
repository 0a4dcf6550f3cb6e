"""Bulk exports of reports: every row a listing would match, as CSV, a GeoJSON text sequence,
(Geo)Parquet or a GeoPackage, streamed in batches with no ORM object per row.

What each viewer gets is the report view's rule (``api.report_views.report_view``), taken
from geo.access and evaluated per row in SQL: ``personal_condition`` is ``may_read_personal``,
and a sensitive case the viewer may not read in full appears at its public place
(``geo.access.privacy``): its cell's centre, its community instead of its grid, without its
text, worker or match kind. The personal columns (reporter, coordinates as received) exist
only for viewers holding ``reports:read_personal`` at all, and are empty on the rows a
scoped viewer (a worker: cases assigned to others) may not read.

The rows leave PostgreSQL once, through ``COPY (SELECT …) TO STDOUT`` as CSV, which is
written out as it comes or parsed by Arrow's C++ reader into record batches for the other
formats (``geo.reports.export_arrow``): Python never holds more than a batch, and never an
object per row.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from geo.access.audit import record_audit
from geo.access.privacy import PUBLIC_PRECISION_M, coarse_expr, public_code_expr, sensitive_expr
from geo.access.roles import Permission, Principal, own_case_condition, personal_condition
from geo.errors import InvalidInput
from geo.models import OPEN_STATUSES, Report, Worker
from geo.reports.queries import ReportFilter

# Media types (RFC 8142 for the sequence; the IANA Parquet type; OGC's GeoPackage type).
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "geojsonseq": "application/geo+json-seq",
    "parquet": "application/vnd.apache.parquet",
    "gpkg": "application/geopackage+sqlite3",
}
STREAMED = ("csv", "geojsonseq", "parquet")  # a GeoPackage is an SQLite file: written to disk, not streamed
SUFFIXES = {"csv": ".csv", "geojsonseq": ".geojsonseq", "parquet": ".parquet", "gpkg": ".gpkg"}
CHUNK_BYTES = 1 << 20  # what one streamed piece holds, about
# One export is one long statement: the API's per-statement limit (30 s) is for requests that
# should be quick; an export of a whole city's history gets this long instead.
EXPORT_TIMEOUT_MS = 15 * 60 * 1000
# Spreadsheets run a cell starting with these as a formula (CSV injection); ``excel`` quotes them.
FORMULA_START = "^[=+@\t\r-]"


@dataclass(frozen=True)
class Column:
    """One exported field: its name, its SQL, and its kind (text, time, float, int, bool)."""

    name: str
    expr: object
    kind: str
    free_text: bool = False  # typed by a person: neutralised for spreadsheets


def columns(viewer: Principal, *, now: datetime) -> list[Column]:
    """The exported fields for ``viewer`` (see the module docstring), in order. ``now``
    decides ``overdue`` (open and past its due time, as the report view says)."""
    personal = personal_condition(viewer, Report.assigned_worker_id)
    hide = sa.and_(sa.not_(personal), sa.not_(own_case_condition(viewer, Report.id)), sensitive_expr(Report.category))
    # A viewer who reads every case in full (dispatcher, admin) hides nothing: plain columns,
    # no CASE per row.
    none_hidden = isinstance(personal, sa.sql.elements.True_)

    def shown(expr):
        return expr if none_hidden else sa.case((hide, sa.null()), else_=expr)

    def public(expr, public_expr):
        return expr if none_hidden else sa.case((hide, public_expr), else_=expr)

    loc = public(Report.location, coarse_expr(Report.location))

    def degrees(fn):
        # 7 decimals, as the report view rounds (about 1 cm), in float arithmetic: a numeric
        # round costs 1.5 s per million rows. k·0.005 (a public cell) comes out exact.
        return sa.func.round(fn(loc) * sa.literal(1e7, literal_execute=True)) / sa.literal(1e7, literal_execute=True)

    overdue = sa.func.coalesce(sa.and_(Report.status.in_(OPEN_STATUSES), Report.due_at < now), sa.false())
    cols = [
        Column("id", Report.id, "text"),
        Column("category", Report.category, "text"),
        Column("subcategory", Report.subcategory, "text"),
        Column("status", Report.status, "text"),
        Column("source", Report.source, "text"),
        Column("reported_at", Report.reported_at, "time"),
        Column("dispatched_at", Report.dispatched_at, "time"),
        Column("due_at", Report.due_at, "time"),
        Column("resolved_at", Report.resolved_at, "time"),
        Column("closed_at", Report.closed_at, "time"),
        Column("overdue", overdue, "bool"),
        Column("escalation_level", Report.escalation_level, "int"),
        Column("escalated_to", public(Report.escalated_to, public_code_expr(Report.escalated_to)), "text"),
        Column("grid_code", public(Report.grid_code, public_code_expr(Report.grid_code)), "text"),
        Column("generation", Report.generation_id, "int"),
        Column("match", shown(Report.match_kind), "text"),
        Column("worker_id", shown(Report.assigned_worker_id), "int"),
        Column("worker", shown(Worker.public_name), "text", free_text=True),
        Column("lon", degrees(sa.func.ST_X), "float"),
        Column("lat", degrees(sa.func.ST_Y), "float"),
        Column("location_precision_m", sa.null() if none_hidden else sa.case((hide, PUBLIC_PRECISION_M)), "int"),
        Column("description", shown(Report.description), "text", free_text=True),
        Column("rating", Report.rating, "int"),
        Column("duplicate_of", Report.duplicate_of, "text"),
    ]
    if viewer.can(Permission.read_personal):
        def mine(expr):
            return expr if none_hidden else sa.case((personal, expr))

        cols += [
            Column("reporter_name", mine(Report.reporter_name), "text", free_text=True),
            Column("reporter_phone", mine(Report.reporter_phone), "text", free_text=True),
            Column("orig_x", mine(Report.orig_x), "float"),
            Column("orig_y", mine(Report.orig_y), "float"),
            Column("orig_crs", mine(Report.orig_crs), "text"),
        ]
    return cols


@dataclass
class Export:
    """An export to run: who asks, which rows, in which format. ``rows`` counts the rows
    written so far (final once the stream is exhausted)."""

    viewer: Principal
    filters: ReportFilter
    fmt: str
    now: datetime
    excel: bool = False  # CSV only: a UTF-8 byte-order mark and formula-safe text cells
    rows: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.fmt not in MEDIA_TYPES:
            raise InvalidInput(f"unknown format {self.fmt!r}: use {', '.join(MEDIA_TYPES)}", field="format")
        if self.excel and self.fmt != "csv":
            raise InvalidInput("is for CSV only", field="excel")


def export_select(export: Export, *, cols: list[Column] | None = None):
    """The SELECT of one export: its columns for its viewer, in no particular order.

    Unordered on purpose: ordered by time, PostgreSQL walks the reported_at index and fetches
    the rows at random (a million reads from disk, 2.5 times a sequential scan), or sorts
    them all before the first byte can leave; a reader sorts by ``reported_at`` if it needs to."""
    cols = cols if cols is not None else columns(export.viewer, now=export.now)
    return (
        sa.select(*[c.expr.label(c.name) for c in cols])
        .select_from(Report)
        .outerjoin(Worker, Worker.id == Report.assigned_worker_id)
        .where(*export.filters.conditions(export.now))
    )


def count_rows(session: Session, *, export: Export) -> int:
    """How many rows ``export`` will write (for a progress bar)."""
    return session.scalar(sa.select(sa.func.count()).select_from(Report)
                          .where(*export.filters.conditions(export.now))) or 0


def audit_export(session: Session, *, export: Export) -> None:
    """Record (uncommitted) that ``export.viewer`` exported personal data, when the export
    carries any: one audit row naming the format and the filters, not each report."""
    if not export.viewer.can(Permission.read_personal):
        return
    f = export.filters
    detail = {"format": export.fmt, "area_prefix": f.area_prefix, "categories": list(f.categories or []) or None,
              "status": f.status.value if f.status else None, "since": f.since.isoformat() if f.since else None,
              "until": f.until.isoformat() if f.until else None, "overdue": f.overdue, "unassigned": f.unassigned,
              "bbox": [f.bbox.minlon, f.bbox.minlat, f.bbox.maxlon, f.bbox.maxlat] if f.bbox else None}
    record_audit(session, actor=export.viewer, action="personal.export", subject_type="report", detail=detail)


def stream(session: Session, *, export: Export, progress: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """The export's bytes in pieces of about CHUNK_BYTES, in its format (``gpkg``: see
    ``geo.reports.export_arrow.write_gpkg``). ``progress`` is called with the rows written
    so far after each piece. Runs in the session's transaction (set to UTC for the text of
    times); raises InvalidInput(field=format) for a format that cannot be streamed."""
    if export.fmt == "csv":
        return _csv(session, export, progress)
    if export.fmt == "geojsonseq":
        from geo.reports.export_arrow import geojsonseq_stream

        return geojsonseq_stream(session, export=export, progress=progress)
    if export.fmt == "parquet":
        from geo.reports.export_arrow import parquet_stream

        return parquet_stream(session, export=export, progress=progress)
    raise InvalidInput(f"{export.fmt} is written to a file, not streamed: use {', '.join(STREAMED)}", field="format")


def prepare(session: Session) -> None:
    """The export's transaction: times in UTC, and the export's own statement limit."""
    session.execute(sa.select(sa.func.set_config("TimeZone", "UTC", True),
                              sa.func.set_config("statement_timeout", str(EXPORT_TIMEOUT_MS), True)))


def copy_csv(session: Session, *, export: Export, cols: list[Column] | None = None) -> Iterator[bytes]:
    """The export's rows as PostgreSQL writes CSV (a header line, then one piece per row:
    NULL empty, an empty text quoted, times ``2026-11-01 08:00:00+00``, booleans true/false).
    Sets ``export.rows`` when done."""
    cols = cols if cols is not None else columns(export.viewer, now=export.now)
    if export.excel:
        cols = [_formula_safe(c) if c.free_text else c for c in cols]
    cols = [Column(c.name, sa.cast(c.expr, sa.Text), c.kind) if c.kind == "bool" else c for c in cols]
    prepare(session)
    yield from copy_query(session.connection(), export_select(export, cols=cols),
                          counted=lambda rows: setattr(export, "rows", rows))


def copy_query(conn: Connection, query: sa.Select, *, counted: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """``query``'s rows from ``COPY (query) TO STDOUT`` as CSV (a header line, then one piece
    per row, NULL an empty field; times in the session's TimeZone). ``counted(rows)`` once done."""
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    # COPY takes no server-side parameters: psycopg binds them client-side. The statement is
    # SQLAlchemy's compiled SELECT; only the COPY wrapper is spelled here. Enum members go
    # as their values, as the column type's bind processor would send them.
    params = {k: v.value if isinstance(v, enum.Enum) else v for k, v in compiled.params.items()}
    cursor = conn.connection.driver_connection.cursor()
    try:
        with cursor.copy(f"COPY ({compiled}) TO STDOUT WITH (FORMAT csv, HEADER)", params) as copy:
            yield from copy
        if counted is not None:
            counted(cursor.rowcount)
    finally:
        cursor.close()


def _formula_safe(c: Column) -> Column:
    expr = sa.case((c.expr.regexp_match(FORMULA_START), sa.literal("'", literal_execute=True) + c.expr), else_=c.expr)
    return Column(c.name, expr, c.kind, free_text=True)


def joined(pieces: Iterator[bytes], size: int | None = None) -> Iterator[bytes]:
    """``pieces`` (COPY's rows) joined into pieces of about ``size`` bytes (CHUNK_BYTES)."""
    size = size or CHUNK_BYTES
    piece, held = [], 0
    for data in pieces:
        piece.append(data)
        held += len(data)
        if held >= size:
            yield b"".join(piece)
            piece, held = [], 0
    if piece:
        yield b"".join(piece)


def _csv(session: Session, export: Export, progress) -> Iterator[bytes]:
    if export.excel:
        yield b"\xef\xbb\xbf"
    done = 0
    for piece in joined(copy_csv(session, export=export)):
        yield piece
        if progress:
            done += piece.count(b"\n")  # rows so far (a line break inside quotes counts too: it is a bar)
            progress(done)
    if progress:
        progress(export.rows)
