"""The OpenAPI 3.0 document of /ogc (the landing page's ``service-desc``): one path per
collection, so each collection's filterable properties are declared where clients (GDAL,
QGIS) look for them."""

from __future__ import annotations

from api.ogc import catalogue as cat
from geo.models import ReportStatus

_STR = {"type": "string"}
_LINK = {"type": "object", "required": ["href", "rel"], "properties": {
    "href": _STR, "rel": _STR, "type": _STR, "title": _STR}}
_LINKS = {"type": "array", "items": {"$ref": "#/components/schemas/link"}}
_GEOMETRY = {"type": "object", "nullable": True, "required": ["type"], "properties": {"type": _STR}}
SCHEMAS = {
    "link": _LINK,
    "exception": {"type": "object", "required": ["code"], "properties": {"code": _STR, "description": _STR}},
    "landingPage": {"type": "object", "required": ["links"], "properties": {
        "title": _STR, "description": _STR, "links": _LINKS}},
    "confClasses": {"type": "object", "required": ["conformsTo"], "properties": {
        "conformsTo": {"type": "array", "items": _STR}}},
    "collection": {"type": "object", "required": ["id", "links"], "properties": {
        "id": _STR, "title": _STR, "description": _STR, "links": _LINKS, "extent": {"type": "object"},
        "itemType": _STR, "crs": {"type": "array", "items": _STR}}},
    "collections": {"type": "object", "required": ["links", "collections"], "properties": {
        "links": _LINKS, "collections": {"type": "array", "items": {"$ref": "#/components/schemas/collection"}}}},
    "featureGeoJSON": {"type": "object", "required": ["type", "geometry", "properties"], "properties": {
        "type": {"type": "string", "enum": ["Feature"]}, "geometry": _GEOMETRY,
        "properties": {"type": "object", "nullable": True}, "id": _STR, "links": _LINKS}},
    "featureCollectionGeoJSON": {"type": "object", "required": ["type", "features"], "properties": {
        "type": {"type": "string", "enum": ["FeatureCollection"]},
        "features": {"type": "array", "items": {"$ref": "#/components/schemas/featureGeoJSON"}},
        "links": _LINKS, "numberMatched": {"type": "integer", "minimum": 0},
        "numberReturned": {"type": "integer", "minimum": 0}}},
}


def _param(name: str, description: str, schema: dict, example=None, **extra) -> dict:
    out = {"name": name, "in": "query", "required": False, "description": description, "schema": schema, **extra}
    if example is not None:
        out["example"] = example
    return out


