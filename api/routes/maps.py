"""Map pages (Folium, built in ``maps/``), their GeoJSON feeds and downloads, the public embed,
the public grid page with its QR code, and the ``/assets`` mount that replaces the CDNs.

Pages are built per request from aggregates (``geo.analytics.mapdata`` / ``geo.analytics.analysis``); the
``Server-Timing`` header reports the build time in milliseconds. Every page carries a CSP
allowing only its own inline scripts (``api.headers``); every link a page shows is built
from the parsed parameters, never from the raw query string.
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

import orjson
import segno
from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.staticfiles import StaticFiles

from api.auth import keep_signed_in
from api.deps import SessionDep
from api.headers import html_headers
from api.page_cache import PageCache
from api.retired import to_successor
from api.routes.tiles import wall_vector_levels
from api.params import BBoxQuery, CodePath, WindowDep, bounded_window, parse_bbox
from api.security import PrincipalDep, Require
from geo.access import Permission
from geo.access.roles import sees_exact_locations
from geo.analytics.analysis import analyse_hotspots, command_center_data, public_hexes
from geo.analytics.exports import analysis_csv, analysis_geojson
from geo.analytics.mapdata import area_shapes, live_reports, worker_positions
from geo.boundaries.areas import BBox, area_path, area_workers, get_area
from geo.boundaries.generations import active_generation_id
from geo.errors import AreaNotFound, Unauthorized
from geo.models import AreaLevel
from geo.reports.categories import CATEGORY_FILTER_DOC, parse_category
from maps.assets import PATCHED, allowed_asset, read_asset
from maps.base import render
from maps.command_center import LiveSources, build_command_center
from maps.grid_page import build_grid_page
from maps.hotspots import build_embed, build_hotspots
from maps.settings import MapSettings, missing_assets

log = logging.getLogger("gridmap.maps")
router = APIRouter(tags=["maps"])
# Internal pages show report points and worker positions: staff only once tokens exist. Who
# may not see every case where it is (a planner, a worker) gets sensitive cases at their
# public location, in the points and in every count (geo.access.privacy), and workers' cells.
INTERNAL = Depends(Require(Permission.internal_maps, hint="staff only: sign in at /maps/login"))

Category = Annotated[str | None, Query(max_length=64, examples=["safety"], description=(
    "The reports of: " + CATEGORY_FILTER_DOC + "."))]


GEOJSON = {200: {"content": {"application/geo+json": {}}, "description": "A GeoJSON FeatureCollection"},
           401: {"description": "Staff only"}, 403: {"description": "This role may not open the internal maps"}}
HTML = {200: {"content": {"text/html": {}}, "description": "The page"}}
INTERNAL_HTML = {**HTML, 401: {"description": "Staff only"}, 403: {"description": "This role may not"},
                 422: {"description": "Invalid field"}}


class AssetFiles(StaticFiles):
    """node_modules, but only the files the maps link (and the images/fonts their CSS loads)."""

    async def get_response(self, path: str, scope):
        rel = path.replace("\\", "/")
        if not allowed_asset(rel):
            raise HTTPException(status_code=404, detail="not a map asset")
        if rel in PATCHED:  # served from memory with its CDN URLs rewritten (maps.assets)
            return Response(read_asset(Path(self.directory), rel), media_type="text/css",
                            headers={"Cache-Control": "public, max-age=86400"})
        response = await super().get_response(path, scope)
        response.headers.setdefault("Cache-Control", "public, max-age=86400")
        return response


def install(app: FastAPI, settings: MapSettings) -> None:
    """Add the map routes and the ``/assets`` mount to ``app`` (its map settings are
    ``app.state.map_settings``, set by the app factory)."""
    if (why := missing_assets(settings.assets_dir)) is not None:
        # The API still serves; the map pages would load without Leaflet, so say it at start.
        log.error("%s", why)
    app.state.map_cache = PageCache(settings.cache_ttl_s)
    app.include_router(router)
    app.mount("/assets", AssetFiles(directory=settings.assets_dir, check_dir=False), name="assets")


def _settings(request: Request) -> MapSettings:
    return request.app.state.map_settings


def _cache(request: Request) -> PageCache:
    return request.app.state.map_cache


def html_page(page: str, started: float, *, headers: dict[str, str] | None = None, csp: dict[str, str] | None = None,
          request: Request | None = None) -> HTMLResponse:
    """An HTML page with its build time, its CSP (``csp``, else computed from the page) and
    frame protection."""
    h = {"Server-Timing": f"build;dur={(time.perf_counter() - started) * 1000:.1f}", "Cache-Control": "no-cache"}
    h.update(csp if csp is not None else _csp(request, page))
    h.update(headers or {})
    return HTMLResponse(page, headers=h)


def _csp(request: Request, page: str, *, frame_ancestors: str = "'none'", folium: bool = True) -> dict[str, str]:
    return html_headers(page, frame_ancestors=frame_ancestors, img_sources=_settings(request).tile_origins(),
                        folium=folium)


@router.get("/maps/command-center", dependencies=[INTERNAL], response_class=HTMLResponse, responses=INTERNAL_HTML,
            summary="The command centre's wall map")
def command_center(
    request: Request, session: SessionDep, window: WindowDep, principal: PrincipalDep,
    level: Annotated[AreaLevel, Query(examples=["community"], description="Hierarchy level shown first.")] = AreaLevel.grid,
):
    """The wall map: areas by open cases (one level at a time, switchable), heat per group, live layers."""
    started = time.perf_counter()
    settings = _settings(request)
    gid, now, public = active_generation_id(session), datetime.now(UTC), not sees_exact_locations(principal)
    vector = wall_vector_levels(request, session, generation=gid, now=now, public=public)  # None: small city
    data = command_center_data(session, generation=gid, now=now, since=window.since, until=window.until,
                               max_cells=settings.hex_max_cells, public=public, with_areas=vector is None)
    live = LiveSources(
        reports_url=str(request.url_for("live_reports_feed").path),
        workers_url=str(request.url_for("workers_feed").path), interval_ms=settings.live_interval_ms,
        # + the id: the case page, whose desk is for staff (the open demo's visitors get the reporter's page)
        case_url=str(request.app.url_path_for("case_page", report_id="0"))[:-1] if principal.staff else None,
    )
    m = build_command_center(
        areas=data.areas, heat=data.heat, live=live, bounds=data.bounds, settings=settings,
        default_level=level.value, window_label=f"{data.since:%Y-%m-%d} – {data.until:%Y-%m-%d}", vector=vector,
    )
    page, _ = render(m, title="gridmap command centre")
    return html_page(page, started, request=request)


def _geojson(features: list[dict]) -> Response:
    body = orjson.dumps({"type": "FeatureCollection", "features": features})
    return Response(body, media_type="application/geo+json", headers={"Cache-Control": "no-store"})


@router.get("/maps/feeds/reports.geojson", dependencies=[INTERNAL], name="live_reports_feed", responses=GEOJSON,
            summary="Live feed: new and overdue reports")
def live_reports_feed(request: Request, session: SessionDep, principal: PrincipalDep):
    """New reports (last GRIDMAP_MAP_LIVE_WINDOW_H hours) and the most overdue open cases.
    Points, category, status, grid: no reporter, phone or description."""
    window = timedelta(hours=_settings(request).live_window_h)
    return _geojson(live_reports(session, now=datetime.now(UTC), window=window,
                                 exact=sees_exact_locations(principal)))


@router.get("/maps/feeds/workers.geojson", dependencies=[INTERNAL], name="workers_feed", responses=GEOJSON,
            summary="Live feed: worker positions")
def workers_feed(session: SessionDep, principal: PrincipalDep):
    """On-duty workers' last positions with public name and role (exact for the roles that
    may know where workers are; their lattice cell for the others)."""
    return _geojson(worker_positions(session, exact=principal.can(Permission.exact_positions)))


Level = Annotated[AreaLevel, Query(examples=["community"], description=(
    "Level of the per-area Gi* (grid, community, street, district)."))]
Resolution = Annotated[int | None, Query(ge=5, le=10, examples=[8], description=(
    "H3 resolution, 5 (≈ 250 km² cells) to 10 (≈ 0.015 km²); default: the finest that keeps the extent under "
    "GRIDMAP_MAP_HEX_MAX_CELLS cells."))]


@dataclass(frozen=True, slots=True)
class HotspotQuery:
    """What the hot-spot page and its downloads analyse, parsed and validated: the page
    cache's key and the source of every link the page shows, so the two cannot differ."""

    label: str
    categories: tuple[str, ...] | None
    since: datetime | None
    until: datetime | None
    level: AreaLevel
    resolution: int | None
    bbox: BBox | None
    exact: bool  # the viewer sees every case where it is (else sensitive ones at their public cell)

    def query_string(self, **extra: str) -> str:
        """The canonical query string of this analysis (what the download links carry)."""
        params = {"category": self.label}
        if self.since is not None:
            params["since"] = self.since.isoformat()
        if self.until is not None:
            params["until"] = self.until.isoformat()
        params["level"] = self.level.value
        if self.resolution is not None:
            params["resolution"] = str(self.resolution)
        if self.bbox is not None:
            params["bbox"] = ",".join(repr(v) for v in (self.bbox.minlon, self.bbox.minlat, self.bbox.maxlon,
                                                         self.bbox.maxlat))
        return urlencode({**params, **extra})


