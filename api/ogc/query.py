"""The query of an items request, read and checked by the standard's rules: unknown
parameters are refused (400), ``bbox`` takes 4 or 6 numbers in CRS84, ``limit`` 1–10,000,
``datetime`` an instant, a date or an interval with open ends (``..``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from fastapi import Request

from api.errors import FieldError
from api.ogc.catalogue import AREA_PARAMS, DEFAULT_LIMIT, MAX_LIMIT, REPORT_PARAMS, Collection
from api.params import parse_bbox, reject_unknown_query
from geo.boundaries.areas import BBox
from geo.instants import parse_interval
from geo.models import CLOSED_STATUSES, OPEN_STATUSES, ReportStatus
from geo.reports.categories import parse_category

FORMATS = frozenset({"json", "geojson", "application/json", "application/geo+json"})
# ?status= on reports: a state of the loop, or `open` / `closed` (any open state / solved or ended).


@dataclass(frozen=True)
class ItemsQuery:
    limit: int
    bbox: BBox | None
    after: str | None
    generation: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    properties: dict[str, str] | None = None


def _int(raw: str, field: str, *, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise FieldError(field, "must be an integer") from None
    if not low <= value <= high:
        raise FieldError(field, f"must be between {low} and {high}")
    return value


def check_format(request: Request) -> None:
    f = request.query_params.get("f")
    if f is not None and f.lower() not in FORMATS:
        raise FieldError("f", "only json is served (GeoJSON for features)")


def items_query(request: Request, c: Collection, *, tz: tzinfo, single: bool = False) -> ItemsQuery:
    """The checked query of ``/collections/{c}/items`` (``single``: of one item, which takes
    only ``f`` and, for areas, ``generation``)."""
    q = request.query_params
    allowed = (REPORT_PARAMS if c.is_reports else AREA_PARAMS) | set(c.filters)
    if single:
        allowed = frozenset({"f"} if c.is_reports else {"f", "generation"})
    reject_unknown_query(request, frozenset(allowed))
    check_format(request)
    for name in q:
        if len(q.getlist(name)) > 1:
            raise FieldError(name, "given more than once")
    limit = _int(q["limit"], "limit", low=1, high=MAX_LIMIT) if "limit" in q else DEFAULT_LIMIT
    bbox = _bbox(q["bbox"]) if "bbox" in q else None
    generation = _int(q["generation"], "generation", low=1, high=2**31 - 1) if "generation" in q else None
    since = until = None
    if "datetime" in q:
        since, until = parse_interval(q["datetime"], field="datetime", tz=tz)
    props = {name: q[name] for name in c.filters if name in q}
    for name, value in props.items():
        _check_property(c, name, value)
    return ItemsQuery(limit=limit, bbox=bbox, after=q.get("after"), generation=generation, since=since,
                      until=until, properties=props)


def _bbox(raw: str) -> BBox:
    parts = raw.split(",")
    if len(parts) == 6:  # minx,miny,minz,maxx,maxy,maxz: heights are not filtered on
        parts = [parts[0], parts[1], parts[3], parts[4]]
    elif len(parts) != 4:
        raise FieldError("bbox", "expected 4 (or 6) comma-separated numbers: minlon,minlat,maxlon,maxlat in CRS84")
    return parse_bbox(",".join(parts))


def _check_property(c: Collection, name: str, value: str) -> None:
    if name == "status" and value not in ("open", "closed") and value not in {s.value for s in ReportStatus}:
        raise FieldError("status", "must be open, closed or one of " + ", ".join(s.value for s in ReportStatus))
    if name in ("category", "subcategory"):
        if not value.isdigit() or len(value) != (2 if name == "category" else 4):
            raise FieldError(name, f"must be a {2 if name == 'category' else 4}-digit code")
        if name == "category":
            parse_category(value)
    if name in ("code", "parent_code", "grid_code") and (not value.isdigit() or len(value) > 15):
        raise FieldError(name, "must be an area code (digits)")


def statuses(value: str | None) -> tuple[ReportStatus, ...] | None:
    """The states ``?status=`` selects."""
    if value is None:
        return None
    if value == "open":
        return tuple(OPEN_STATUSES)
    if value == "closed":
        return CLOSED_STATUSES
    return (ReportStatus(value),)


