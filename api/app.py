"""The app factory. Nothing is built at import time: ``create_app`` and its lifespan own the
settings, the engine and the session factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine

from api.errors import install_error_handlers
from api.routes import grids, health, locate
from api.settings import ApiSettings
from geo.db import make_engine, make_sessionmaker
from geo.settings import DatabaseSettings


def create_app(
    *,
    api_settings: ApiSettings | None = None,
    db_settings: DatabaseSettings | None = None,
    engine: Engine | None = None,
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
        try:
            yield
        finally:
            if owned:
                eng.dispose()

    app = FastAPI(
        title=api_settings.title,
        version="0.1.0",
        description="Grid-based city governance: grids, point-in-grid lookup, reports and maps.",
        lifespan=lifespan,
    )
    app.state.api_settings = api_settings
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(grids.router, prefix="/api/v1")
    app.include_router(locate.router, prefix="/api/v1")
    return app
