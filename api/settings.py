"""HTTP service settings (``GRIDMAP_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDMAP_", env_file=".env", extra="ignore")

    host: str = Field("127.0.0.1", description="Interface `gridmap serve` binds to.")
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes.")
    page_size: int = Field(100, ge=1, le=10_000, description="Default page size of listings.")
    max_page_size: int = Field(1000, ge=1, le=10_000)
    title: str = "gridmap"
