"""The app factory. Nothing is built at import time: ``create_app`` and its lifespan own the
settings, the engine and the session factory."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route
from starlette.staticfiles import StaticFiles

from api.auth import Authenticator
from api.batcher import IntakeBatcher
from api.errors import install_error_handlers
from api.gate import Gate
from api.jobs import run_periodic, warm_up
from api.headers import html_headers
from api.limits import BodyRules
from api.metrics import Metrics
from api.ogc import install as install_ogc
from api.openapi import install_openapi
from api.params import known_query_only
from api.ratelimit import RateLimiter, RateLimitSettings
from api.routes import categories, departments, dispatch, generation_map, generations, grids, health, locate, report_form, reports, stats
from api.routes import me, worker
from api.routes import rosters as roster_routes
from api.routes import webhooks as webhook_routes
from api.routes import tiles as tile_routes
from api.routes import report_export
from api.routes import bulletin as bulletin_routes
from api.routes import maps as map_routes
from api.routes import open311
from api.routes import metrics as metrics_routes
from api.settings import ApiSettings
from api.supervision import watch_supervisor
from geo.cityconfig import CityConfig, load_city_config
from geo.db import make_engine, make_sessionmaker
from geo.runtime import settle_heap
from geo.settings import CitySettings, DatabaseSettings
from maps.settings import MapSettings

log = logging.getLogger("gridmap.api")


def create_app(
    *,
    api_settings: ApiSettings | None = None,
    db_settings: DatabaseSettings | None = None,
    engine: Engine | None = None,
    city_config: CityConfig | None = None,
    map_settings: MapSettings | None = None,
    rate_settings: RateLimitSettings | None = None,
) -> FastAPI:
    """Build the FastAPI app. Pass ``engine`` to share one (tests); otherwise the lifespan
    creates it from ``db_settings`` (default: ``GRIDMAP_DATABASE_*``) and disposes of it.
    Every settings object defaults to its ``GRIDMAP_*`` environment."""
    api_settings = api_settings or ApiSettings()
    rate_settings = rate_settings or RateLimitSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        watch_supervisor()
        owned = engine is None
        eng = engine if engine is not None else make_engine(db_settings or DatabaseSettings())
        app.state.engine = eng
        app.state.sessionmaker = make_sessionmaker(eng)
        app.state.case_secret = None
        await limiter.start()
        if await authenticator.is_open():
            log.warning("no token is configured (GRIDMAP_STAFF_TOKENS or `gridmap tokens issue`): the service is OPEN "
                        "(a local demo): anyone may move cases, redraw and activate boundaries and open the internal maps; "
                        "personal data stays hidden")
        app.state.intake_batcher = None
        if api_settings.intake_batching:
            app.state.intake_batcher = IntakeBatcher(eng, app.state.city_config, metrics=metrics)
            await app.state.intake_batcher.start()
            metrics.queue_depth = app.state.intake_batcher.depth
        settle_heap()
        warming = asyncio.create_task(run_in_threadpool(warm_up, app), name="warm-up")
        escalator = None
        if api_settings.escalation_interval_s > 0:
            escalator = asyncio.create_task(run_periodic(app, api_settings.escalation_interval_s))
        try:
            yield
        finally:
            warming.cancel()  # a warm-up already running finishes first (threads cannot be cancelled)
            await asyncio.gather(warming, return_exceptions=True)
            if escalator is not None:
                escalator.cancel()
                with suppress(asyncio.CancelledError):
                    await escalator
            if app.state.intake_batcher is not None:
                await app.state.intake_batcher.stop()
            await limiter.stop()
            if owned:
                eng.dispose()

    app = FastAPI(
        title=api_settings.title,
        version="0.1.0",
        description="Grid-based city governance: grids, point-in-grid lookup, reports and maps. "
                    "Each operation lists the roles that may call it (`x-roles`).",
        lifespan=lifespan, docs_url=None, redoc_url=None,
    )
    app.state.api_settings = api_settings
    app.state.rate_settings = rate_settings
    # Set here, not by the map router's install(): the warm-up and the routes read it.
    app.state.map_settings = map_settings or MapSettings()
    app.state.city_config = city_config or load_city_config(CitySettings().config)
    # The sessionmaker exists once the lifespan runs; the authenticator and the rate limiter
    # open their sessions through it lazily.
    authenticator = Authenticator(lambda: app.state.sessionmaker(), bootstrap_tokens=api_settings.staff_token_set,
                                  cache_s=api_settings.token_cache_s)
    app.state.authenticator = authenticator
    limiter = RateLimiter(rate_settings, lambda: app.state.sessionmaker())
    app.state.rate_limiter = limiter
    metrics = Metrics(escalation_interval_s=api_settings.escalation_interval_s, cache_s=api_settings.metrics_cache_s)
    app.state.metrics = metrics  # /metrics: this app's own registry (api.metrics)
    install_error_handlers(app)
    # Who is asking, their budget, the body's type and size, and the headers of every answer.
    app.add_middleware(Gate, authenticator=authenticator, limiter=limiter, bodies=BodyRules(
        default=api_settings.max_body_bytes, batch=api_settings.max_batch_body_bytes,
        photo=api_settings.max_photo_bytes, upload=api_settings.max_upload_bytes),
        metrics=metrics, scrape_token=api_settings.metrics_token or None)
    app.include_router(health.router)
    app.include_router(metrics_routes.router)
    # report_export before reports: /reports/export must not be taken for /reports/{report_id}.
    for module in (grids, generations, locate, categories, departments, report_export, reports, stats, dispatch, me,
                   webhook_routes, roster_routes):
        app.include_router(module.router, prefix="/api/v1", dependencies=[Depends(known_query_only)])
    map_routes.install(app, app.state.map_settings)  # /maps, /embed, /grids/{code} pages and /assets
    app.include_router(bulletin_routes.router)  # /bulletin: the periodic analysis bulletin for staff
    app.include_router(generation_map.router)  # /maps/generations/{id}: the planner's map of a redraw
    install_ogc(app)  # /ogc: OGC API – Features, with its own OpenAPI 3.0 document
    app.include_router(tile_routes.router)  # /tiles/{layer}/{z}/{x}/{y}.mvt and /tiles/{layer}.json
    _install_docs(app)
    install_openapi(app)
    open311.install(app)  # /open311/v2: GeoReport v2 for hotline systems (its own error lists in the document)
    app.include_router(report_form.router)  # /report and /cases/{id}: the reporter's pages
    app.include_router(worker.router)  # /worker: the worker's phone (queue, case, sign-in)
    app.mount("/static", StaticFiles(directory=report_form.STATIC), name="static")
    if api_settings.intake_batching:
        # Served by the plain endpoint; the FastAPI route stays for the OpenAPI docs (and serves
        # when batching is off, where tests swap its dependencies).
        app.router.routes.insert(0, Route("/api/v1/reports", reports.post_report_direct, methods=["POST"]))
    return app


def _install_docs(app: FastAPI) -> None:
    """/docs: Swagger UI from the app's own /assets (npm swagger-ui-dist), never a CDN."""

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url="/openapi.json", title=f"{app.title} API",
            swagger_js_url="/assets/swagger-ui-dist/swagger-ui-bundle.js",
            swagger_css_url="/assets/swagger-ui-dist/swagger-ui.css",
            swagger_favicon_url="/assets/swagger-ui-dist/favicon-32x32.png",
        )
        body = page.body.decode()
        return HTMLResponse(body, headers=html_headers(body))
