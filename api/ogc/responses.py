"""Answers of the /ogc routes: JSON written by orjson (geometry spliced in as stored), ETags,
and the standard's exception shape for errors (``{"code", "description"}``, 400 for a bad
parameter where the rest of the API answers 422)."""

from __future__ import annotations

import hashlib

import orjson
from fastapi import Request
from starlette.responses import Response

# Our error codes -> the OGC API exception codes (OGC API – Common's names).
_CODES = {400: "InvalidParameterValue", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
          405: "MethodNotAllowed", 406: "NotAcceptable", 409: "Conflict", 413: "PayloadTooLarge",
          429: "TooManyRequests", 503: "ServiceUnavailable"}


def ogc_error(status: int, error: dict, headers: dict | None) -> Response:
    """An error of the /ogc routes (``api.errors`` dialect): a bad parameter is a 400."""
    if status == 422:
        status = 400
    body = {"code": _CODES.get(status, "ServerError"), "description": error.get("message", "error")}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def etag_of(*parts: object) -> str:
    return '"' + hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest() + '"'


def not_modified(request: Request, etag: str) -> bool:
    sent = request.headers.get("if-none-match")
    return sent is not None and (sent.strip() == "*" or etag in [t.strip().removeprefix("W/") for t in sent.split(",")])


def answer(request: Request, doc: dict, *, media_type: str, etag: str | None = None, private: bool = False) -> Response:
    """``doc`` as JSON with its ETag (its content's hash when none is given), 304 when the
    client holds it. ``private``: what depends on who asks (reports) is never shared by caches."""
    body = orjson.dumps(doc)
    etag = etag or '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    headers = {"ETag": etag, "Cache-Control": ("private" if private else "public") + ", no-cache"}
    if private:
        headers["Vary"] = "Authorization"
    if not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


def cached(request: Request, etag: str, *, private: bool = False) -> Response | None:
    """A 304 for ``etag`` when the client holds it (before any work), else None."""
    if not not_modified(request, etag):
        return None
    headers = {"ETag": etag, "Cache-Control": ("private" if private else "public") + ", no-cache"}
    return Response(status_code=304, headers=headers)
