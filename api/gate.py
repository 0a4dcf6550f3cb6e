"""The one middleware every request passes before routing, in this order:

1. who is asking (``api.auth``): a token that is not valid is a 401;
2. their budget (``api.ratelimit``): 429 with Retry-After once spent;
3. the body (``api.limits``): 415 for the wrong media type, 413 when too large;

and on the way out, the headers every response carries (``api.headers``) with the request id
(``api.logs``), and the request's time by route template and status (``api.metrics``). One
layer rather than six: each ASGI layer costs a coroutine per request on the intake path.

The scrape token (``GRIDMAP_METRICS_TOKEN``) is recognised here, on ``/metrics`` only: any
other path takes it for an unknown token (401).
"""

from __future__ import annotations

import hmac
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import Authenticator, bearer_token, resolve
from api.headers import with_security_headers
from api.limits import BodyRules, BodyTooLarge, limited, reject
from api.logs import HEADER, REQUEST_ID, request_id_of
from api.metrics import SCRAPE_FLAG, Metrics, plain_routes, route_template
from api.ratelimit import RateLimiter
from geo.access.roles import PUBLIC, Principal, Role

# Who the scrape token is: the public, allowed /metrics only (api.routes.metrics).
SCRAPER = Principal(Role.public, holder="metrics scraper (GRIDMAP_METRICS_TOKEN)")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class _OverBudget(Exception):
    def __init__(self, retry: float) -> None:
        self.retry = retry


async def _too_many(send: Send, retry: float) -> None:
    await reject(send, 429, "rate_limited", f"too many requests from this client; try again in {int(retry)} s",
                 headers=((b"retry-after", str(int(retry)).encode()),))


class Gate:
    def __init__(self, app: ASGIApp, *, authenticator: Authenticator, limiter: RateLimiter, bodies: BodyRules,
                 metrics: Metrics | None = None, scrape_token: str | None = None) -> None:
        self.app, self.auth, self.limiter, self.bodies = app, authenticator, limiter, bodies
        self.metrics, self.scrape_token = metrics, scrape_token
        self._top_level: list | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id_of(scope.get("headers"))
        rid_header = (HEADER, rid.encode())
        context = REQUEST_ID.set(rid)
        began = time.perf_counter()
        status = 500  # what the client gets when an error escapes (the server's 500)

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = with_security_headers(message)
                message["headers"].append(rid_header)
            await send(message)

        try:
            await self._pass(scope, receive, answer)
        except BaseException:
            # The id stays set: the error is logged (and answered, 500) by the layer above us,
            # and that line should carry it too (the request's task ends right after).
            self._observe(scope, status, began)
            raise
        REQUEST_ID.reset(context)
        self._observe(scope, status, began)

    def _observe(self, scope: Scope, status: int, began: float) -> None:
        if self.metrics is None:
            return
        method = scope["method"] if scope["method"] in _METHODS else "other"
        if self._top_level is None:  # the app's routes are all there by the first request
            self._top_level = plain_routes(scope.get("app"))
        route = route_template(scope, top_level=self._top_level)
        self.metrics.http.labels(method, route, str(status)).observe(time.perf_counter() - began)

    def _is_scrape(self, scope: Scope) -> bool:
        """The scrape token on /metrics (compared in constant time)."""
        if self.scrape_token is None or scope["path"] != "/metrics":
            return False
        token, from_cookie = bearer_token(scope)
        return token is not None and not from_cookie and hmac.compare_digest(token.encode(), self.scrape_token.encode())

    async def _pass(self, scope: Scope, receive: Receive, guarded_send: Send) -> None:
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await guarded_send(message)

        def charge_address() -> None:  # a token lookup costs the address, so guessing is not free
            if (retry := self.limiter.admit(scope, PUBLIC)) is not None:
                raise _OverBudget(retry)

        if self._is_scrape(scope):
            principal = SCRAPER
            scope.setdefault("state", {})[SCRAPE_FLAG] = True
        else:
            try:
                principal = await resolve(self.auth, scope, before_lookup=charge_address)
                if principal is None:
                    charge_address()
            except _OverBudget as over:
                await _too_many(guarded_send, over.retry)
                return
        if principal is None:
            await reject(guarded_send, 401, "unauthorized", "this token is not valid (unknown, revoked or expired); "
                         "ask an administrator for a new one, or send no token for public access",
                         headers=((b"www-authenticate", b"Bearer"),))
            return
        scope.setdefault("state", {})["principal"] = principal
        retry = self.limiter.admit(scope, principal)
        if retry is not None:
            await _too_many(guarded_send, retry)
            return
        body = self.bodies.check(scope)
        if isinstance(body, tuple):
            await reject(guarded_send, *body)
            return
        try:
            await self.app(scope, receive if body is None else limited(receive, body), tracked_send)
        except BodyTooLarge:  # a route that let it escape (routes normally answer it themselves)
            if not started:
                await reject(guarded_send, 413, "payload_too_large", f"request body over {body} bytes")
