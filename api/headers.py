"""Response headers that protect browsers: nosniff everywhere, frame protection, and a
Content-Security-Policy on every HTML page whose inline scripts are allowed by their SHA-256
hashes (never ``'unsafe-inline'``), so a script injected into a page does not run.

Hashes, not nonces: a built map page is cached and served to many users, and a hash of its
own scripts stays right for every copy.
"""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_INLINE_SCRIPT = re.compile(r"<script(?P<attrs>\s[^>]*)?>(?P<body>.*?)</script>", re.DOTALL | re.IGNORECASE)


def inline_script_hashes(page: str) -> list[str]:
    """``'sha256-…'`` sources for every inline ``<script>`` of ``page`` (those without src)."""
    out = []
    for m in _INLINE_SCRIPT.finditer(page):
        if m.group("attrs") and "src=" in m.group("attrs").lower():
            continue
        digest = base64.b64encode(hashlib.sha256(m.group("body").encode()).digest()).decode()
        out.append(f"'sha256-{digest}'")
    return sorted(set(out))


def tile_sources(tiles: str) -> list[str]:
    """Image sources the configured base tiles need (MapSettings.tiles)."""
    if tiles == "none":
        return []
    if tiles == "osm":
        return ["https://*.tile.openstreetmap.org"]
    if tiles == "tianditu":
        return ["https://*.tianditu.gov.cn"]
    parts = urlsplit(tiles.replace("{s}", "a"))
    host = parts.netloc
    if "{s}" in tiles:
        host = urlsplit(tiles).netloc.replace("{s}", "*")
    return [f"{parts.scheme}://{host}"] if parts.scheme and host else []


def page_csp(page: str, *, frame_ancestors: str = "'none'", img_sources: list[str] | None = None) -> str:
    """The Content-Security-Policy for ``page``: scripts from this origin and the page's own
    inline scripts only; styles may be inline (Leaflet positions everything with them)."""
    scripts = " ".join(["'self'", *inline_script_hashes(page)])
    images = " ".join(["'self'", "data:", "blob:", *(img_sources or [])])
    return (f"default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; img-src {images}; "
            f"font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            f"form-action 'self'; frame-ancestors {frame_ancestors}")


def html_headers(page: str, *, frame_ancestors: str = "'none'", img_sources: list[str] | None = None) -> dict[str, str]:
    """CSP and frame protection for an HTML page (``frame_ancestors`` other than 'none' only
    for the embed)."""
    headers = {"Content-Security-Policy": page_csp(page, frame_ancestors=frame_ancestors, img_sources=img_sources)}
    if frame_ancestors.strip() == "'none'":
        headers["X-Frame-Options"] = "DENY"  # for browsers that predate frame-ancestors
    return headers


FALLBACK_HTML_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                     "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


class SecurityHeaders:
    """Adds ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy`` to every response, and
    to an HTML response that set no CSP of its own a strict one with frame protection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                names = {k.lower() for k, _ in headers}
                headers.append((b"x-content-type-options", b"nosniff"))
                if b"referrer-policy" not in names:
                    headers.append((b"referrer-policy", b"same-origin"))
                html = any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in headers)
                if html and b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", FALLBACK_HTML_CSP.encode()))
                    headers.append((b"x-frame-options", b"DENY"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
