"""Request ids and the service's log format.

Every request has an id: the caller's ``X-Request-ID`` when it is short and plain (a proxy's
or a client's, so one id follows a request through every system), else a new one. ``api.gate``
puts it in the answer's ``X-Request-ID`` header and in ``REQUEST_ID`` for the request's
context (threads of ``run_in_threadpool`` inherit it); ``RequestIdFilter`` copies it onto
every log record, so each line a request causes carries its id (``-`` outside requests).

``log_config`` is the ``logging.config.dictConfig`` that ``gridmap serve`` hands uvicorn:
text lines, or one JSON object per line (``GRIDMAP_LOG_FORMAT=json``) for a log shipper.
"""

from __future__ import annotations

import json
import logging
import os
import re
from contextvars import ContextVar
from datetime import UTC, datetime

REQUEST_ID: ContextVar[str | None] = ContextVar("gridmap_request_id", default=None)
HEADER = b"x-request-id"
# Letters, digits and - _ . : (a UUID, a trace id, a proxy's id), 1 to 64 of them: anything
# else could forge log lines or bloat every record, and is replaced by an id of our own.
_SAFE = re.compile(rb"[A-Za-z0-9._:\-]{1,64}")


def request_id_of(headers) -> str:
    """The request id for an ASGI request's ``headers``: the valid ``X-Request-ID`` sent, or a
    new random one (32 hex digits)."""
    for name, value in headers or ():
        if name == HEADER:
            if _SAFE.fullmatch(value):
                return value.decode("ascii")
            break
    return os.urandom(16).hex()  # as random as uuid4().hex, a few µs cheaper per request


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id``: the id of the request being served, else ``-``."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, request_id,
    and the traceback as ``exc`` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or REQUEST_ID.get() or "-",
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s"


def log_config(fmt: str = "text", level: str = "INFO") -> dict:
    """The dictConfig for the server: the root logger (gridmap.*) and uvicorn's own loggers
    through one handler on stderr, each record with its request id; ``fmt``: text or json."""
    formatter = {"()": "api.logs.JsonFormatter"} if fmt == "json" else {"format": TEXT_FORMAT}
    handler = {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "main",
               "filters": ["request_id"]}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "api.logs.RequestIdFilter"}},
        "formatters": {"main": formatter},
        "handlers": {"main": handler},
        "root": {"handlers": ["main"], "level": level},
        "loggers": {name: {"handlers": [], "level": level, "propagate": True}
                    for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
    }
