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

from api.batcher import IntakeBatcher, settle_heap
from api.errors import install_error_handlers
from api.limits import BodySizeLimit
from api.routes import categories, dispatch, grids, health, locate, reports, stats
from api.routes import maps as map_routes
from api.settings import ApiSettings
from geo.cityconfig import CityConfig, load_city_config
from geo.db import make_engine, make_sessionmaker, session_scope
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
        escalator = None
        if api_settings.escalation_interval_s > 0:
            escalator = asyncio.create_task(_escalate_forever(app, api_settings.escalation_interval_s))
        try:
            yield
        finally:
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
    return app


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
