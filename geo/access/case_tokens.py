"""Case tokens: the reporter's key to their own case ("reporter" role).

Intake answers each new report with ``HMAC-SHA256(server secret, report id)``, shortened to
32 URL-safe characters (192 bits). Nothing per case is stored: the token is checked by
recomputing it, in constant time. The secret is ``GRIDMAP_SECRET_KEY`` when set, else one
made at random on first use and kept in ``server_secrets``, shared by every process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from geo.models import ServerSecret

CASE_SECRET = "case_tokens"


def load_secret(session: Session, *, configured: str | None = None) -> bytes:
    """The case-token secret: ``configured`` (GRIDMAP_SECRET_KEY) or the stored one, made
    on first use. Commits nothing when it already exists; the caller commits a new one."""
    if configured:
        return hashlib.sha256(configured.encode()).digest()
    session.execute(pg_insert(ServerSecret).values(name=CASE_SECRET, value=secrets.token_bytes(32))
                    .on_conflict_do_nothing(index_elements=[ServerSecret.name]))
    return session.scalar(sa.select(ServerSecret.value).where(ServerSecret.name == CASE_SECRET))


def case_token(secret: bytes, report_id: uuid.UUID) -> str:
    """The token of one case."""
    mac = hmac.new(secret, b"case:" + report_id.bytes, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode()


def check_case_token(secret: bytes, report_id: uuid.UUID, token: str | None) -> bool:
    """Whether ``token`` opens case ``report_id`` (constant time)."""
    return token is not None and hmac.compare_digest(case_token(secret, report_id).encode(), token.encode("utf-8", "replace"))
