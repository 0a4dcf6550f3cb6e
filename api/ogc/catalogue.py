"""The collections gridmap publishes, and the documents describing them (landing page,
conformance, collection metadata). Links are absolute, built from the request's base URL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from geo.boundaries.areas import BBox
from geo.models import AreaLevel

PREFIX = "/ogc"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
)
JSON = "application/json"
GEOJSON = "application/geo+json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
MAX_LIMIT = 10_000
DEFAULT_LIMIT = 10


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    description: str
    level: AreaLevel | None  # None: the reports
    filters: tuple[str, ...]  # property names taken as ?name=value (equality)

    @property
    def is_reports(self) -> bool:
        return self.level is None


_AREA_FILTERS = ("code", "parent_code")
COLLECTIONS: dict[str, Collection] = {c.id: c for c in (
    Collection("grids", "Grids (网格)", "Every grid of the city, one responsible worker each: code, name, parent "
               "community, households, population.", AreaLevel.grid, _AREA_FILTERS),
    Collection("communities", "Communities (社区)", "The communities grids nest in.", AreaLevel.community, _AREA_FILTERS),
    Collection("streets", "Streets (街道)", "Street offices (sub-districts).", AreaLevel.street, _AREA_FILTERS),
    Collection("districts", "Districts (区县)", "The districts of the city.", AreaLevel.district, _AREA_FILTERS),
    Collection("city", "City (市)", "The city outline.", AreaLevel.city, _AREA_FILTERS),
    Collection("reports", "Reports (事件)", "Geotagged reports and their state in the closed loop. Without a "
               "token: public fields only, sensitive categories at their public cell (about 400 m) and community, "
               "every filter applied to what the public sees; full records for staff roles that may read them.",
               None, ("category", "subcategory", "status", "grid_code")),
)}
# Paging, the geometry filter, formats and the boundary generation: taken by every items request.
AREA_PARAMS = frozenset({"limit", "bbox", "after", "f", "generation"})
REPORT_PARAMS = frozenset({"limit", "bbox", "after", "f", "datetime"})


def link(href: str, rel: str, type_: str, title: str | None = None) -> dict:
    out = {"href": href, "rel": rel, "type": type_}
    if title:
        out["title"] = title
    return out


def landing(base: str, *, title: str) -> dict:
    root = base + PREFIX
    return {
        "title": title,
        "description": "Grids, areas and reports of the city as OGC API – Features collections (GeoJSON, CRS84).",
        "links": [
            link(root, "self", JSON, "This document"),
            link(root + "/api", "service-desc", OPENAPI, "The API definition (OpenAPI 3.0)"),
            link(root + "/conformance", "conformance", JSON, "Conformance classes"),
            link(root + "/conformance", "http://www.opengis.net/def/rel/ogc/1.0/conformance", JSON),
            link(root + "/collections", "data", JSON, "The collections"),
            link(root + "/collections", "http://www.opengis.net/def/rel/ogc/1.0/data", JSON),
        ],
    }


def conformance() -> dict:
    return {"conformsTo": list(CONFORMANCE)}


def collection_doc(base: str, c: Collection, *, bbox: BBox | None, interval: tuple[datetime | None, datetime | None]
                   | None, query: str = "") -> dict:
    """One collection's metadata; ``query`` (``?generation=…``) is carried into its links."""
    root = f"{base}{PREFIX}/collections/{c.id}"
    extent: dict = {}
    if bbox is not None:
        extent["spatial"] = {"bbox": [[bbox.minlon, bbox.minlat, bbox.maxlon, bbox.maxlat]], "crs": CRS84}
    if interval is not None:
        extent["temporal"] = {"interval": [[_iso(interval[0]), _iso(interval[1])]], "trs": GREGORIAN}
    return {
        "id": c.id, "title": c.title, "description": c.description, "itemType": "feature",
        "crs": [CRS84], "storageCrs": CRS84, "extent": extent,
        "links": [link(root + query, "self", JSON, "This collection"),
                  link(root + "/items" + query, "items", GEOJSON, "Its features")],
    }


def _iso(v: datetime | None) -> str | None:
    return v.isoformat().replace("+00:00", "Z") if v is not None else None
