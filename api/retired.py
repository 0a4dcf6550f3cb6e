"""Signs outlive boundaries: the public page and the report link of a retired grid (printed
as a QR code on a wall) lead to the grid(s) that succeeded it (``geo.boundaries.history``)."""

from __future__ import annotations

import html

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from api.headers import html_headers
from geo.boundaries.history import successor_codes


def to_successor(request: Request, session: Session, *, code: str, route: str, param: str | None = None,
                 **path_params: str) -> Response | None:
    """For a retired ``code``: a 302 to ``route`` for its one successor (not permanent: a
    revert may bring the code back), or a page linking
    each of several; None when the code is current or unknown (the caller's 404 stands).
    ``param``: the successor goes in this query parameter instead of the path."""
    codes = successor_codes(session, code=code)
    if not codes:
        return None

    def url(c: str) -> str:
        if param is None:
            return request.url_for(route, code=c, **path_params).path
        return f"{request.url_for(route, **path_params).path}?{param}={c}"

    if len(codes) == 1:
        return RedirectResponse(url(codes[0]), status_code=302)
    items = "".join(f'<li><a href="{html.escape(url(c))}">{html.escape(c)}</a></li>' for c in codes)
    page = (f'<!doctype html><meta charset="utf-8"><title>{html.escape(code)}</title>'
            f'<main style="font:16px sans-serif;margin:2em auto;max-width:30em"><p>网格 {html.escape(code)} '
            f"已调整为以下网格 (grid {html.escape(code)} was redrawn into):</p><ul>{items}</ul></main>")
    return HTMLResponse(page, status_code=300, headers=html_headers(page))
