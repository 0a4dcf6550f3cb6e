"""Request-scoped dependencies. The engine and session factory live on ``app.state`` (lifespan)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from api.settings import ApiSettings
from geo.cityconfig import CityConfig


def get_session(request: Request) -> Iterator[Session]:
    """One session per request; committed by the route's domain call when it writes."""
    with request.app.state.sessionmaker() as session:
        yield session


async def get_session_opener(request: Request) -> Callable[[], AbstractContextManager[Session]]:
    """For async routes that open a session only on some paths, in a worker thread: opening
    it as a dependency would cost two thread-pool hops on every request."""
    return request.app.state.sessionmaker


SessionOpenerDep = Annotated[Callable[[], AbstractContextManager[Session]], Depends(get_session_opener)]


async def get_api_settings(request: Request) -> ApiSettings:
    # async: FastAPI runs a sync dependency in the thread pool, a hop per request for nothing.
    return request.app.state.api_settings


SessionDep = Annotated[Session, Depends(get_session)]
ApiSettingsDep = Annotated[ApiSettings, Depends(get_api_settings)]


async def get_city_config(request: Request) -> CityConfig:
    return request.app.state.city_config


CityConfigDep = Annotated[CityConfig, Depends(get_city_config)]
