"""Settings shared by every entry point (CLI, API, tests), read from ``GRIDMAP_*`` variables.

Nothing here is instantiated at import time: callers build the settings they need, so tests
and the app factory can pass their own.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "postgresql+psycopg://gridmap:gridmap@127.0.0.1:5432/gridmap"


class DatabaseSettings(BaseSettings):
    """Where PostGIS is and how hard to lean on it (``GRIDMAP_DATABASE_*``)."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_DATABASE_", env_file=".env", extra="ignore")

    url: str = Field(DEFAULT_DATABASE_URL, description="SQLAlchemy URL of a PostgreSQL database with PostGIS.")
    pool_size: int = Field(10, ge=1, le=200)
    max_overflow: int = Field(10, ge=0, le=200)
    statement_timeout_ms: int = Field(30_000, ge=100, description="Per-statement limit for API sessions.")

    @field_validator("url")
    @classmethod
    def _postgres_only(cls, value: str) -> str:
        if not value.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
            raise ValueError("must be a postgresql:// URL (PostGIS is required)")
        # psycopg 3 is the only driver we ship; normalise the bare scheme onto it.
        for bare in ("postgresql://", "postgres://"):
            if value.startswith(bare):
                return "postgresql+psycopg://" + value[len(bare):]
        return value


class CitySettings(BaseSettings):
    """Which city configuration file to use (``GRIDMAP_CITY_CONFIG``)."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_CITY_", env_file=".env", extra="ignore")

    config: Path | None = Field(None, description="TOML city configuration; default: the packaged demo city.")
