"""Table models. Request/response schemas live in ``api.schemas``; these are storage only."""

from geo.boundaries.hierarchy import CODE_LENGTH, LEVEL_ORDER, AreaLevel
from geo.models.access import ApiToken, AuditEvent, RateCounter, ServerSecret
from geo.models.areas import Area, AreaKind, AreaPiece, DraftAssignment, Generation, GenerationStatus
from geo.models.base import SRID, Base
from geo.models.meta import DatasetStamp
from geo.models.rosters import ExceptionKind, RosterException, RosterShift
from geo.models.reports import (
    CLOSED_STATUSES, OPEN_STATUSES, MatchKind, Report, ReportCurrentGrid, ReportDeparture, ReportEvent, ReportSource, ReportStatus,
)
from geo.models.webhooks import DeliveryStatus, WebhookDelivery, WebhookSubscription
from geo.models.workers import Assignment, AssignmentRole, Worker, WorkerRole

__all__ = [
    "CODE_LENGTH",
    "LEVEL_ORDER",
    "CLOSED_STATUSES",
    "OPEN_STATUSES",
    "SRID",
    "ApiToken",
    "Area",
    "AreaKind",
    "AreaLevel",
    "AreaPiece",
    "Assignment",
    "AuditEvent",
    "AssignmentRole",
    "Base",
    "DatasetStamp",
    "DeliveryStatus",
    "DraftAssignment",
    "ExceptionKind",
    "Generation",
    "GenerationStatus",
    "MatchKind",
    "RateCounter",
    "Report",
    "ReportCurrentGrid",
    "ReportDeparture",
    "ReportEvent",
    "ReportSource",
    "ReportStatus",
    "RosterException",
    "RosterShift",
    "ServerSecret",
    "WebhookDelivery",
    "WebhookSubscription",
    "Worker",
    "WorkerRole",
]
