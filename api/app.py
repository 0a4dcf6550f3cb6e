"""The app factory. Nothing is built at import time: ``create_app`` and its lifespan own the
settings, the engine and the session factory."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime

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
from geo.access.retention import run_retention
from geo.analytics.analysis import analyse_hotspots
from geo.cityconfig import CityConfig, load_city_config
from geo.db import make_engine, make_sessionmaker, session_scope
from geo.boundaries.areas import area_index
from geo.boundaries.planning import activate_due
from geo.matching.matcher import matcher_for
from geo.departments.flow import missing_contacts
from geo.reports.workflow import escalate_overdue
from geo.rosters.service import refresh_duty
from geo.runtime import settle_heap
from geo.webhooks import deliver_due
from geo.settings import CitySettings, DatabaseSettings
from maps.settings import MapSettings

log = logging.getLogger("gridmap.api")
RETENTION_EVERY_S = 3600.0  # the retention job's period inside the loop (which ticks every minute or so)


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
        warm_up = asyncio.create_task(run_in_threadpool(_warm_up, app), name="warm-up")
        escalator = None
        if api_settings.escalation_interval_s > 0:
            escalator = asyncio.create_task(_escalate_forever(app, api_settings.escalation_interval_s))
        try:
            yield
        finally:
            warm_up.cancel()  # a warm-up already running finishes first (threads cannot be cancelled)
            await asyncio.gather(warm_up, return_exceptions=True)
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


def _warm_up(app: FastAPI) -> None:
    """Build, before the first requests need them, what they would otherwise wait for: the
    grid matcher of intake, locate and dispatch (~4 s), the area index of locate and dispatch
    (~1 s), and the hot-spot page's area adjacency and city outline (~0.5 s, by analysing the
    default view once). Then freeze the heap they made."""
    try:
        _activate_due(app)  # a scheduled activation missed while no server ran happens now
        with session_scope(app.state.sessionmaker) as session:
            generation, _ = matcher_for(session)
            area_index(session, generation=generation)
            analyse_hotspots(session, generation=generation, label="all", categories=None,
                             max_cells=app.state.map_settings.hex_max_cells, zone=app.state.city_config.timezone)
    except Exception:  # noqa: BLE001 - no boundaries loaded yet, or the database is down
        log.warning("warm-up skipped; the first requests will build what they need", exc_info=True)
    _check_departments(app)
    settle_heap()


def _check_departments(app: FastAPI) -> None:
    """Warn about each department desk or escalation contact that is no worker here (its
    transfers would wait unassigned, its escalations stay put): a finding, never a crash."""
    try:
        with session_scope(app.state.sessionmaker) as session:
            for problem in missing_contacts(session, config=app.state.city_config):
                log.warning("%s: add the worker or fix the city configuration", problem)
    except Exception:  # noqa: BLE001 - the database is down: the warm-up said so already
        log.debug("department contacts not checked", exc_info=True)


def _activate_due(app: FastAPI) -> None:
    """Activate the draft when its scheduled time has come (once across server processes)."""
    with session_scope(app.state.sessionmaker) as session:
        fired = activate_due(session, config=app.state.city_config, now=datetime.now(UTC))
    if fired is not None:
        log.info("scheduled activation: generation %d is active (was %d), %d open case(s) moved",
                 fired.generation, fired.previous, fired.moved)


def _retain(app: FastAPI) -> None:
    """The retention job (``geo.access.retention.run_retention``), at most every
    RETENTION_EVERY_S; on the next tick again while a first run over years of history is
    still catching up (each run does a bounded share). A failure waits for the next period."""
    if time.monotonic() < getattr(app.state, "retention_next", 0.0):
        return
    app.state.retention_next = time.monotonic() + RETENTION_EVERY_S
    with session_scope(app.state.sessionmaker) as session:
        run = run_retention(session, config=app.state.city_config, now=datetime.now(UTC))
    if not run.finished:
        app.state.retention_next = 0.0
    if run.anonymised or run.audit_deleted:
        log.info("retention: %d reporter(s) anonymised, %d audit row(s) deleted", run.anonymised, run.audit_deleted)


async def _escalate_forever(app: FastAPI, interval_s: float) -> None:
    """Every ``interval_s`` seconds: a due scheduled activation, the overdue escalation, the
    matcher of the active generation (rebuilt here, not by the next report, when another
    process activated new boundaries), the duty flags from the rosters, a webhook delivery pass
    and, hourly, the retention of personal data. Errors are logged, never fatal."""

    def once():
        try:
            _activate_due(app)
        except Exception:  # noqa: BLE001 - one failing step must not stop the others
            log.exception("the scheduled activation failed; retrying in %.0f s", interval_s)
        with session_scope(app.state.sessionmaker) as session:
            run = escalate_overdue(session, config=app.state.city_config, now=datetime.now(UTC))
        try:
            with session_scope(app.state.sessionmaker) as session:
                matcher_for(session)
        except Exception:  # noqa: BLE001
            log.exception("rebuilding the active matcher failed; the next report builds it")
        try:
            with session_scope(app.state.sessionmaker) as session:
                refresh_duty(session, config=app.state.city_config, now=datetime.now(UTC))
        except Exception:  # noqa: BLE001 - duty flags catch up on the next pass
            log.exception("refreshing duty from the rosters failed; retrying in %.0f s", interval_s)
        try:
            deliver_due(app.state.sessionmaker)
        except Exception:  # noqa: BLE001 - a receiver or the outbox must never stop the loop
            log.exception("webhook deliveries failed; retrying in %.0f s", interval_s)
        try:
            _retain(app)
        except Exception:  # noqa: BLE001 - retention must never stop escalation
            log.exception("the retention job failed; retrying in %.0f s", RETENTION_EVERY_S)
        return run

    while True:
        await asyncio.sleep(interval_s)
        try:
            run = await run_in_threadpool(once)
            app.state.metrics.escalation_ran(moved=run.moved, failed=len(run.failed))
            if run.moved:
                log.info("escalated %d overdue case(s)", run.moved)
            if run.failed:
                log.error("%d overdue case(s) could not be escalated", len(run.failed))
        except Exception:  # noqa: BLE001 - the loop must survive a database hiccup
            app.state.metrics.escalation_failed()
            log.exception("overdue escalation failed; retrying in %.0f s", interval_s)
