"""HTTP service settings (``GRIDMAP_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDMAP_", env_file=".env", extra="ignore")

    host: str = Field("127.0.0.1", description="Interface `gridmap serve` binds to.")
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes.")
    # uvicorn's own 5 s killed workers that were merely starved of CPU (their start-up imports
    # on a busy two-core machine), over and over, so a second worker never came up.
    worker_healthcheck_s: int = Field(60, ge=1, le=3600, description=(
        "How long `gridmap serve` waits for a worker process to answer its liveness check before killing it."))
    page_size: int = Field(100, ge=1, le=10_000, description="Default page size of listings.")
    max_page_size: int = Field(1000, ge=1, le=10_000)
    title: str = "gridmap"
    staff_tokens: str = Field("", description=(
        "Comma-separated bootstrap tokens with the admin role (named tokens: `gridmap tokens issue`)."))
    secret_key: str | None = Field(None, description=(
        "Key case tokens are derived from; default: a random key made once and kept in the database."))
    token_cache_s: float = Field(10.0, ge=0, le=300, description="How long a token lookup is reused (revocation delay).")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="Largest request body (413 above).")
    max_batch_body_bytes: int = Field(32_000_000, ge=1024, description="Largest body of a batch request.")
    media_dir: Path = Field(Path("media"), description="Where report photos are stored (metadata stripped).")
    max_photo_bytes: int = Field(10_000_000, ge=1024, description="Largest photo upload.")
    max_upload_bytes: int = Field(100_000_000, ge=1024, description="Largest boundary or assignment file upload.")
    intake_batching: bool = Field(
        True, description="Register concurrent single reports together (one commit per pass)."
    )
    escalation_interval_s: float = Field(
        60.0, ge=0, description="How often overdue cases are escalated in the background (0: never)."
    )
    metrics_token: str | None = Field(None, description=(
        "Bearer token a Prometheus scraper sends to read /metrics (admin tokens read it too)."))
    metrics_cache_s: float = Field(5.0, ge=0, le=300, description=(
        "How long /metrics reuses its database figures (overdue and webhook backlogs)."))
    log_format: Literal["text", "json"] = Field("text", description=(
        "`gridmap serve` logs: text lines, or one JSON object per line; both carry the request id."))

    @property
    def staff_token_set(self) -> frozenset[str]:
        return frozenset(t.strip() for t in self.staff_tokens.split(",") if t.strip())
