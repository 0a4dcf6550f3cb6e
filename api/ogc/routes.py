"""The /ogc routes (OGC API – Features Part 1). They read the query themselves (the
collections' filters differ) and are described by their own OpenAPI 3.0 document
(``/ogc/api``), not the main one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from api.deps import CityConfigDep, SessionDep
from api.errors import FieldError
from api.ogc import catalogue as cat
from api.ogc.openapi import openapi_document
from api.ogc.query import ItemsQuery, check_format, items_query, statuses
from api.ogc.responses import answer, cached, etag_of
from api.params import decode_report_cursor, reject_unknown_query, report_cursor
from api.security import principal_of
from geo.access.roles import Principal, sees_exact_locations
from geo.boundaries.areas import get_area, list_areas
from geo.boundaries.cache import generation_fingerprint
from geo.boundaries.extents import level_extents
from geo.boundaries.generations import active_generation_id
from geo.errors import AreaNotFound, NotFound
from geo.models import AreaLevel
from geo.reports.categories import parse_category
from geo.reports.features import report_features, reported_range
from geo.reports.queries import ReportFilter

router = APIRouter(include_in_schema=False)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _collection(collection_id: str) -> cat.Collection:
    c = cat.COLLECTIONS.get(collection_id)
    if c is None:
        raise NotFound(f"no collection {collection_id!r}; the collections are " + ", ".join(cat.COLLECTIONS))
    return c


@router.get("")
@router.get("/")  # the document's "/" path: /ogc/ answers too, rather than redirecting
def landing(request: Request, config: CityConfigDep) -> Response:
    reject_unknown_query(request, frozenset({"f"}))
    check_format(request)
    return answer(request, cat.landing(_base(request), title=f"gridmap — {config.name}"), media_type=cat.JSON)


@router.get("/conformance")
def conformance(request: Request) -> Response:
    reject_unknown_query(request, frozenset({"f"}))
    check_format(request)
    return answer(request, cat.conformance(), media_type=cat.JSON)


@router.get("/api")
def api_document(request: Request) -> Response:
    reject_unknown_query(request, frozenset({"f"}))
    check_format(request)
    return answer(request, openapi_document(_base(request)), media_type=cat.OPENAPI)


@router.get("/collections")
def collections(request: Request, session: SessionDep) -> Response:
    reject_unknown_query(request, frozenset({"f", "generation"}))
    check_format(request)
    generation, query = _generation(request, session)
    base = _base(request)
    docs = [_collection_doc(session, base, c, generation=generation, query=query) for c in cat.COLLECTIONS.values()]
    return answer(request, {"collections": docs, "links": [
        cat.link(f"{base}{cat.PREFIX}/collections{query}", "self", cat.JSON, "The collections")]},
        media_type=cat.JSON)


@router.get("/collections/{collection_id}")
def collection(collection_id: str, request: Request, session: SessionDep) -> Response:
    c = _collection(collection_id)
    reject_unknown_query(request, frozenset({"f"} if c.is_reports else {"f", "generation"}))
    check_format(request)
    generation, query = _generation(request, session)
    return answer(request, _collection_doc(session, _base(request), c, generation=generation, query=query),
                  media_type=cat.JSON)


def _generation(request: Request, session) -> tuple[int, str]:
    raw = request.query_params.get("generation")
    if raw is None:
        return active_generation_id(session), ""
    if not raw.isdigit() or not 0 < int(raw) < 2**31:
        raise FieldError("generation", "must be a positive integer")
    return generation_fingerprint(session, generation=int(raw)).generation, f"?generation={int(raw)}"


def _collection_doc(session, base: str, c: cat.Collection, *, generation: int, query: str) -> dict:
    extents = level_extents(session, generation=generation)
    if c.is_reports:
        return cat.collection_doc(base, c, bbox=extents.get(AreaLevel.city), interval=reported_range(session))
    return cat.collection_doc(base, c, bbox=extents.get(c.level), interval=None, query=query)


@router.get("/collections/{collection_id}/items")
def items(collection_id: str, request: Request, session: SessionDep, config: CityConfigDep) -> Response:
    c = _collection(collection_id)
    q = items_query(request, c, tz=config.tz)
    if c.is_reports:
        return _report_items(request, session, q, principal_of(request))
    return _area_items(request, session, c, q)


@router.get("/collections/{collection_id}/items/{feature_id}")
def item(collection_id: str, feature_id: str, request: Request, session: SessionDep, config: CityConfigDep) -> Response:
    c = _collection(collection_id)
    q = items_query(request, c, tz=config.tz, single=True)
    base = f"{_base(request)}{cat.PREFIX}/collections/{c.id}"
    if c.is_reports:
        try:
            rid = uuid.UUID(feature_id)
        except ValueError:
            raise NotFound("no such report: a report's id is a UUID") from None
        viewer = principal_of(request)
        rows, _ = report_features(session, filters=ReportFilter(exact=sees_exact_locations(viewer)), viewer=viewer,
                                  now=datetime.now(UTC), limit=1, report_id=rid)
        if not rows:
            raise NotFound("no such report", report_id=feature_id)
        feature = _report_feature(rows[0])
        feature["links"] = [cat.link(f"{base}/items/{feature_id}", "self", cat.GEOJSON),
                            cat.link(base, "collection", cat.JSON)]
        return answer(request, feature, media_type=cat.GEOJSON, private=True)
    fp = generation_fingerprint(session, generation=q.generation)
    etag = etag_of("item", fp, c.id, feature_id)
    if (hit := cached(request, etag)) is not None:
        return hit
    try:
        area = get_area(session, code=feature_id, generation=fp.generation)
    except AreaNotFound:
        raise NotFound(f"no {c.id} feature {feature_id!r} in generation {fp.generation}") from None
    if area.level != c.level:
        raise NotFound(f"{feature_id} is a {area.level.value}, not in collection {c.id}")
    query = f"?generation={q.generation}" if q.generation else ""
    feature = _area_feature(area, fp.generation)
    feature["links"] = [cat.link(f"{base}/items/{feature_id}{query}", "self", cat.GEOJSON),
                        cat.link(base + query, "collection", cat.JSON)]
    return answer(request, feature, media_type=cat.GEOJSON, etag=etag)


def _area_feature(r, generation: int) -> dict:
    geometry = orjson.Fragment(r.geometry_json) if r.geometry_json else None
    return {"type": "Feature", "id": r.code, "geometry": geometry, "properties": {
        "code": r.code, "name": r.name, "level": r.level.value, "parent_code": r.parent_code,
        "households": r.households, "population": r.population, "kind": r.kind, "generation": generation}}


def _area_items(request: Request, session, c: cat.Collection, q: ItemsQuery) -> Response:
    fp = generation_fingerprint(session, generation=q.generation)
    etag = etag_of("items", fp, c.id, sorted(request.query_params.multi_items()))
    if (hit := cached(request, etag)) is not None:
        return hit
    if q.after is not None and (not q.after.isdigit() or len(q.after) > 15):
        raise FieldError("after", "is not a cursor from a `next` link")
    props = q.properties or {}
    rows, total = list_areas(session, generation=fp.generation, level=c.level, bbox=q.bbox, limit=q.limit + 1,
                             after=q.after, parent_code=props.get("parent_code"), code=props.get("code"))
    more, rows = len(rows) > q.limit, rows[:q.limit]
    doc = _collection_page(request, [_area_feature(r, fp.generation) for r in rows], total,
                           rows[-1].code if more else None, q.limit, c)
    return answer(request, doc, media_type=cat.GEOJSON, etag=etag)


def _report_feature(f) -> dict:
    return {"type": "Feature", "id": str(f.id), "geometry": {"type": "Point", "coordinates": [f.lon, f.lat]},
            "properties": f.properties}


def _report_items(request: Request, session, q: ItemsQuery, viewer: Principal) -> Response:
    props = q.properties or {}
    # grid_code=: the reports in that area (a grid's code, or a community's, …), each where the
    # viewer sees it (a sensitive case publicly in its community: never matched by its grid).
    prefix = props.get("grid_code")
    _label, categories = parse_category(props["category"]) if "category" in props else (None, None)
    filters = ReportFilter(area_prefix=prefix, categories=categories, statuses=statuses(props.get("status")),
                           subcategory=props.get("subcategory"), since=q.since, until=q.until, bbox=q.bbox,
                           exact=sees_exact_locations(viewer))
    after = decode_report_cursor(q.after) if q.after is not None else None
    rows, total = report_features(session, filters=filters, viewer=viewer, now=datetime.now(UTC), limit=q.limit + 1,
                                  after=after)
    more, rows = len(rows) > q.limit, rows[:q.limit]
    cursor = report_cursor(rows[-1].reported_at, rows[-1].id) if more else None
    doc = _collection_page(request, [_report_feature(f) for f in rows], total, cursor, q.limit,
                           cat.COLLECTIONS["reports"])
    return answer(request, doc, media_type=cat.GEOJSON, private=True)


def _collection_page(request: Request, features: list[dict], total: int | None, cursor: str | None, limit: int,
                     c: cat.Collection) -> dict:
    base = _base(request)
    links = [cat.link(str(request.url), "self", cat.GEOJSON, "This page"),
             cat.link(f"{base}{cat.PREFIX}/collections/{c.id}", "collection", cat.JSON, "The collection")]
    if cursor is not None:
        nxt = request.url.include_query_params(after=cursor, limit=limit)
        links.append(cat.link(str(nxt), "next", cat.GEOJSON, "The next page"))
    doc = {"type": "FeatureCollection", "features": features, "numberReturned": len(features), "links": links}
    if total is not None:
        doc["numberMatched"] = total
    return doc
