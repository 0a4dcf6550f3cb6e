"""Who is asking: every request's token resolved to a ``Principal`` once, by an ASGI
middleware, before routing (the rate limiter and the plain intake endpoint need it too).

- ``Authorization: Bearer <token>``: a named token from ``gridmap tokens issue`` (looked up
  by its hash, cached for ``token_cache_s``), or a bootstrap token from
  ``GRIDMAP_STAFF_TOKENS`` (role admin). An unknown, revoked or expired token is a 401, never
  silently the public: a client with a wrong token must find out.
- The ``gridmap_staff`` cookie that ``/maps/login`` sets (browsers cannot send a header to a
  page); it is SameSite=Strict, so no other site's request carries it.
- Neither: the public. With no token configured anywhere, the service runs open (the local
  demo): see ``geo.access.roles``.

The reporter's case token (``X-Case-Token``) is checked per case by ``api.security``.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from geo.access.roles import PUBLIC, Principal, Role
from geo.access.tokens import principal_for, token_hash, tokens_ever_issued, well_formed

log = logging.getLogger("gridmap.auth")

STAFF_COOKIE = "gridmap_staff"
SIGN_IN_HOURS = 12  # how long a browser sign-in (the staff cookie) lasts
OPEN = Principal(Role.public, open=True)


class Authenticator:
    """Resolves tokens to principals, with a small TTL cache (revocation takes effect within
    ``cache_s`` seconds in every process)."""

    def __init__(self, sessionmaker, *, bootstrap_tokens: frozenset[str], cache_s: float = 10.0,
                 max_entries: int = 10_000) -> None:
        self._sessionmaker = sessionmaker
        self._bootstrap = tuple(sorted(bootstrap_tokens))
        self._cache_s = cache_s
        self._max = max_entries
        self._cache: OrderedDict[str, tuple[float, Principal | None]] = OrderedDict()
        self._lock = threading.Lock()
        self._open_checked = -1e9
        self._open = not self._bootstrap

    def _bootstrap_principal(self, token: str) -> Principal | None:
        for i, known in enumerate(self._bootstrap, 1):
            if hmac.compare_digest(token.encode(), known.encode()):
                return Principal(Role.admin, holder=f"admin bootstrap token {i} (GRIDMAP_STAFF_TOKENS)")
        return None

    def _lookup(self, token: str) -> Principal | None:
        with self._sessionmaker() as session:
            principal = principal_for(session, token=token, now=datetime.now(UTC))
            session.commit()
            return principal

    def cached(self, token: str) -> tuple[bool, Principal | None]:
        key = token_hash(token)
        with self._lock:
            item = self._cache.get(key)
            if item is not None and item[0] > time.monotonic():
                return True, item[1]
        return False, None

    def remember(self, token: str, principal: Principal | None) -> None:
        with self._lock:
            self._cache[token_hash(token)] = (time.monotonic() + self._cache_s, principal)
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)

    def needs_lookup(self, token: str | None) -> bool:
        """Whether resolving ``token`` would query the database (a well-formed token not in
        the cache): the gate charges the caller's address for it first."""
        return (token is not None and well_formed(token) and self._bootstrap_principal(token) is None
                and not self.cached(token)[0])

    async def principal(self, token: str | None) -> Principal | None:
        """The principal of ``token`` (None: the token is not valid); no token: public/open."""
        if token is None:
            return OPEN if await self.is_open() else PUBLIC
        if (p := self._bootstrap_principal(token)) is not None:
            return p
        if not well_formed(token):  # not one of ours: no lookup, so random tokens cost nothing
            return None
        hit, p = self.cached(token)
        if not hit:
            p = await run_in_threadpool(self._lookup, token)
            self.remember(token, p)
        return p

    async def is_open(self) -> bool:
        """No bootstrap token and no token ever issued: the open local demo (re-checked every
        ``cache_s`` seconds, so issuing the first token closes it, for good)."""
        if self._bootstrap:
            return False
        if time.monotonic() - self._open_checked > self._cache_s:
            self._open = not await run_in_threadpool(self._any_token)
            self._open_checked = time.monotonic()
        return self._open

    def _any_token(self) -> bool:
        try:
            with self._sessionmaker() as session:
                return tokens_ever_issued(session)
        except Exception:  # noqa: BLE001 - the database is down: fail closed, never open
            log.warning("cannot check for tokens; treating the service as closed", exc_info=True)
            return True


def bearer_token(scope: Scope) -> tuple[str | None, bool]:
    """The token a request carries and whether it came from the staff cookie (else from
    Authorization: Bearer, which wins)."""
    cookie = None
    for name, value in scope.get("headers") or ():
        if name == b"authorization":
            scheme, _, cred = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and cred.strip():
                return cred.strip(), False
        elif name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, val = part.strip().partition("=")
                if key == STAFF_COOKIE and val:
                    cookie = val
    return cookie, cookie is not None


async def resolve(auth: Authenticator, scope: Scope, *, before_lookup=None) -> Principal | None:
    """The principal of a request, or None when its Authorization token is not valid (a
    stale staff cookie only makes it the public). ``before_lookup()`` runs when the token has
    to be looked up in the database; it may raise to stop that."""
    token, from_cookie = bearer_token(scope)
    if before_lookup is not None and auth.needs_lookup(token):
        before_lookup()
    principal = await auth.principal(token)
    if principal is None and from_cookie:  # a stale sign-in: the page shows as to anyone
        principal = await auth.principal(None)
    return principal


def keep_signed_in(response, *, token: str, https: bool):
    """``response`` with the staff cookie holding ``token``: HttpOnly (no script reads it),
    SameSite=Strict (no other site's request carries it), Secure over https, for
    SIGN_IN_HOURS. The one sign-in rule of /maps/login and /worker/login."""
    response.set_cookie(STAFF_COOKIE, token, httponly=True, samesite="strict", secure=https,
                        max_age=SIGN_IN_HOURS * 3600)
    return response
