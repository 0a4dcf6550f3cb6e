"""Domain exceptions. ``api.errors`` maps each to one HTTP status; messages are safe to show."""

from __future__ import annotations


class GridmapError(Exception):
    """Base of every domain error. ``code`` is a stable machine-readable identifier."""

    code = "gridmap_error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(GridmapError):
    code = "not_found"


class WorkerNotFound(NotFound):
    code = "worker_not_found"


class ReportNotFound(NotFound):
    code = "report_not_found"


class TokenNotFound(NotFound):
    code = "token_not_found"


class RosterExceptionNotFound(NotFound):
    code = "roster_exception_not_found"


class AreaNotFound(NotFound):
    code = "area_not_found"


class GenerationNotFound(NotFound):
    code = "generation_not_found"


class NoActiveGeneration(GridmapError):
    code = "no_active_generation"


class OutsideJurisdiction(NotFound):
    """A point no grid covers. ``details`` carries the nearest grid and its distance (metres)."""

    code = "outside_jurisdiction"


class InvalidState(GridmapError):
    code = "invalid_state"


class IdempotencyConflict(InvalidState):
    """The id was used before with a different body."""

    code = "idempotency_conflict"


class IllegalTransition(InvalidState):
    code = "illegal_transition"


class AlreadyRated(InvalidState):
    code = "already_rated"


class InvalidInput(GridmapError):
    code = "invalid_input"


class Unauthorized(GridmapError):
    code = "unauthorized"


class StoreFailed(GridmapError):
    """The database refused to store one item that passed every check (a defect to fix); the
    other items of its batch or pass were stored without it."""

    code = "not_stored"


class Busy(GridmapError):
    """Too much of one kind of work at once (large photo decodes): retry shortly."""

    code = "busy"


class Forbidden(GridmapError):
    """Authenticated, but this role (or this holder) may not do that."""

    code = "forbidden"


class SchemaOutdated(GridmapError):
    code = "schema_outdated"


class RosterConflict(InvalidState):
    """A roster exception overlapping another of the same worker. ``details``: ``field`` and
    ``conflicts_with`` (the other exception's id)."""

    code = "roster_overlap"
