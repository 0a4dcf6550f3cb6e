"""Staff access. Tokens come from ``GRIDMAP_STAFF_TOKENS`` (comma-separated).

Personal data (reporter name and phone, workers' phones, exact locations of sensitive cases)
is returned only to a request bearing a valid staff token. Workflow endpoints require a token
once tokens are configured; with none configured (a local demo) they are open, but personal
data is still never returned.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.settings import ApiSettings
from geo.errors import Unauthorized

_bearer = HTTPBearer(auto_error=False, description="Staff token (GRIDMAP_STAFF_TOKENS).")


def valid_token(settings: ApiSettings, token: str | None) -> bool:
    return token is not None and any(hmac.compare_digest(token, t) for t in settings.staff_token_set)


async def is_staff(
    request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> bool:
    """True when the request carries a valid staff token."""
    return valid_token(request.app.state.api_settings, creds.credentials if creds else None)


async def require_staff(
    request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> bool:
    """Guard for workflow endpoints; open only when no tokens are configured at all."""
    settings: ApiSettings = request.app.state.api_settings
    if not settings.staff_token_set:
        return False
    if not valid_token(settings, creds.credentials if creds else None):
        raise Unauthorized("a valid staff token is required: send Authorization: Bearer <token>")
    return True


STAFF_COOKIE = "gridmap_staff"


async def require_staff_page(
    request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """Guard for the internal map pages and their feeds: a staff token in the Authorization
    header or in the cookie ``/maps/login`` sets (a browser cannot send a header). Open only
    when no tokens are configured."""
    settings: ApiSettings = request.app.state.api_settings
    if not settings.staff_token_set:
        return
    token = creds.credentials if creds else request.cookies.get(STAFF_COOKIE)
    if not valid_token(settings, token):
        raise Unauthorized("staff only: sign in at /maps/login")


StaffFlag = Annotated[bool, Depends(is_staff)]
RequireStaff = Annotated[bool, Depends(require_staff)]
