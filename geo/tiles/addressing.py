"""Tile addresses of the WebMercatorQuad tile matrix set (EPSG:3857, the XYZ scheme Leaflet,
QGIS and every web map use: x west→east, y north→south, 2^z × 2^z tiles at zoom z).

Bounds are given in WGS-84 degrees, computed with the same spherical-Mercator formulas
PostGIS's ``ST_TileEnvelope`` uses, so Python and SQL agree on what a tile covers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from geo.errors import InvalidInput

MIN_ZOOM, MAX_ZOOM = 0, 22
EXTENT = 4096  # tile coordinate units per side (the MVT default)
BUFFER = 64  # units drawn beyond each edge, so strokes do not end at tile seams
# The WebMercatorQuad extent, metres: what ST_TileEnvelope divides.
HALF_WORLD_M = 20037508.342789244
MAX_LAT = 85.0511287798066


@dataclass(frozen=True, slots=True)
class TileAddress:
    """One tile, z/x/y. Construction checks the ranges: z in [0, 22], x and y in [0, 2^z);
    raises InvalidInput naming the field otherwise."""

    z: int
    x: int
    y: int

    def __post_init__(self) -> None:
        if not MIN_ZOOM <= self.z <= MAX_ZOOM:
            raise InvalidInput(f"z must be within [{MIN_ZOOM}, {MAX_ZOOM}], not {self.z}", field="z")
        n = 1 << self.z
        for name in ("x", "y"):
            value = getattr(self, name)
            if not 0 <= value < n:
                raise InvalidInput(f"{name} must be within [0, {n - 1}] at zoom {self.z}, not {value}", field=name)

    def bounds(self, *, margin: float = 0.0) -> tuple[float, float, float, float]:
        """(minlon, minlat, maxlon, maxlat) in degrees, grown by ``margin`` tile widths on each
        side (latitudes clamped to the Mercator limit)."""
        n = 1 << self.z
        west, east = self.x - margin, self.x + 1 + margin
        north, south = self.y - margin, self.y + 1 + margin
        return (_lon(west, n), _lat(south, n), _lon(east, n), _lat(north, n))


def _lon(x: float, n: int) -> float:
    return x / n * 360.0 - 180.0


def _lat(y: float, n: int) -> float:
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / n))))
    return max(-MAX_LAT, min(MAX_LAT, lat))


def tile_of(lon: float, lat: float, z: int) -> TileAddress:
    """The tile at zoom ``z`` holding the WGS-84 point (lon, lat), degrees."""
    n = 1 << z
    lat = max(-MAX_LAT, min(MAX_LAT, lat))
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return TileAddress(z, min(max(x, 0), n - 1), min(max(y, 0), n - 1))


# The hexagons' H3 resolution by zoom: about 40–150 px across on a 256 px tile.
HEX_MIN_RES, HEX_MAX_RES = 5, 10


def hex_resolution(z: int) -> int:
    """The H3 resolution of the report hexagons at zoom ``z``: res 7 (≈ 2.5 km across) at
    z12, one finer per zoom, clamped to [5, 10]."""
    return max(HEX_MIN_RES, min(HEX_MAX_RES, z - 5))
