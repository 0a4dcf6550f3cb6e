"""The SQL spellings of gridmap's one coordinate system, written once: every stored geometry
is WGS-84 lon/lat (EPSG:4326, ``geo.models.base.SRID``); distances in metres go through
PostGIS geography."""

from __future__ import annotations

import sqlalchemy as sa
from geoalchemy2 import Geography

from geo.models.base import SRID

GEOGRAPHY = Geography(srid=SRID)


def point(lon, lat):
    """A WGS-84 point from two numbers or column expressions (degrees)."""
    return sa.func.ST_SetSRID(sa.func.ST_MakePoint(lon, lat), SRID)


def envelope(minlon, minlat, maxlon, maxlat):
    """A WGS-84 box (degrees)."""
    return sa.func.ST_MakeEnvelope(minlon, minlat, maxlon, maxlat, SRID)