async def hotspot_query(
    window: WindowDep, principal: PrincipalDep, category: Category = None, level: Level = AreaLevel.grid,
    resolution: Resolution = None, bbox: BBoxQuery = None,
) -> HotspotQuery:
    label, codes = parse_category(category)
    return HotspotQuery(label, codes, window.since, window.until, level, resolution, parse_bbox(bbox),
                        sees_exact_locations(principal))


HotspotParams = Annotated[HotspotQuery, Depends(hotspot_query)]


def _analysis(request: Request, session, q: HotspotQuery):
    return analyse_hotspots(
        session, generation=active_generation_id(session), label=q.label, categories=q.categories,
        since=q.since, until=q.until, level=q.level, resolution=q.resolution,
        max_cells=_settings(request).hex_max_cells, bbox=q.bbox, public=not q.exact,
        zone=request.app.state.city_config.timezone,
    )


@router.get("/maps/hotspots", dependencies=[INTERNAL], response_class=HTMLResponse, responses=INTERNAL_HTML,
            summary="Hot-spot analysis page")
def hotspots_page(request: Request, session: SessionDep, q: HotspotParams):
    """Density, Gi* hot/cold spots per hexagon and per area, weekly animation, downloads."""
    started = time.perf_counter()
    downloads = {
        f"{unit} {fmt}": f"{request.url_for('hotspots_' + fmt).path}?{q.query_string(unit=unit)}"
        for unit in ("hex", "area") for fmt in ("csv", "geojson")
    }

    def build() -> tuple[str, dict[str, str]]:
        a = _analysis(request, session, q)
        page = render(build_hotspots(a, settings=_settings(request), downloads=downloads),
                      title="gridmap hot spots")[0]
        return page, _csp(request, page)

    # The page depends on exactly the parsed query and the generation (downloads included).
    key = ("hotspots", active_generation_id(session), q)
    (page, csp), hit = _cache(request).get_or_build(key, build)
    return html_page(page, started, headers={"X-Cache": "hit" if hit else "miss"}, csp=csp)


