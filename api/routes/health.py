"""Liveness with a real database round trip."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from api.schemas import HealthOut

router = APIRouter(tags=["health"])
log = logging.getLogger("gridmap.api")


@router.get("/healthz", response_model=HealthOut, summary="Is the service up (and its database)",
            responses={503: {"model": HealthOut, "description": "The database does not answer"}})
def healthz(request: Request):
    """200 with the PostgreSQL and PostGIS versions; 503 when the database cannot be reached."""
    try:
        with request.app.state.engine.connect() as conn:
            row = conn.execute(
                sa.select(sa.func.current_setting("server_version"), sa.func.postgis_lib_version())
            ).one()
    except SQLAlchemyError:
        log.warning("health check: database unavailable", exc_info=True)
        return JSONResponse(HealthOut(status="unavailable").model_dump(), status_code=503)
    return HealthOut(status="ok", database=f"PostgreSQL {row[0]}", postgis=row[1])
