"""Request body limits: size (413, enforced while streaming so a huge body is never buffered)
and media type (415: the API's writes take JSON, photo uploads multipart, so a cross-site
"simple" form POST cannot file a report or move a case). Applied by ``api.gate``."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import Message, Receive, Scope, Send

from api.errors import error_body


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` past the limit: an HTTPException, so that a route reading its
    body (FastAPI's parser included) answers 413 rather than "could not parse the body"."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over {limit} bytes")


def _main_type(ctype: bytes) -> bytes:
    return ctype.split(b";", 1)[0].strip().lower()


def _json_type(ctype: bytes) -> bool:
    main = _main_type(ctype)
    return main == b"application/json" or (main.startswith(b"application/") and main.endswith(b"+json"))


def _multipart_type(ctype: bytes) -> bool:
    return _main_type(ctype) == b"multipart/form-data"


class BodyRules:
    """Largest bodies: ``default`` bytes, ``batch`` for paths ending in /batch, ``photo`` for
    photo uploads, ``upload`` for a planner's boundary or assignment file (multipart)."""

    def __init__(self, *, default: int, batch: int, photo: int, upload: int = 100_000_000) -> None:
        self.default, self.batch, self.photo, self.upload = default, batch, photo, upload

    def check(self, scope: Scope) -> tuple[int, str, str] | int | None:
        """None for a request without a body to check; else a refusal (status, code,
        message), or the byte limit its body must keep to while it streams."""
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):  # DELETE: no body is read
            return None
        path = scope["path"]
        upload = scope["method"] == "POST" and (path == "/api/v1/generations" or path.endswith("/assignments"))
        photo = path.endswith("/photos")
        limit = (self.batch if path.endswith("/batch") else self.photo if photo else self.upload if upload
                 else self.default)
        ctype = declared = None
        for name, value in scope.get("headers") or ():
            if name == b"content-type":
                ctype = value
            elif name == b"content-length":
                declared = value
        multipart = photo or upload
        if path.startswith("/api/v1/") and not (_multipart_type(ctype or b"") if multipart else _json_type(ctype or b"")):
            return 415, "unsupported_media_type", (
                "send multipart/form-data with a `photo` part" if photo else
                "send multipart/form-data with a `file` part" if upload else
                "send the body as JSON with Content-Type: application/json")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return 413, "payload_too_large", f"request body over {limit} bytes"
        return limit


def limited(receive: Receive, limit: int) -> Receive:
    """``receive``, raising BodyTooLarge once more than ``limit`` bytes have arrived."""
    seen = 0

    async def limited_receive() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    return limited_receive


async def reject(send: Send, status: int, code: str, message: str, headers: tuple = ()) -> None:
    """Answer with the API's error envelope, before the app saw the request."""
    body = json.dumps(error_body(code, message)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})
