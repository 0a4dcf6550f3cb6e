"""The app factory. Nothing is built at import time: ``create_app`` and its lifespan own the
settings, the engine and the session factory."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime

from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from api.batcher import IntakeBatcher
from api.errors import install_error_handlers
from api.limits import BodySizeLimit
from api.routes import categories, dispatch, grids, health, locate, report_form, reports, stats
from api.routes import maps as map_routes
from api.settings import ApiSettings
from geo.analysis import analyse_hotspots
from geo.cityconfig import CityConfig, load_city_config
from geo.db import make_engine, make_sessionmaker, session_scope
from geo.registration import matcher_for_active
from geo.runtime import settle_heap
from geo.settings import CitySettings, DatabaseSettings
from geo.workflow import escalate_overdue

log = logging.getLogger("gridmap.api")


def create_app(
    *,
    api_settings: ApiSettings | None = None,
    db_settings: DatabaseSettings | None = None,
    engine: Engine | None = None,
    city_config: CityConfig | None = None,
) -> FastAPI:
    """Build the FastAPI app. Pass ``engine`` to share one (tests); otherwise the lifespan
    creates it from ``db_settings`` (default: ``GRIDMAP_DATABASE_*``) and disposes of it."""
    api_settings = api_settings or ApiSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = engine is None
        eng = engine if engine is not None else make_engine(db_settings or DatabaseSettings())
        app.state.engine = eng
        app.state.sessionmaker = make_sessionmaker(eng)
        app.state.intake_batcher = None
        if api_settings.intake_batching:
            app.state.intake_batcher = IntakeBatcher(eng, app.state.city_config)
            await app.state.intake_batcher.start()
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
            if owned:
                eng.dispose()

    app = FastAPI(
        title=api_settings.title,
        version="0.1.0",
        description="Grid-based city governance: grids, point-in-grid lookup, reports and maps.",
        lifespan=lifespan,
    )
    app.state.api_settings = api_settings
    app.state.city_config = city_config or load_city_config(CitySettings().config)
    if not api_settings.staff_token_set:
        log.warning("no GRIDMAP_STAFF_TOKENS: workflow endpoints are open; personal data stays hidden")
    install_error_handlers(app)
    app.add_middleware(
        BodySizeLimit, default=api_settings.max_body_bytes, batch=api_settings.max_batch_body_bytes,
        photo=api_settings.max_photo_bytes,
    )
    app.include_router(health.router)
    for module in (grids, locate, categories, reports, stats, dispatch):
        app.include_router(module.router, prefix="/api/v1")
    map_routes.install(app)  # /maps, /embed, /grids/{code} pages and the /assets mount
    app.include_router(report_form.router)  # /report: the public form a grid sign's page links to
    if api_settings.intake_batching:
        # Served by the plain endpoint; the FastAPI route stays for the OpenAPI docs (and serves
        # when batching is off, where tests swap its dependencies).
        app.router.routes.insert(0, Route("/api/v1/reports", reports.post_report_direct, methods=["POST"]))
    return app


def _warm_up(app: FastAPI) -> None:
    """Build, before the first requests need them, what they would otherwise wait for: the
    grid matcher of intake (~4 s) and the hot-spot page's area adjacency and city outline
    (~0.5 s, by analysing the default view once). Then freeze the heap they made."""
    try:
        with session_scope(app.state.sessionmaker) as session:
            generation, _ = matcher_for_active(session)
            analyse_hotspots(session, generation=generation, label="all", categories=None,
                             max_cells=app.state.map_settings.hex_max_cells)
    except Exception:  # noqa: BLE001 - no boundaries loaded yet, or the database is down
        log.warning("warm-up skipped; the first requests will build what they need", exc_info=True)
    settle_heap()


async def _escalate_forever(app: FastAPI, interval_s: float) -> None:
    """Escalate overdue cases every ``interval_s`` seconds; errors are logged, never fatal."""

    def once() -> int:
        with session_scope(app.state.sessionmaker) as session:
            return escalate_overdue(session, config=app.state.city_config, now=datetime.now(UTC))

    while True:
        await asyncio.sleep(interval_s)
        try:
            moved = await run_in_threadpool(once)
            if moved:
                log.info("escalated %d overdue case(s)", moved)
        except Exception:  # noqa: BLE001 - the loop must survive a database hiccup
            log.exception("overdue escalation failed; retrying in %.0f s", interval_s)
