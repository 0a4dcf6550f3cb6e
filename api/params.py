"""Query parameters several routes share, parsed in one place: paging, bbox, generation,
time windows. Every bound is explicit, so no value a client sends can reach the database as
an integer it cannot hold or an offset that scans the whole table."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError

from api.errors import FieldError
from geo.boundaries.areas import BBox
from geo.errors import InvalidInput
from geo.instants import parse_window, start_of_day
from geo.models import ReportStatus
from geo.reports.categories import CATEGORY_FILTER_DOC

CODE_PATTERN = r"^[0-9]{6}([0-9]{3}){0,3}$"  # a hierarchy code: 6, 9, 12 or 15 digits
INT4_MAX = 2**31 - 1
BIGINT_MAX = 2**63 - 1
# Past this, `offset` paging costs a scan of everything skipped: follow the `next` link
# (keyset paging, constant cost per page) instead.
MAX_OFFSET = 10_000

GenerationQuery = Annotated[
    int | None, Query(ge=1, le=INT4_MAX, examples=[1], description=(
        "Boundary generation (default: the active one; a past one for old cases, the draft to preview it)."))]
LimitQuery = Annotated[int | None, Query(ge=1, le=10_000, examples=[50], description=(
    "Page size (default GRIDMAP_PAGE_SIZE, 100; at most GRIDMAP_MAX_PAGE_SIZE, 1,000)."))]
OffsetQuery = Annotated[int, Query(ge=0, le=MAX_OFFSET, examples=[0], description=(
    f"Items to skip (at most {MAX_OFFSET:,}); page further with the `next` link, which pages by key."))]
CODE_EXAMPLE = "211103001001001"
CodePath = Annotated[str, Path(pattern=CODE_PATTERN, examples=[CODE_EXAMPLE], description=(
    "An area's code: 6 digits a district, 9 a street, 12 a community, 15 a grid."))]
REPORT_ID_EXAMPLE = "7d0f6c2e-4a51-4e4e-9d61-5b7f3c2a9e10"
ReportIdPath = Annotated[uuid.UUID, Path(examples=[REPORT_ID_EXAMPLE], description="The report's id (a UUID).")]
LON_DOC = "Longitude in degrees (or the easting in metres for a projected EPSG crs)."
LAT_DOC = "Latitude in degrees (or the northing in metres for a projected EPSG crs)."
LonQuery = Annotated[float, Query(allow_inf_nan=False, examples=[122.0773], description=LON_DOC)]
LatQuery = Annotated[float, Query(allow_inf_nan=False, examples=[41.1231], description=LAT_DOC)]
BBoxQuery = Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat (WGS-84 degrees)",
                                        examples=["122.05,41.11,122.08,41.13"])]
SinceQuery = Annotated[str | None, Query(examples=["2026-11-01"], description=(
    "Window start: an ISO 8601 date-time with a UTC offset (2026-11-01T00:00:00+08:00; write + as %2B in a URL) "
    "or a date (2026-11-01: the day's start in the city's time zone)."))]
CategoryQuery = Annotated[str | None, Query(max_length=40, examples=["urban"], description=(
    "The reports of: " + CATEGORY_FILTER_DOC + " (the same vocabulary as the maps)."))]
CrsQuery = Annotated[str | None, Query(max_length=16, examples=["gcj02"], description=(
    "The crs of lon/lat, as at intake: wgs84 (default), cgcs2000, gcj02 (Amap, Tencent, WeChat), bd09 (Baidu) "
    "or EPSG:<code> (projected: lon is the easting, lat the northing, in metres)."))]
UntilQuery = Annotated[str | None, Query(examples=["2026-11-08T00:00:00+08:00"], description=(
    "Window end, exclusive; same forms as `since`."))]
AreaQuery = Annotated[str | None, Query(pattern=CODE_PATTERN, examples=["211103001"], description=(
    "Reports in this area: any hierarchy code (district, street, community or grid)."))]
StatusQuery = Annotated[ReportStatus | None, Query(examples=["dispatched"], description="Only cases in this state.")]
OverdueQuery = Annotated[bool, Query(examples=[True], description="Only open cases past their due time.")]
UnassignedQuery = Annotated[bool, Query(examples=[True], description=(
    "Only cases no grid covers (matched `unassigned`: the city command centre's queue)."))]


def page_size(limit: int | None, *, default: int, maximum: int) -> int:
    """The page size to use; 422 naming ``limit`` above ``maximum``."""
    if limit is not None and limit > maximum:
        raise FieldError("limit", f"must be at most {maximum}")
    return limit or default


def parse_bbox(raw: str | None) -> BBox | None:
    """``minlon,minlat,maxlon,maxlat`` in degrees → BBox, or a 422 naming ``bbox``."""
    if raw is None:
        return None
    parts = raw.split(",")
    if len(parts) != 4:
        raise FieldError("bbox", "expected 4 comma-separated numbers: minlon,minlat,maxlon,maxlat")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise FieldError("bbox", "every value must be a number") from None
    if any(v != v or v in (float("inf"), float("-inf")) for v in values):
        raise FieldError("bbox", "values must be finite numbers")
    try:
        return BBox(*values)
    except InvalidInput as exc:
        raise FieldError("bbox", exc.message) from None


class TimeWindow:
    """A parsed ``since``/``until`` pair (aware datetimes or None), by the rules of
    ``geo.instants``: an offset is required, a bare date is the city's day, a number is not
    a time, and ``since`` comes before ``until``."""

    __slots__ = ("since", "until")

    def __init__(self, since: datetime | None, until: datetime | None) -> None:
        self.since, self.until = since, until


async def time_window(request: Request, since: SinceQuery = None, until: UntilQuery = None) -> TimeWindow:
    return TimeWindow(*parse_window(since, until, tz=request.app.state.city_config.tz))


WindowDep = Annotated[TimeWindow, Depends(time_window)]


def encode_cursor(*parts: str) -> str:
    """An opaque keyset cursor for a `next` link."""
    return base64.urlsafe_b64encode("|".join(parts).encode()).decode().rstrip("=")


def decode_cursor(raw: str, *, parts: int, field: str = "after") -> list[str]:
    """The parts of a cursor made by ``encode_cursor``; 422 naming ``field`` when it is not one."""
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise FieldError(field, "is not a cursor from a `next` link") from None
    values = text.split("|")
    if len(values) != parts:
        raise FieldError(field, "is not a cursor from a `next` link")
    return values


def report_cursor(at: datetime, report_id) -> str:
    """The keyset cursor after a report in the newest-first order: (reported_at, id)."""
    return encode_cursor(at.isoformat(), str(report_id))


def decode_report_cursor(raw: str) -> tuple[datetime, uuid.UUID]:
    """(reported_at, id) from ``report_cursor``; 422 naming ``after`` when it is not one."""
    at, rid = decode_cursor(raw, parts=2)
    try:
        return datetime.fromisoformat(at), uuid.UUID(rid)
    except ValueError:
        raise FieldError("after", "is not a cursor from a `next` link") from None


# What a caller without the full-history permission may ask for: whole days, at most a year.
PUBLIC_MAX_DAYS = 366


def bounded_window(window: TimeWindow, *, full: bool, tz, now: datetime,
                   default_days: int | None = PUBLIC_MAX_DAYS) -> TimeWindow:
    """``window`` as a caller without the full-history permission gets it (``full`` False):
    bounds widened to whole days in the city's time zone (so varying ``since`` by seconds
    cannot bypass the page caches), a missing ``since`` filled ``default_days`` before the end
    (None: left open for the caller's own default), and a span over PUBLIC_MAX_DAYS refused.
    Staff keep the window as given."""
    if full:
        return window

    def day_start(dt: datetime) -> datetime:
        return start_of_day(dt.astimezone(tz).date(), tz)

    since = day_start(window.since) if window.since is not None else None
    until = window.until
    if until is not None:
        start = day_start(until)
        until = start if start == until.astimezone(tz) else start + timedelta(days=1)
    elif since is not None or default_days is not None:  # an open end is today's end: the span is checked
        until = day_start(now) + timedelta(days=1)
    if since is None and default_days is not None:
        since = until - timedelta(days=default_days)
    if since is not None and until is not None and until - since > timedelta(days=PUBLIC_MAX_DAYS):
        raise FieldError("since", f"public windows span at most {PUBLIC_MAX_DAYS} days; a staff token lifts this")
    return TimeWindow(since, until)


def reject_unknown_query(request: Request, allowed: frozenset[str]) -> None:
    """422 naming every query parameter not in ``allowed``: a typo (``crs`` spelt ``cr``, or a
    parameter an endpoint does not take) must never silently change an answer."""
    unknown = sorted({name for name in request.query_params if name not in allowed})
    if unknown:
        accepted = ", ".join(sorted(allowed)) or "none"
        raise RequestValidationError([
            {"loc": ("query", name), "type": "unknown_parameter",
             "msg": f"unknown query parameter (this endpoint takes: {accepted})"} for name in unknown])


def _query_names(dependant):
    yield from (p.alias for p in dependant.query_params)
    for sub in dependant.dependencies:
        yield from _query_names(sub)


async def known_query_only(request: Request) -> None:
    """Router dependency for /api/v1: the query may hold only the parameters the route declares."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    allowed = getattr(route, "gridmap_query_names", None)
    if allowed is None:  # computed once per route, kept on the route itself
        allowed = frozenset(_query_names(dependant))
        route.gridmap_query_names = allowed
    reject_unknown_query(request, allowed)


def listing_filter(session, *, viewer, window: TimeWindow, area: str | None, category: str | None,
                   status: ReportStatus | None, bbox: str | None, overdue: bool, unassigned: bool,
                   filed_by: str | None = None):
    """The ``ReportFilter`` of the listing's filters (``GET /api/v1/reports`` and its export),
    each tested on what ``viewer`` may see. 404 for an unknown area, 422 naming the field."""
    from geo.access.roles import sees_exact_locations
    from geo.boundaries.generations import active_generation_id
    from geo.reports.categories import parse_category
    from geo.reports.queries import ReportFilter, area_prefix

    prefix = area_prefix(session, code=area, generation=active_generation_id(session)) if area else None
    _label, categories = parse_category(category)
    return ReportFilter(area_prefix=prefix, categories=categories, status=status, since=window.since,
                        until=window.until, bbox=parse_bbox(bbox), exact=sees_exact_locations(viewer),
                        overdue=overdue, unassigned=unassigned, filed_by=filed_by)
