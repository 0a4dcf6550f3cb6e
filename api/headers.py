"""Response headers that protect browsers: nosniff everywhere, frame protection, and a
Content-Security-Policy on every HTML page whose inline scripts are allowed by their SHA-256
hashes (never ``'unsafe-inline'``).

What that stops: markup that reaches the page at run time (``innerHTML`` from a feed or a
legend: an ``onerror=`` handler, a ``javascript:`` link, a ``<script>`` element) never runs.
What it cannot stop by itself is a ``<script>`` element in the served HTML, so for map pages
only the scripts at the places folium's page template puts its own are hashed (its header
and the one block after ``</body>``): an element anywhere else in the body is not allowed.
Everything a page shows is escaped at its source as well (maps.base, the templates).

Hashes, not nonces: a built map page is cached and served to many users, and a hash of its
own scripts stays right for every copy.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence

from starlette.types import Message

_INLINE_SCRIPT = re.compile(r"<script(?P<attrs>\s[^>]*)?>(?P<body>.*?)</script>", re.DOTALL | re.IGNORECASE)


def inline_script_hashes(page: str, *, folium: bool = False) -> list[str]:
    """``'sha256-…'`` sources for the inline ``<script>`` blocks of ``page`` (those without
    src; JSON data blocks do not run and need none). ``folium``: only those where folium's
    page template emits its own, in ``<head>`` and after ``</body>``."""
    head_end, body_end = page.find("</head>"), page.rfind("</body>")
    out = []
    for m in _INLINE_SCRIPT.finditer(page):
        attrs = (m.group("attrs") or "").lower()
        if "src=" in attrs or "application/json" in attrs:
            continue
        if folium and not (m.start() < head_end or m.start() > body_end):
            continue
        digest = base64.b64encode(hashlib.sha256(m.group("body").encode()).digest()).decode()
        out.append(f"'sha256-{digest}'")
    return sorted(set(out))


def page_csp(page: str, *, frame_ancestors: str = "'none'", img_sources: list[str] | None = None,
             folium: bool = False, frames: Sequence[str] = ()) -> str:
    """The Content-Security-Policy for ``page``: scripts from this origin and the page's own
    inline scripts only; styles may be inline (Leaflet positions everything with them).
    ``frames``: folium documents the page shows in ``<iframe srcdoc>``, which inherit this
    policy: their scripts are allowed too."""
    hashes = {*inline_script_hashes(page, folium=folium), *(h for f in frames for h in inline_script_hashes(f, folium=True))}
    scripts = " ".join(["'self'", *sorted(hashes)])
    images = " ".join(["'self'", "data:", "blob:", *(img_sources or [])])
    return (f"default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; img-src {images}; "
            f"font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            f"form-action 'self'; frame-ancestors {frame_ancestors}")


def html_headers(page: str, *, frame_ancestors: str = "'none'", img_sources: list[str] | None = None,
                 folium: bool = False, frames: Sequence[str] = ()) -> dict[str, str]:
    """CSP and frame protection for an HTML page (``frame_ancestors`` other than 'none' only
    for the embed; ``folium`` for pages built by ``maps.base.render``)."""
    headers = {"Content-Security-Policy": page_csp(page, frame_ancestors=frame_ancestors, img_sources=img_sources,
                                                   folium=folium, frames=frames)}
    if frame_ancestors.strip() == "'none'":
        headers["X-Frame-Options"] = "DENY"  # for browsers that predate frame-ancestors
    return headers


FALLBACK_HTML_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                     "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def with_security_headers(message: Message) -> Message:
    """A response start ``message`` with ``X-Content-Type-Options: nosniff`` and
    ``Referrer-Policy`` added, and for an HTML response that set no CSP of its own a strict
    one with frame protection."""
    headers = list(message.get("headers") or [])
    csp = html = referrer = False
    for k, v in headers:
        k = k.lower()
        if k == b"content-security-policy":
            csp = True
        elif k == b"referrer-policy":
            referrer = True
        elif k == b"content-type":
            html = v.startswith(b"text/html")
    headers.append((b"x-content-type-options", b"nosniff"))
    if not referrer:
        headers.append((b"referrer-policy", b"same-origin"))
    if html and not csp:
        headers += [(b"content-security-policy", FALLBACK_HTML_CSP.encode()), (b"x-frame-options", b"DENY")]
    return {**message, "headers": headers}
