"""Open311's errors: the spec's error list instead of the API's envelope, on the Open311
routes only (``Open311Route``), and the OpenAPI document saying so (``document_errors``).

``[{"code": 400, "description": "lat: ..."}]`` as JSON, ``<errors><error><code>400</code>
<description>…</description></error></errors>`` as XML, in the format the path asks for.
Open311 has no 401 and no 422: a missing or refused key is a 403, a bad field a 400. What is
not the request's fault (the database is down) goes to the app's handlers, as everywhere.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import FieldError, domain_error, validation_fields
from api.schemas.open311 import error_response
from geo import errors as ge

# The intake's field names as an Open311 client knows them.
FIELD_NAMES = {"location.lon": "long", "location.lat": "lat", "reporter.name": "first_name/last_name",
               "reporter.phone": "phone", "name": "first_name/last_name", "photos": "media_url"}


def _fmt_of(request: Request) -> str:
    return "xml" if request.url.path.endswith(".xml") else "json"


def _field(name: str) -> str:
    if name.startswith("photos."):
        return "media_url"
    return FIELD_NAMES.get(name, name)


def open311_error(exc: Exception) -> tuple[int, str] | None:
    """(status, description) of an error as these routes answer it, or None for one that
    is not the request's fault (the app's handlers answer those: 5xx never for bad input)."""
    if isinstance(exc, RequestValidationError):
        return 400, "; ".join(f"{_field(f['field'])}: {f['reason']}" for f in validation_fields(exc.errors()))
    if isinstance(exc, ValidationError):
        return 400, "; ".join(f"{_field(f['field'])}: {f['reason']}" for f in validation_fields(exc.errors()))
    if isinstance(exc, FieldError):
        return 400, f"{_field(exc.field)}: {exc.reason}"
    if isinstance(exc, ge.InvalidInput) and "field" in exc.details:
        return 400, f"{_field(exc.details['field'])}: {exc.message}"
    if isinstance(exc, ge.GridmapError):
        status, body = domain_error(exc)
        if status >= 500:
            return None
        # Open311 has no 401 and no 422: a missing key is refused (403), a bad field is a 400.
        return {401: 403, 422: 400}.get(status, status), body["message"]
    if isinstance(exc, StarletteHTTPException) and exc.status_code < 500:
        return (400 if exc.status_code == 422 else exc.status_code), str(exc.detail)
    return None


class Open311Route(APIRoute):
    """A route whose refusals are the spec's error list, in the format its path asks for."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def open311_handler(request: Request):
            try:
                return await handler(request)
            except Exception as exc:  # noqa: BLE001 - mapped below, or re-raised to the app's handlers
                mapped = open311_error(exc)
                if mapped is None:
                    raise
                return error_response(_fmt_of(request), *mapped)

        return open311_handler



OPEN311_ERROR = {"type": "array", "items": {"$ref": "#/components/schemas/Open311Error"}}


def document_errors(doc: dict, *, prefix: str) -> dict:
    """``doc`` with the error answers of the operations under ``prefix`` stated as the spec's
    list (JSON and XML), and without FastAPI's 422, which those operations never answer."""
    for path, ops in doc["paths"].items():
        if not path.startswith(prefix):
            continue
        for op in ops.values():
            op["responses"].pop("422", None)
            for code in ("400", "403", "404", "409"):
                if code in op["responses"]:
                    op["responses"][code]["content"] = {
                        "application/json": {"schema": OPEN311_ERROR},
                        "text/xml": {"example": f"<errors><error><code>{code}</code><description>…"
                                                "</description></error></errors>"}}
    return doc
