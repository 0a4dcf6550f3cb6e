"""The one middleware every request passes before routing, in this order:

1. who is asking (``api.auth``): a token that is not valid is a 401;
2. their budget (``api.ratelimit``): 429 with Retry-After once spent;
3. the body (``api.limits``): 415 for the wrong media type, 413 when too large;

and on the way out, the headers every response carries (``api.headers``). One layer rather
than four: each ASGI layer costs a coroutine per request on the intake path.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import Authenticator, resolve
from api.headers import with_security_headers
from api.limits import BodyRules, BodyTooLarge, limited, reject
from api.ratelimit import RateLimiter
from geo.access.roles import PUBLIC


class _OverBudget(Exception):
    def __init__(self, retry: float) -> None:
        self.retry = retry


async def _too_many(send: Send, retry: float) -> None:
    await reject(send, 429, "rate_limited", f"too many requests from this client; try again in {int(retry)} s",
                 headers=((b"retry-after", str(int(retry)).encode()),))


class Gate:
    def __init__(self, app: ASGIApp, *, authenticator: Authenticator, limiter: RateLimiter, bodies: BodyRules) -> None:
        self.app, self.auth, self.limiter, self.bodies = app, authenticator, limiter, bodies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = with_security_headers(message)
            await send(message)

        def charge_address() -> None:  # a token lookup costs the address, so guessing is not free
            if (retry := self.limiter.admit(scope, PUBLIC)) is not None:
                raise _OverBudget(retry)

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
            await self.app(scope, receive if body is None else limited(receive, body), guarded_send)
        except BodyTooLarge:  # a route that let it escape (routes normally answer it themselves)
            if not started:
                await reject(guarded_send, 413, "payload_too_large", f"request body over {body} bytes")
