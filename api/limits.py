"""Request body limits: size (413, enforced while streaming so a huge body is never buffered)
and media type (415: the API's writes take JSON, photo uploads multipart, so a cross-site
"simple" form POST cannot file a report or move a case)."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(Exception):
    pass


def _json_type(ctype: bytes) -> bool:
    main = ctype.split(b";", 1)[0].strip().lower()
    return main == b"application/json" or (main.startswith(b"application/") and main.endswith(b"+json"))


def _multipart_type(ctype: bytes) -> bool:
    return ctype.split(b";", 1)[0].strip().lower() == b"multipart/form-data"


class BodySizeLimit:
    """Reject bodies over ``default`` bytes (``batch`` for paths ending in /batch, ``photo``
    for photo uploads) with 413, and API writes in any other media type with 415."""

    def __init__(self, app: ASGIApp, *, default: int, batch: int, photo: int) -> None:
        self.app, self.default, self.batch, self.photo = app, default, batch, photo

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        photo = path.endswith("/photos")
        limit = self.batch if path.endswith("/batch") else self.photo if photo else self.default
        headers = dict(scope.get("headers") or [])
        if path.startswith("/api/v1/"):
            ctype = headers.get(b"content-type", b"")
            if not (_multipart_type(ctype) if photo else _json_type(ctype)):
                await reject(send, 415, "unsupported_media_type",
                              "send multipart/form-data with a `photo` part" if photo
                              else "send the body as JSON with Content-Type: application/json")
                return
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await reject(send, 413, "payload_too_large", f"request body over {limit} bytes")
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await reject(send, 413, "payload_too_large", f"request body over {limit} bytes")


async def reject(send: Send, status: int, code: str, message: str, headers: tuple = ()) -> None:
    """Answer with the API's error envelope, before the app saw the request."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            *headers]})
    await send({"type": "http.response.body", "body": body})
