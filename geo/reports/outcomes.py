"""What became of each submitted report: one answer per item, in domain terms.

``geo.reports.registration`` gives them; ``api.errors`` says what each kind is in HTTP.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from geo.errors import GridmapError
from geo.reports.routing import Responsible


class Outcome(str, Enum):
    """What became of one submitted report (``api.errors`` says what each is in HTTP)."""

    created = "created"  # registered now
    replayed = "replayed"  # this id was registered before, with the same body: the original
    conflict = "conflict"  # this id was registered before with another body
    invalid = "invalid"  # refused by the input rules (``error`` names the field)
    not_stored = "not_stored"  # the database refused it; the others were stored


@dataclass
class BatchOutcome:
    """One item's answer, the same as a single intake of it would have given."""

    index: int
    kind: Outcome
    report_id: uuid.UUID | None = None
    grid_code: str | None = None
    generation: int | None = None
    match: str | None = None
    distance_m: float | None = None
    worker: Responsible | None = None
    report_status: str | None = None
    due_at: datetime | None = None
    escalation_level: int = 0
    possible_duplicates: list[uuid.UUID] = field(default_factory=list)
    error: GridmapError | None = None
    filed_by: str | None = None  # who filed the stored report (a replay may be by someone else)

    @property
    def created(self) -> bool:
        return self.kind == Outcome.created
