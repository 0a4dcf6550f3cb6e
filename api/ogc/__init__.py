"""OGC API – Features, Part 1 (Core, GeoJSON, OpenAPI 3.0) under ``/ogc``: the boundary levels
and the reports as collections, so QGIS, ogr2ogr and owslib read gridmap by its URL alone.

``install(app)`` mounts the routes and registers the standard's error shape for ``/ogc``.
"""

from __future__ import annotations

from fastapi import FastAPI

from api.errors import add_error_dialect
from api.ogc.catalogue import PREFIX
from api.ogc.responses import ogc_error
from api.ogc.routes import router


def install(app: FastAPI) -> None:
    app.include_router(router, prefix=PREFIX)
    add_error_dialect(app, PREFIX, ogc_error)
