"""Duty rosters: each worker's weekly shifts and dated exceptions (leave, extra duty).

Shift times are minutes since local midnight in the city's time zone (``CityConfig.timezone``):
``start_min`` 0–1439, ``end_min`` 1–1440 (1440 = 24:00). A shift whose end is before its start
runs overnight into the next day (22:00–06:00 is weekday 1, 1320–360: Monday night to Tuesday
morning). Exceptions are absolute instants (timestamptz). The rule that turns these into
"on duty at a moment" is ``geo.rosters.rules``; nothing else decides duty.
"""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from geo.models.base import Base, str_enum


class ExceptionKind(str, enum.Enum):
    leave = "leave"  # off duty for the range, optionally covered by a named colleague
    duty = "duty"  # extra (or cover) duty outside the weekly shifts


class RosterShift(Base):
    """One weekly shift of a worker: ISO weekday (1 Monday … 7 Sunday) and local minutes."""

    __tablename__ = "roster_shifts"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    worker_id: Mapped[int] = mapped_column(sa.ForeignKey("workers.id", ondelete="CASCADE"), nullable=False)
    weekday: Mapped[int] = mapped_column(sa.SmallInteger, nullable=False)
    start_min: Mapped[int] = mapped_column(sa.SmallInteger, nullable=False)
    end_min: Mapped[int] = mapped_column(sa.SmallInteger, nullable=False)

    __table_args__ = (
        # Covering the rule's per-worker probe (index-only once vacuumed).
        sa.Index("ix_roster_shifts_worker_id", "worker_id", "weekday", "start_min", "end_min"),
        sa.CheckConstraint("weekday BETWEEN 1 AND 7", name="weekday_iso"),
        sa.CheckConstraint("start_min BETWEEN 0 AND 1439", name="start_in_day"),
        sa.CheckConstraint("end_min BETWEEN 1 AND 1440", name="end_in_day"),
        sa.CheckConstraint("start_min <> end_min", name="not_empty"),
    )


class RosterException(Base):
    """A dated exception to a worker's week: ``leave`` (off duty; ``cover_worker_id`` takes the
    worker's new cases meanwhile and counts as on duty) or ``duty`` (on duty)."""

    __tablename__ = "roster_exceptions"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    worker_id: Mapped[int] = mapped_column(sa.ForeignKey("workers.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[ExceptionKind] = mapped_column(str_enum(ExceptionKind, "roster_exception_kind"), nullable=False)
    starts_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    ends_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False)
    cover_worker_id: Mapped[int | None] = mapped_column(sa.ForeignKey("workers.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False,
                                                 server_default=sa.func.now())

    __table_args__ = (
        sa.Index("ix_roster_exceptions_worker_id", "worker_id", "ends_at"),
        sa.Index("ix_roster_exceptions_cover_worker_id", "cover_worker_id", "ends_at",
                 postgresql_where=sa.text("cover_worker_id IS NOT NULL")),
        sa.CheckConstraint("ends_at > starts_at", name="ordered"),
        sa.CheckConstraint("cover_worker_id IS NULL OR (kind = 'leave' AND cover_worker_id <> worker_id)",
                           name="cover_of_leave"),
    )
