"""Table models. Request/response schemas live in ``api.schemas``; these are storage only."""

from geo.models.areas import (
    CODE_LENGTH,
    LEVEL_ORDER,
    Area,
    AreaKind,
    AreaLevel,
    AreaPiece,
    Generation,
    GenerationStatus,
)
from geo.models.base import SRID, Base
from geo.models.meta import DatasetStamp
from geo.models.reports import OPEN_STATUSES, MatchKind, Report, ReportEvent, ReportSource, ReportStatus
from geo.models.workers import Assignment, AssignmentRole, Worker, WorkerRole

__all__ = [
    "CODE_LENGTH",
    "LEVEL_ORDER",
    "OPEN_STATUSES",
    "SRID",
    "Area",
    "AreaKind",
    "AreaLevel",
    "AreaPiece",
    "Assignment",
    "AssignmentRole",
    "Base",
    "DatasetStamp",
    "Generation",
    "GenerationStatus",
    "MatchKind",
    "Report",
    "ReportEvent",
    "ReportSource",
    "ReportStatus",
    "Worker",
    "WorkerRole",
]
