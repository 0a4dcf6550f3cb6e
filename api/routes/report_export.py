"""`GET /api/v1/reports/export`: every report a listing would match, streamed in one answer.

Included in the app before the reports router: ``/reports/{report_id}`` would otherwise take
``export`` for an id (and refuse it as not a UUID)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from api.deps import SessionOpenerDep
from api.params import (
    PUBLIC_MAX_DAYS,
    AreaQuery,
    BBoxQuery,
    CategoryQuery,
    OverdueQuery,
    StatusQuery,
    UnassignedQuery,
    WindowDep,
    bounded_window,
    listing_filter,
)
from api.security import require
from geo.access import Permission
from geo.reports.export import MEDIA_TYPES, SUFFIXES, Export, audit_export, stream

router = APIRouter(tags=["reports"])

FormatQuery = Annotated[Literal["csv", "geojsonseq", "parquet"], Query(
    alias="format", examples=["csv"], description=(
        "`csv` (UTF-8, a header line), `geojsonseq` (RFC 8142: one GeoJSON Feature per line, each after a "
        "record separator) or `parquet` (GeoParquet 1.1: WKB points in `geometry`, plus `lon`/`lat`)."))]


@router.get(
    "/reports/export", summary="Export reports in bulk",
    response_class=StreamingResponse,
    responses={200: {"description": "Every matching report, streamed (in no particular order)",
                     "content": {MEDIA_TYPES["csv"]: {}, MEDIA_TYPES["geojsonseq"]: {}, MEDIA_TYPES["parquet"]: {}}},
               401: {"description": "The token sent is not valid"},
               404: {"description": "No such area"}, 422: {"description": "Invalid field"}},
)
def get_export(
    request: Request, open_session: SessionOpenerDep, principal: require(Permission.read_reports), window: WindowDep,
    fmt: FormatQuery = "csv",
    area: AreaQuery = None,
    category: CategoryQuery = None,
    status: StatusQuery = None,
    bbox: BBoxQuery = None,
    overdue: OverdueQuery = False,
    unassigned: UnassignedQuery = False,
    excel: Annotated[bool, Query(examples=[False], description=(
        "CSV for spreadsheets: a UTF-8 byte-order mark (so Excel reads Chinese text), and free-text cells "
        "starting with = + - @ prefixed with ' (so none runs as a formula)."))] = False,
):
    """The reports the listing (`GET /api/v1/reports`) would match, with the same filters, as one
    streamed file; each row shows what that report's view shows the caller. The public (and any
    role without personal data) gets the public record: sensitive cases at their public cell
    and community, without text or worker, and no reporter columns; the bbox tests the public
    location. Dispatchers and admins get full records (the export is audited); a worker gets
    the reporter of their own cases only. Without the full-history permission the window is
    whole days, at most a year (default: the last year)."""
    now = datetime.now(UTC)
    window = bounded_window(window, full=principal.can(Permission.full_history), tz=request.app.state.city_config.tz,
                            now=now, default_days=PUBLIC_MAX_DAYS)
    with open_session() as session:
        export = Export(viewer=principal, fmt=fmt, now=now, excel=excel, filters=listing_filter(
            session, viewer=principal, window=window, area=area, category=category, status=status, bbox=bbox,
            overdue=overdue, unassigned=unassigned))
        audit_export(session, export=export)
        session.commit()

    def body():
        # Its own session: the request's would be closed before the last byte is sent.
        with open_session() as session:
            try:
                yield from stream(session, export=export)
            finally:
                session.rollback()

    name = f"reports-{now:%Y%m%dT%H%M%SZ}{SUFFIXES[fmt]}"
    return StreamingResponse(body(), media_type=MEDIA_TYPES[fmt], headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})
