"""Who may do what: named API tokens (stored hashed), the audit of staff actions, the
server's own secret (case tokens are derived from it) and the shared rate-limit counters."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from geo.models.base import Base


class ApiToken(Base):
    """A bearer token issued to one holder. Only its SHA-256 is stored: the token itself is
    shown once, when issued. Every token names its holder, because the audit records who."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    token_sha256: Mapped[str] = mapped_column(sa.String(64), nullable=False, unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(16), nullable=False)  # shown in listings to tell tokens apart
    role: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    name: Mapped[str] = mapped_column(sa.Text, nullable=False)  # the person or system holding it
    worker_id: Mapped[int | None] = mapped_column(sa.ForeignKey("workers.id", ondelete="CASCADE"))
    system: Mapped[str | None] = mapped_column(sa.String(64))  # a system key's system, e.g. "hotline-12345"
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
    created_by: Mapped[str] = mapped_column(sa.Text, nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # The crs a system key sends Open311 positions in (geo.open311): NULL is WGS-84, the spec's.
    crs: Mapped[str | None] = mapped_column(sa.String(16))

    __table_args__ = (
        sa.CheckConstraint("role IN ('worker', 'dispatcher', 'planner', 'admin', 'system')", name="role_known"),
        sa.CheckConstraint("(role = 'worker') = (worker_id IS NOT NULL)", name="worker_token_names_worker"),
        sa.CheckConstraint("(role = 'system') = (system IS NOT NULL)", name="system_token_names_system"),
        sa.CheckConstraint("crs IS NULL OR crs IN ('wgs84', 'cgcs2000', 'gcj02', 'bd09')", name="crs_geographic"),
    )


class AuditEvent(Base):
    """One staff action: who (role and holder), what, on what, when. Append-only (a trigger
    refuses UPDATE and DELETE, as on the case trail)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
    role: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    holder: Mapped[str] = mapped_column(sa.Text, nullable=False)
    token_id: Mapped[int | None] = mapped_column(sa.BigInteger)  # no foreign key: the audit outlives tokens
    action: Mapped[str] = mapped_column(sa.String(48), nullable=False)
    subject_type: Mapped[str | None] = mapped_column(sa.String(32))
    subject_id: Mapped[str | None] = mapped_column(sa.Text)
    detail: Mapped[dict] = mapped_column(JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"), default=dict)

    __table_args__ = (sa.Index("ix_audit_events_at", "at"), sa.Index("ix_audit_events_subject", "subject_type", "subject_id"))


class ServerSecret(Base):
    """Keys the server derives things from (case tokens). Made once, shared by every process."""

    __tablename__ = "server_secrets"

    name: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    value: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


class RateCounter(Base):
    """Requests (weighted by cost) per client key and fixed window, summed across server
    processes. UNLOGGED: counters need no crash safety, and skip the WAL."""

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    window_start: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)  # epoch seconds
    used: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)

    __table_args__ = ({"prefixes": ["UNLOGGED"]},)
