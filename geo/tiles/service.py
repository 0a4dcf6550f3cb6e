"""From a tile request to the bytes to send: the generation and its fingerprint, the cache
key, the build; and the TileJSON 3.0.0 document of each layer."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from geo.analytics.analysis import default_window
from geo.analytics.mapdata import city_outline
from geo.boundaries.cache import generation_fingerprint
from geo.tiles.addressing import TileAddress
from geo.tiles.areas import area_tile
from geo.tiles.cache import CachedTile, TileCache
from geo.tiles.hexagons import PUBLIC_MIN_COUNT, hexagon_tile
from geo.tiles.layers import ZOOMS, TileLayer, vector_layers

PUBLIC, STAFF = "public", "staff"
# How long a generation's fingerprint read by one tile request serves the next ones without a
# database round trip: a boundary edit reaches the tiles at most this late (their counts are
# per minute anyway), and a cached tile costs no connection, no thread hop, no query.
FINGERPRINT_TTL_S = 1.0


@dataclass(frozen=True, slots=True)
class TileAnswer:
    """A tile and how long it stays right: ``expires`` is the end of the minute its counts
    were taken at."""

    tile: CachedTile
    hit: bool
    audience: str
    generation: int
    expires: datetime


def minute_of(now: datetime) -> datetime:
    """The start of the minute holding ``now``: counts are taken as of it, so a tile's bytes
    depend on the minute only and every process builds the same bytes (and ETag)."""
    return now.replace(second=0, microsecond=0)


def get_tile(session: Session, *, cache: TileCache, layer: TileLayer, tile: TileAddress, generation: int | None,
             exact: bool, now: datetime, min_count: int = PUBLIC_MIN_COUNT) -> TileAnswer:
    """The MVT of ``layer`` at ``tile`` for the areas of ``generation`` (None: the active
    one), with exact counts when ``exact`` (a viewer who may see every case where it is) and
    public ones otherwise; ``min_count``: the public hexagons' floor (≥ 5). Cached per minute
    of ``now`` (aware). Raises GenerationNotFound / NoActiveGeneration."""
    fp = generation_fingerprint(session, generation=generation)
    cache.remember_fingerprint(generation, fp)
    minute = minute_of(now)
    audience = STAFF if exact else PUBLIC
    key = _key(layer, fp, tile, audience, minute, min_count)

    def build() -> bytes:
        if layer is TileLayer.reports:
            since, until = default_window(session, None, None)
            return hexagon_tile(session, tile=tile, since=since, until=until, public=not exact, min_count=min_count,
                                minute=minute, windows=cache.windows)
        return area_tile(session, generation=fp.generation, level=layer.level, layer_name=layer.value, tile=tile,
                         now=minute, public=not exact)

    cached, hit = cache.get_or_build(key, build)
    return TileAnswer(cached, hit, audience, fp.generation, minute + timedelta(minutes=1))


def _key(layer: TileLayer, fp, tile: TileAddress, audience: str, minute: datetime, min_count: int) -> tuple:
    return (layer.value, tuple(fp), tile.z, tile.x, tile.y, audience, minute.isoformat(),
            min_count if layer is TileLayer.reports else None)


def cached_tile(*, cache: TileCache, layer: TileLayer, tile: TileAddress, generation: int | None, exact: bool,
                now: datetime, min_count: int = PUBLIC_MIN_COUNT) -> TileAnswer | None:
    """``get_tile``'s answer when it is cached and the generation's fingerprint was read in
    the last ``FINGERPRINT_TTL_S`` seconds, without a session; else None (ask ``get_tile``)."""
    fp = cache.recent_fingerprint(generation, FINGERPRINT_TTL_S)
    if fp is None:
        return None
    minute = minute_of(now)
    audience = STAFF if exact else PUBLIC
    item = cache.peek(_key(layer, fp, tile, audience, minute, min_count))
    if item is None:
        return None
    return TileAnswer(item, True, audience, fp.generation, minute + timedelta(minutes=1))


def tilejson(session: Session, *, layer: TileLayer, generation: int | None, tiles_url: str) -> dict:
    """The TileJSON 3.0.0 document of ``layer``: ``tiles_url`` (absolute, with {z}/{x}/{y}),
    zooms, the city's bounds and centre (WGS-84 degrees) and the vector layers' fields.
    Raises GenerationNotFound / NoActiveGeneration."""
    fp = generation_fingerprint(session, generation=generation)
    _, bounds = city_outline(session, generation=fp.generation)
    bounds = list(bounds) if bounds else [-180.0, -85.0511287798066, 180.0, 85.0511287798066]
    minzoom, maxzoom = ZOOMS[layer]
    centre_zoom = max(minzoom, min(maxzoom, fit_zoom(bounds)))
    return {
        "tilejson": "3.0.0",
        "name": f"gridmap {layer.value}",
        "description": ("report hexagons per category group" if layer is TileLayer.reports
                        else f"{layer.level.value} boundaries of generation {fp.generation} with open cases"),
        "version": "1.0.0",
        "scheme": "xyz",
        "tiles": [tiles_url],
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        "bounds": bounds,
        "center": [(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2, centre_zoom],
        "vector_layers": vector_layers(layer),
    }


def fit_zoom(bounds, *, pixels: int = 1024) -> int:
    """The largest zoom at which ``bounds`` (minlon, minlat, maxlon, maxlat) fit ``pixels``
    across (256 px tiles)."""
    width = max(bounds[2] - bounds[0], 1e-9)
    lat = lambda v: math.log(math.tan(math.pi / 4 + math.radians(max(-85.0, min(85.0, v))) / 2))  # noqa: E731
    height = max(abs(lat(bounds[3]) - lat(bounds[1])) * 180 / math.pi, 1e-9)
    return max(0, min(22, int(math.floor(math.log2(360.0 * pixels / 256 / max(width, height))))))
