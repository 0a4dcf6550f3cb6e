"""The one place where errors become HTTP responses.

Bodies look like ``{"error": {"code", "message", ...details}}``; validation errors list each
field with the reason. Internal error text and SQL never reach the client.

A standard spoken under its own prefix (OGC API Features under /ogc) answers errors in that
standard's own shape: it registers a *dialect* for its prefix (``add_error_dialect``), which
turns the same (status, error object) into its body. The mapping stays here, once.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from collections.abc import Callable

from fastapi.responses import JSONResponse
from starlette.responses import Response
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.logs import REQUEST_ID

from geo import errors as ge
from geo.reports.outcomes import Outcome

log = logging.getLogger("gridmap.api")

STATUS_BY_ERROR: list[tuple[type[ge.GridmapError], int]] = [
    (ge.Unauthorized, 401),
    (ge.Forbidden, 403),
    (ge.NotFound, 404),
    (ge.InvalidInput, 422),
    (ge.InvalidState, 409),
    (ge.NoActiveGeneration, 503),
    (ge.StoreFailed, 500),
    (ge.Busy, 503),
]


# What each intake outcome is in HTTP: a single POST answers with it, a batch item states it.
OUTCOME_STATUS: dict[Outcome, int] = {
    Outcome.created: 201, Outcome.replayed: 200, Outcome.conflict: 409, Outcome.invalid: 422,
    Outcome.not_stored: 500,
}


class FieldError(Exception):
    """A request field that parsed but makes no sense (raised by routes, answered with 422)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def error_body(code: str, message: str, **extra: object) -> dict:
    return {"error": {"code": code, "message": message, **extra}}


def _field_name(loc: tuple) -> str:
    # ("query", "lon") -> "lon"; ("body", "location", "lat") -> "location.lat"
    parts = [str(p) for p in loc if p not in ("query", "path", "body", "header")]
    return ".".join(parts) or "request"


def _reason(e: dict) -> str:
    # A rule of ours (geo.text, geo.instants) raised ValueError: its own words, without
    # pydantic's "Value error, " prefix.
    if e.get("type") == "value_error" and "error" in (e.get("ctx") or {}):
        return str(e["ctx"]["error"])
    return e.get("msg", "invalid")


def validation_fields(errors) -> list[dict]:
    """pydantic errors as [{field, reason}] with dotted field names."""
    return [{"field": _field_name(tuple(e.get("loc", ()))), "reason": _reason(e)} for e in errors]


def invalid_fields(fields: list[dict]) -> dict:
    """The "error" object of a 422 for these [{field, reason}]."""
    return {"code": "invalid_request", "message": "; ".join(f"{f['field']}: {f['reason']}" for f in fields),
            "fields": fields}


def domain_error(exc: ge.GridmapError) -> tuple[int, dict]:
    """(HTTP status, "error" object) for a domain error: the one mapping, for responses and
    for the items of a batch. A rule naming its field is a 422 like any invalid field."""
    if isinstance(exc, ge.InvalidInput) and "field" in exc.details:
        # A file's problems (a planner's upload) are listed one by one, each naming its feature.
        reasons = exc.details.get("problems") or [exc.message]
        return 422, {**invalid_fields([{"field": exc.details["field"], "reason": r} for r in reasons[:200]]),
                     **({"problems": reasons[:200]} if "problems" in exc.details else {})}
    status = next((s for cls, s in STATUS_BY_ERROR if isinstance(exc, cls)), 400)
    return status, {"code": exc.code, "message": exc.message, **exc.details}


# A dialect renders (status, error object, headers) as a response in a standard's own shape.
ErrorDialect = Callable[[int, dict, dict | None], Response]


def add_error_dialect(app: FastAPI, prefix: str, dialect: ErrorDialect) -> None:
    """Answer errors of requests under ``prefix`` through ``dialect`` instead of the envelope."""
    app.state.error_dialects = [*getattr(app.state, "error_dialects", []), (prefix, dialect)]


def _respond(request: Request, status: int, error: dict, headers: dict | None = None) -> Response:
    path = request.url.path
    for prefix, dialect in getattr(request.app.state, "error_dialects", ()):
        if path == prefix or path.startswith(prefix + "/"):
            return dialect(status, error, headers)
    return JSONResponse({"error": error}, status_code=status, headers=headers)


async def _validation(request: Request, exc: RequestValidationError) -> Response:
    return _respond(request, 422, invalid_fields(validation_fields(exc.errors())))


async def _field_error(request: Request, exc: FieldError) -> Response:
    fields = [{"field": exc.field, "reason": exc.reason}]
    return _respond(request, 422, error_body("invalid_request", f"{exc.field}: {exc.reason}", fields=fields)["error"])


async def _domain(request: Request, exc: ge.GridmapError) -> Response:
    status, error = domain_error(exc)
    headers = {"Retry-After": "30"} if isinstance(exc, ge.Busy) else None
    return _respond(request, status, error, headers)


async def _http(request: Request, exc: StarletteHTTPException) -> Response:
    if exc.status_code == 400:  # FastAPI could not parse the body (not JSON, not UTF-8): one rule for bad input
        fields = [{"field": "body", "reason": "could not be parsed: send UTF-8 JSON (or multipart for photos)"}]
        return _respond(request, 422, error_body("invalid_request", "body: could not be parsed", fields=fields)["error"])
    code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(exc.status_code, "http_error")
    return _respond(request, exc.status_code, error_body(code, str(exc.detail))["error"], exc.headers)


# Two requests changed the same rows at once and PostgreSQL chose this one to fail: nothing
# was written, and the same request sent again will succeed.
RETRYABLE_SQLSTATES = ("40P01", "40001")  # deadlock detected, serialization failure


async def _database(request: Request, exc: DBAPIError) -> Response:
    if getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES:
        log.warning("concurrent change refused (%s); the client may retry", exc.orig.sqlstate)
        return _respond(request, 409, error_body("conflict", "another request changed the same case at the same "
                                                             "moment; nothing was changed: send the request again")["error"],
                        {"Retry-After": "1"})
    log.exception("database error", exc_info=exc)
    if isinstance(exc, OperationalError) or exc.connection_invalidated:
        return _respond(request, 503,
                        error_body("database_unavailable", "the database is unavailable; try again shortly")["error"])
    return _respond(request, 500, error_body("internal_error", "internal error")["error"])


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    # Answered by the outermost layer, past api.gate: the request id is added here (the log
    # line above carries it already), so a caller can quote it.
    rid = REQUEST_ID.get()
    return _respond(request, 500, error_body("internal_error", "internal error")["error"],
                    headers={"X-Request-ID": rid} if rid else None)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(FieldError, _field_error)
    app.add_exception_handler(ge.GridmapError, _domain)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(DBAPIError, _database)
    app.add_exception_handler(Exception, _unexpected)
