"""The case trail ("一张工单管到底"): every step of every case, appended, never changed.

One event type for every kind (register, dispatch, a transition, escalate, rematch, rate,
photo, repair) and one writer. The database refuses UPDATE and DELETE on ``report_events``
(migration 0002), so what is written here is the case's history for good. Intake writes its
events in the same statement as the reports (``geo.reports.store``), from the same type.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from geo.models import ReportEvent


@dataclass(frozen=True, slots=True)
class TrailEvent:
    """One step of one case. ``at`` None: when the report row itself was written (intake).
    Statuses are ReportStatus values (None where the step does not concern a status)."""

    report_id: uuid.UUID
    action: str
    actor: str
    from_status: str | None
    to_status: str | None
    data: dict = field(default_factory=dict)
    note: str | None = None
    at: datetime | None = None

    def row(self) -> dict:
        """The event as a ``report_events`` row (without ``at`` when it is None)."""
        values = asdict(self)
        if values["at"] is None:
            del values["at"]
        return values


def append_events(session: Session, events: Sequence[TrailEvent]) -> None:
    """Append ``events`` to their cases' trails, in order, in the session's transaction (one
    INSERT however many). Commits nothing."""
    if events:
        session.connection().execute(ReportEvent.__table__.insert(), [e.row() for e in events])