Unit = Annotated[str, Query(pattern="^(hex|area)$", examples=["area"], description=(
    "hex: one row per H3 cell; area: one row per area of `level`."))]


@router.get("/maps/hotspots.csv", dependencies=[INTERNAL], name="hotspots_csv", summary="Hot-spot analysis as CSV",
            responses={**INTERNAL_HTML, 200: {"content": {"text/csv": {}}, "description": "One row per hexagon or area"}})
def hotspots_csv(request: Request, session: SessionDep, q: HotspotParams, unit: Unit = "hex"):
    """The analysis as CSV: one row per hexagon or area with count, Gi* z, p and class."""
    a = _analysis(request, session, q)
    return Response(analysis_csv(a, unit=unit), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="hotspots-{unit}.csv"'})


@router.get("/maps/hotspots.geojson", dependencies=[INTERNAL], name="hotspots_geojson",
            summary="Hot-spot analysis as GeoJSON", responses={**GEOJSON, 422: {"description": "Invalid field"}})
def hotspots_geojson(request: Request, session: SessionDep, q: HotspotParams, unit: Unit = "hex"):
    """The analysis as GeoJSON (hexagon polygons, or areas' simplified outlines)."""
    a = _analysis(request, session, q)
    if unit == "area":  # every area, not only the significant ones the page draws
        a.area_shapes = area_shapes(session, generation=active_generation_id(session), level=q.level,
                                    codes=list(a.areas["code"]))
    return Response(analysis_geojson(a, unit=unit), media_type="application/geo+json",
                    headers={"Content-Disposition": f'attachment; filename="hotspots-{unit}.geojson"'})


@router.get("/embed/hotspots", response_class=HTMLResponse, summary="Public hot-spot map (embeddable)",
            responses={**HTML, 304: {"description": "Not modified (ETag)"}, 422: {"description": "Invalid field"}})
def embed_hotspots(request: Request, session: SessionDep, principal: PrincipalDep, window: WindowDep,
                   category: Category = None):
    """The public, iframe-friendly hot-spot map: hexagon counts only, cells under 5 suppressed,
    sensitive cases counted at their public cell. Windows are whole days, at most a year."""
    started = time.perf_counter()
    settings = _settings(request)
    label, codes = parse_category(category)
    # Always bounded (the embed is public whoever opens it): whole days, so the cache holds.
    window = bounded_window(window, full=False, tz=request.app.state.city_config.tz, now=datetime.now(UTC),
                            default_days=None)
    gid = active_generation_id(session)

    def build() -> tuple[str, str, dict[str, str]]:
        p = public_hexes(session, generation=gid, label=label, categories=codes, since=window.since,
                         until=window.until, min_count=settings.embed_min_count, max_cells=settings.hex_max_cells)
        page = render(build_embed(p, settings=settings), title="hot spots")[0]
        return page, '"' + hashlib.sha256(page.encode()).hexdigest()[:32] + '"', \
            _csp(request, page, frame_ancestors=settings.frame_ancestors)

    (page, etag, csp), hit = _cache(request).get_or_build(("embed", gid, label, window.since, window.until), build)
    headers = {
        "ETag": etag,
        "Cache-Control": f"public, max-age={settings.embed_max_age_s}",
        **csp,
        "X-Cache": "hit" if hit else "miss",
    }
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    return html_page(page, started, headers=headers, csp=csp)


def _grid_url(request: Request, code: str) -> str:
    base = _settings(request).public_base_url
    path = request.url_for("grid_page", code=code).path
    return f"{base.rstrip('/')}{path}" if base else str(request.url_for("grid_page", code=code))


@router.get("/grids/{code}", response_class=HTMLResponse, name="grid_page", summary="A grid's public page (一格一码)",
            responses={**HTML, 404: {"description": "No such area"}})
def grid_page(request: Request, session: SessionDep, code: CodePath):
    """The public page of one area: outline, hierarchy, workers' public names and roles, report link, QR."""
    started = time.perf_counter()
    gid = active_generation_id(session)
    try:
        area = get_area(session, code=code, generation=gid)
    except AreaNotFound:
        if (moved := to_successor(request, session, code=code, route="grid_page")) is not None:
            return moved
        raise
    settings = _settings(request)
    m = build_grid_page(
        area=area, path=area_path(session, code=code, generation=gid),
        workers=area_workers(session, codes=[code])[code], report_url=settings.report_url.format(code=code),
        qr_url=request.url_for("grid_qr", code=code, fmt="svg").path, settings=settings,
    )
    page, _ = render(m, title=f"{area.name} {area.code}")
    return html_page(page, started, headers={"Cache-Control": "public, max-age=300"}, request=request)


@router.get("/grids/{code}/qr.{fmt}", name="grid_qr", summary="The QR code of a grid's page",
            responses={200: {"content": {"image/png": {}, "image/svg+xml": {}}, "description": "The QR code"},
                       404: {"description": "No such area"}})
def grid_qr(request: Request, session: SessionDep, code: CodePath,
            fmt: Annotated[str, PathParam(pattern="^(png|svg)$", examples=["svg"], description="png or svg.")],
            scale: Annotated[int, Query(ge=1, le=40, examples=[10], description=(
                "Pixels per QR module (png; svg scales freely)."))] = 10):
    """A QR code (error correction M) of the grid page's absolute URL, for printing on a sign."""
    try:
        get_area(session, code=code, generation=active_generation_id(session), with_geometry=False)
    except AreaNotFound:
        if (moved := to_successor(request, session, code=code, route="grid_qr", fmt=fmt)) is not None:
            return moved
        raise
    qr = segno.make(_grid_url(request, code), error="m", micro=False)
    buf = io.BytesIO()
    qr.save(buf, kind=fmt, scale=scale, border=4)
    media = "image/png" if fmt == "png" else "image/svg+xml"
    return Response(buf.getvalue(), media_type=media, headers={"Cache-Control": "public, max-age=86400"})


_LOGIN_FORM = """<!doctype html><meta charset="utf-8"><title>gridmap staff sign-in</title>
<form method="post" action="/maps/login" style="font:16px sans-serif;margin:4em auto;max-width:24em">
<p>Staff token for the command-centre maps:</p><input name="token" type="password" autofocus style="width:100%">
<p><button type="submit">Sign in</button></p></form>"""


@router.get("/maps/login", response_class=HTMLResponse, include_in_schema=False)
def login_form(request: Request):
    """A form for the staff token (browsers cannot send an Authorization header to a page)."""
    return HTMLResponse(_LOGIN_FORM, headers=_csp(request, _LOGIN_FORM, folium=False))


@router.post("/maps/login", include_in_schema=False)
async def login(request: Request, token: Annotated[str, Form(max_length=512)]):
    """Check the token and keep it in an HttpOnly, same-site cookie; then open the wall map."""
    principal = await request.app.state.authenticator.principal(token)
    if principal is None or principal.open or not principal.can(Permission.internal_maps):
        raise Unauthorized("that is not a token of a role that may open the internal maps")
    return keep_signed_in(RedirectResponse("/maps/command-center", status_code=303), token=token,
                          https=request.url.scheme == "https")
