"""Bookkeeping for bulk datasets, so re-running a load can tell "already there and unchanged"."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from geo.models.base import Base


class DatasetStamp(Base):
    __tablename__ = "dataset_stamps"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    counts: Mapped[dict] = mapped_column(JSONB, nullable=False, default=dict)
    loaded_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )
