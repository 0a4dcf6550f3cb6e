"""The audit of staff actions: who (role and holder), what, on what, when.

Recorded: reads of personal data (with the ids shown), token issue and revoke, and loads of
boundaries and assignments (``gridmap demo load``; the planners' editing will record its
changes the same way). Case transitions are audited by the case trail itself. Rows are
append-only (a database trigger), written in the caller's transaction, so an action and its
audit row commit or roll back together.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.access.roles import Principal
from geo.models import AuditEvent


def record_audit(session: Session, *, actor: Principal, action: str, subject_type: str | None = None,
                 subject_id: object = None, detail: dict | None = None) -> None:
    """Append one audit row (not committed: the caller's transaction owns it)."""
    session.execute(sa.insert(AuditEvent.__table__).values(
        role=actor.role.value, holder=actor.holder, token_id=actor.token_id, action=action,
        subject_type=subject_type, subject_id=None if subject_id is None else str(subject_id), detail=detail or {},
    ))


def list_audit(session: Session, *, limit: int = 100, action: str | None = None) -> list[AuditEvent]:
    """The newest audit rows first (optionally of one ``action``)."""
    q = sa.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if action is not None:
        q = q.where(AuditEvent.action == action)
    return list(session.scalars(q))
