"""API tokens: issued to a named holder with one role, stored as a SHA-256 only, revocable.

A token is ``gm_`` + 43 random URL-safe characters (256 bits); a lookup hashes what the
client sent and finds the row by that hash, so neither the stored value nor the lookup's
timing reveals anything about a valid token.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from geo.access.audit import record_audit
from geo.access.roles import TOKEN_ROLES, Principal, Role
from geo.errors import InvalidInput, NotFound, TokenNotFound
from geo.matching.coords import normalise_crs
from geo.models import ApiToken, ServerSecret, Worker
from geo.text import check_text

PREFIX = "gm_"
# The crs a system key may send its positions in (``api_tokens.crs``, read by geo.open311):
# geographic ones only, since Open311's lat/long are degrees.
KEY_CRS = ("wgs84", "cgcs2000", "gcj02", "bd09")
TOKEN_LENGTH = len(PREFIX) + 43  # token_urlsafe(32)


def well_formed(token: str) -> bool:
    """Whether ``token`` could be one of ours at all (checked before any database lookup)."""
    return len(token) == TOKEN_LENGTH and token.startswith(PREFIX) and token[len(PREFIX):].replace(
        "-", "").replace("_", "").isalnum() and token.isascii()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedToken:
    id: int
    token: str  # shown once; only its hash is kept
    role: Role
    name: str


def issue_token(
    session: Session, *, role: Role, name: str, actor: Principal, worker_id: int | None = None,
    system: str | None = None, expires_at: datetime | None = None, crs: str | None = None,
) -> IssuedToken:
    """Issue a token for ``name`` with ``role`` (a worker token names its worker, a system
    key its system, and may name the crs it sends Open311 positions in: one of ``KEY_CRS``,
    default WGS-84) and audit it. Raises InvalidInput or NotFound (no such worker)."""
    if role not in TOKEN_ROLES:
        raise InvalidInput(f"tokens carry one of {', '.join(r.value for r in TOKEN_ROLES)}", field="role")
    check_text(name, field="name")
    if not name.strip():
        raise InvalidInput("must name the person or system holding the token", field="name")
    if (role == Role.worker) != (worker_id is not None):
        raise InvalidInput("a worker token, and only a worker token, names its worker", field="worker")
    if (role == Role.system) != bool(system):
        raise InvalidInput("a system key, and only a system key, names its system", field="system")
    if crs is not None:
        if role != Role.system:
            raise InvalidInput("only a system key names the crs it sends positions in", field="crs")
        crs = normalise_crs(crs)
        if crs not in KEY_CRS:
            raise InvalidInput(f"a key's crs is one of {', '.join(KEY_CRS)} (Open311 positions are degrees)",
                               field="crs")
    if worker_id is not None and session.get(Worker, worker_id) is None:
        raise NotFound(f"no worker {worker_id}", worker_id=worker_id)
    token = PREFIX + secrets.token_urlsafe(32)
    session.execute(pg_insert(ServerSecret).values(name=ISSUED_MARK, value=b"1")
                    .on_conflict_do_nothing(index_elements=[ServerSecret.name]))
    row = ApiToken(token_sha256=token_hash(token), prefix=token[:10], role=role.value, name=name.strip(),
                   worker_id=worker_id, system=system, created_by=actor.holder, expires_at=expires_at,
                   crs=None if crs in (None, "wgs84") else crs)
    session.add(row)
    session.flush()
    record_audit(session, actor=actor, action="token.issue", subject_type="token", subject_id=row.id,
                 detail={"role": role.value, "name": row.name, "worker_id": worker_id, "system": system, "crs": row.crs,
                         "expires_at": expires_at.isoformat() if expires_at else None})
    return IssuedToken(row.id, token, role, row.name)


def revoke_token(session: Session, *, token_id: int, actor: Principal, now: datetime) -> ApiToken:
    """Revoke a token (from now on it authenticates nothing) and audit it. Raises TokenNotFound."""
    row = session.get(ApiToken, token_id, with_for_update=True)
    if row is None:
        raise TokenNotFound(f"no token {token_id}", token_id=token_id)
    if row.revoked_at is None:
        row.revoked_at = now
        record_audit(session, actor=actor, action="token.revoke", subject_type="token", subject_id=row.id,
                     detail={"role": row.role, "name": row.name})
        session.flush()
    return row


def list_tokens(session: Session, *, include_revoked: bool = False) -> list[ApiToken]:
    q = sa.select(ApiToken).order_by(ApiToken.id)
    if not include_revoked:
        q = q.where(ApiToken.revoked_at.is_(None))
    return list(session.scalars(q))


ISSUED_MARK = "tokens_issued"  # a server_secrets row: access control was set up once, for good


def tokens_ever_issued(session: Session) -> bool:
    """Whether a token was ever issued here. Until then (and without a bootstrap token) the
    service runs open: the local demo. Once one was, it stays closed even when every token
    has expired or been revoked: revoking them all in an incident must not open the doors."""
    return session.scalar(sa.select(sa.literal(True)).where(ServerSecret.name == ISSUED_MARK)) is True or \
        session.scalar(sa.select(sa.literal(True)).select_from(ApiToken).limit(1)) is True


def principal_for(session: Session, *, token: str, now: datetime) -> Principal | None:
    """The holder of ``token`` as a Principal, or None when it is unknown, revoked or expired.
    Marks the token used (at most once a minute, so a busy system key costs no write per call)."""
    row = session.scalars(sa.select(ApiToken).where(ApiToken.token_sha256 == token_hash(token))).first()
    if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        session.execute(sa.update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
    role = Role(row.role)
    # A worker on a department's staff also moves the cases their department holds.
    department = session.scalar(sa.select(Worker.department_code).where(Worker.id == row.worker_id)) \
        if row.worker_id is not None else None
    return Principal(role=role, holder=f"{role.value} {row.name}", token_id=row.id, worker_id=row.worker_id,
                     system=row.system, department_code=department)