PARAMS = {
    "f": _param("f", "The format: json (GeoJSON for features), the only one served.",
                {"type": "string", "enum": ["json"]}, "json"),
    "limit": _param("limit", f"Features per page (default {cat.DEFAULT_LIMIT}, at most {cat.MAX_LIMIT}); "
                    "follow the `next` link for the rest.",
                    {"type": "integer", "minimum": 1, "maximum": cat.MAX_LIMIT, "default": cat.DEFAULT_LIMIT}, 100),
    "bbox": _param("bbox", "Only features intersecting this box: minlon,minlat,maxlon,maxlat in CRS84 (WGS-84 "
                   "lon/lat). For reports without a staff token, a sensitive case's public location is tested.",
                   {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
                   [122.0, 41.0, 122.2, 41.2], style="form", explode=False),
    "datetime": _param("datetime", "Reports whose reported time is this instant, in this date (the city's day) or "
                       "in this closed interval start/end (open ends: ..), RFC 3339.",
                       _STR, "2026-11-01T00:00:00Z/.."),
    "after": _param("after", "Keyset cursor: what the `next` link carries.", _STR, None),
    "generation": _param("generation", "A boundary generation's id (default: the active one).",
                         {"type": "integer", "minimum": 1}, 1),
    "code": _param("code", "Only the area with this code.", {"type": "string", "pattern": "^[0-9]{1,15}$"},
                   "211103001001001"),
    "parent_code": _param("parent_code", "Only the areas in this parent area.",
                          {"type": "string", "pattern": "^[0-9]{1,15}$"}, "211103001001"),
    "category": _param("category", "Only reports of this 2-digit category.",
                       {"type": "string", "pattern": "^[0-9]{2}$"}, "30"),
    "subcategory": _param("subcategory", "Only reports of this 4-digit subcategory.",
                          {"type": "string", "pattern": "^[0-9]{4}$"}, "3001"),
    "status": _param("status", "open, closed, or one state of the loop.",
                     {"type": "string", "enum": ["open", "closed", *(s.value for s in ReportStatus)]}, "open"),
    "grid_code": _param("grid_code", "Only reports in this area (a grid's code, or a larger area's), as the "
                        "viewer sees them.", {"type": "string", "pattern": "^[0-9]{1,15}$"}, "211103001001001"),
}


def _json(schema: str, media: str = cat.JSON, description: str = "OK") -> dict:
    return {"description": description, "content": {media: {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


_ERRORS = {
    "400": _json("exception", description="A parameter is not valid"),
    "404": _json("exception", description="No such collection or feature"),
    "default": {"description": "An error (401 invalid token, 429 too many requests, 5xx)",
                "content": {cat.JSON: {"schema": {"type": "object"}}}},
}


def _get(op_id: str, summary: str, ok: dict, params: list[str], extra: list[dict] | None = None) -> dict:
    return {"get": {"operationId": op_id, "summary": summary, "tags": ["OGC API – Features"],
                    "parameters": [{"$ref": f"#/components/parameters/{p}"} for p in params] + (extra or []),
                    "responses": {"200": ok, "304": {"description": "Not modified (If-None-Match)"}, **_ERRORS}}}


def openapi_document(base: str) -> dict:
    """The document, with ``base`` (the service's root URL) + /ogc as its server."""
    p = ""  # paths are relative to the server, which is the /ogc root (as GDAL and QGIS look them up)
    paths = {
        "/": _get("getLandingPage", "Landing page", _json("landingPage"), ["f"]),
        f"{p}/conformance": _get("getConformance", "Conformance classes", _json("confClasses"), ["f"]),
        f"{p}/api": _get("getAPI", "This document", {"description": "OK", "content": {cat.OPENAPI: {
            "schema": {"type": "object"}}}}, ["f"]),
        f"{p}/collections": _get("getCollections", "The collections", _json("collections"), ["f", "generation"]),
    }
    for c in cat.COLLECTIONS.values():
        common = ["f", "limit", "bbox", "after"] + (["datetime"] if c.is_reports else ["generation"])
        one = ["f"] + ([] if c.is_reports else ["generation"])
        fid = {"name": "featureId", "in": "path", "required": True, "schema": _STR,
               "description": "A report's id (UUID)" if c.is_reports else "An area's code",
               "example": "3f0e1d2c-0000-4000-8000-000000000001" if c.is_reports else "211103001001001"}
        paths[f"{p}/collections/{c.id}"] = _get(f"describe_{c.id}", f"About {c.title}", _json("collection"), one)
        paths[f"{p}/collections/{c.id}/items"] = _get(
            f"getFeatures_{c.id}", f"Features of {c.title}", _json("featureCollectionGeoJSON", cat.GEOJSON),
            common + list(c.filters))
        paths[f"{p}/collections/{c.id}/items/{{featureId}}"] = _get(
            f"getFeature_{c.id}", f"One feature of {c.title}", _json("featureGeoJSON", cat.GEOJSON), one, [fid])
    return {
        "openapi": "3.0.3",
        "info": {"title": "gridmap OGC API – Features", "version": "1.0.0",
                 "description": "The city's grids, areas and reports (GeoJSON, CRS84). Send `Authorization: Bearer "
                                "<token>` for the full records staff may read."},
        "servers": [{"url": base + cat.PREFIX}],
        "paths": paths,
        "components": {"schemas": SCHEMAS, "parameters": PARAMS,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{}, {"bearer": []}],
    }
