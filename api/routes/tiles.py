"""Vector tiles (Mapbox Vector Tile 2.1, WebMercatorQuad z/x/y) of every boundary level and of
the report hexagons, and a TileJSON 3.0.0 document per layer (QGIS, MapLibre, Leaflet.VectorGrid).

Counts follow the public rules unless the viewer may see every case where it is (dispatcher,
admin: ``geo.access.roles.sees_exact_locations``); the two never share a cache entry, and the
answer varies by the credentials sent. Tiles are cached per minute (``geo.tiles.cache``),
with a strong ETag (``If-None-Match`` → 304) and a max-age that ends with the minute.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi import Path as PathParam
from fastapi import Query
from fastapi.responses import JSONResponse

from starlette.concurrency import run_in_threadpool

from api.deps import SessionDep, SessionOpenerDep
from api.params import INT4_MAX, known_query_only
from api.security import PrincipalDep
from geo.access.roles import sees_exact_locations
from geo.tiles.addressing import MAX_ZOOM, TileAddress
from geo.tiles.cache import TileCache
from geo.tiles.service import STAFF, cached_tile, get_tile, tilejson
from geo.models import AreaLevel
from geo.tiles.layers import LEVEL_LAYER, TileLayer
from geo.tiles.wallmap import grid_count, level_open_counts
from maps.base import count_breaks
from maps.command_center import uses_vector_tiles
from maps.vector import VectorLevel

MVT = "application/vnd.mapbox-vector-tile"
router = APIRouter(tags=["tiles"], dependencies=[Depends(known_query_only)])

LayerPath = Annotated[TileLayer, PathParam(examples=["grids"], description=(
    "grids, communities, streets, districts, city (areas with open/overdue counts) or reports (H3 hexagons "
    "of report counts, one vector layer per category group)."))]
ZPath = Annotated[int, PathParam(ge=0, le=MAX_ZOOM, examples=[14], description="Zoom level, 0 to 22.")]
XPath = Annotated[int, PathParam(ge=0, examples=[13747], description="Tile column, 0 to 2^z − 1 (west → east).")]
YPath = Annotated[int, PathParam(ge=0, examples=[6135], description="Tile row, 0 to 2^z − 1 (north → south).")]
GenerationQuery = Annotated[int | None, Query(ge=1, le=INT4_MAX, examples=[2], description=(
    "Boundary generation whose areas are drawn (default: the active one; a draft or retired one by id)."))]
COMMON = {401: {"description": "The token sent is not valid"}, 404: {"description": "No such generation"},
          422: {"description": "A field is invalid (z, x, y, layer, generation)"},
          503: {"description": "No boundary generation is active yet"}}


def tile_cache(request: Request) -> TileCache:
    """The app's tile cache, made on first use (GRIDMAP_MAP_TILE_CACHE_BYTES)."""
    cache = getattr(request.app.state, "tile_cache", None)
    if cache is None:
        cache = request.app.state.tile_cache = TileCache(request.app.state.map_settings.tile_cache_bytes)
    return cache


@router.get("/tiles/{layer}/{z}/{x}/{y}.mvt", name="vector_tile", summary="A vector tile of one layer",
            response_class=Response,
            responses={200: {"content": {MVT: {}}, "description": "The tile (an empty body: nothing there)"},
                       304: {"description": "Not modified (ETag)"}, **COMMON})
async def vector_tile(request: Request, opener: SessionOpenerDep, principal: PrincipalDep, layer: LayerPath,
                      z: ZPath, x: XPath, y: YPath, generation: GenerationQuery = None):
    """One Mapbox Vector Tile (extent 4096, buffer 64, EPSG:3857). Area layers: per area
    `code`, `name`, `parent_code`, `open`, `overdue` (publicly, a sensitive case counts in its
    community and above, never in its grid). `reports`: H3 hexagons with `cell`, `n`,
    `resolution` over the 12 weeks up to the newest report, the resolution following the zoom;
    publicly cells under the embed's minimum count are left out and the groups holding sensitive
    categories are no finer than H3 res 8. Never a report's point."""
    address = TileAddress(z, x, y)  # x and y are checked against z here: a 422 naming the field
    cache, settings = tile_cache(request), request.app.state.map_settings

    def answer_in_thread():
        # A miss (or a fingerprint older than a second): one thread-pool hop for the session and the build.
        with opener() as session:
            return get_tile(session, cache=cache, layer=layer, tile=address, generation=generation,
                            exact=sees_exact_locations(principal), now=datetime.now(UTC),
                            min_count=settings.embed_min_count)

    now = datetime.now(UTC)
    answer = cached_tile(cache=cache, layer=layer, tile=address, generation=generation,
                         exact=sees_exact_locations(principal), now=now, min_count=settings.embed_min_count)
    if answer is None:
        answer = await run_in_threadpool(answer_in_thread)
        now = datetime.now(UTC)
    max_age = max(0, int((answer.expires - now).total_seconds()))
    headers = {
        "ETag": answer.tile.etag,
        "Cache-Control": f"{'private' if answer.audience == STAFF else 'public'}, max-age={max_age}",
        # Exact counts for some credentials, public ones for others: caches must tell them apart.
        "Vary": "Authorization, Cookie",
        "X-Cache": "hit" if answer.hit else "miss",
    }
    if answer.tile.etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(answer.tile.body, media_type=MVT, headers=headers)


@router.get("/tiles/{layer}.json", name="tilejson", summary="The TileJSON of one layer",
            responses={200: {"description": "TileJSON 3.0.0"}, **COMMON})
def layer_tilejson(request: Request, session: SessionDep, layer: LayerPath, generation: GenerationQuery = None):
    """TileJSON 3.0.0: the absolute tile URL template, zooms, the city's bounds and centre,
    and the vector layers with their fields. Add it to QGIS as a Vector Tile connection (see
    the README)."""
    base = str(request.base_url).rstrip("/")
    path = request.app.url_path_for("vector_tile", layer=layer.value, z="{z}", x="{x}", y="{y}")
    url = base + path.replace("%7B", "{").replace("%7D", "}")
    if generation is not None:
        url += f"?generation={generation}"
    doc = tilejson(session, layer=layer, generation=generation, tiles_url=url)
    return JSONResponse(doc, headers={"Cache-Control": "public, max-age=300"})


def wall_vector_levels(request: Request, session, *, generation: int, now: datetime,
                       public: bool) -> dict[str, VectorLevel] | None:
    """The command centre's levels as vector tiles of ``generation`` (pinned, so an open wall
    keeps drawing what its legend counted) when the generation has more grids than
    GRIDMAP_MAP_VECTOR_TILES_ABOVE; None below it (the page embeds the polygons)."""
    if not uses_vector_tiles(grid_count(session, generation=generation), request.app.state.map_settings):
        return None
    out = {}
    for level, (opens, overdue) in level_open_counts(session, generation=generation, now=now, public=public).items():
        layer = LEVEL_LAYER[AreaLevel(level)].value
        path = request.app.url_path_for("vector_tile", layer=layer, z="{z}", x="{x}", y="{y}")
        url = path.replace("%7B", "{").replace("%7D", "}") + f"?generation={generation}"
        out[level] = VectorLevel(url=url, layer=layer, breaks=count_breaks(opens), total_open=sum(opens),
                                 total_overdue=overdue)
    return out
