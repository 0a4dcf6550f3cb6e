"""The caller's own resources: a worker's queue of open cases (``geo.reports.queue``).

Made for a phone on a weak network: the answer carries a strong ETag (a hash of its exact
bytes), and a request sending it back in ``If-None-Match`` gets a 304 with no body while
nothing in the queue has changed (a case due, moved, photographed or newly assigned changes
it). ``Cache-Control: private, no-cache``: a browser may keep it, and must ask each time.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Response
from pydantic import TypeAdapter

from api.deps import SessionDep
from api.schemas.queue import QueueCaseOut, QueueOut, ReporterContact
from api.security import WorkerDep
from geo.access import record_audit
from geo.reports.queue import QueueCase, worker_queue

router = APIRouter(tags=["dispatch"])
_QUEUE = TypeAdapter(QueueOut)
CACHE = {"Cache-Control": "private, no-cache", "Vary": "Authorization, Cookie"}


def _out(c: QueueCase) -> QueueCaseOut:
    return QueueCaseOut(
        id=c.id, category=c.category, category_name={"zh": c.category_zh, "en": c.category_en},
        subcategory=c.subcategory,
        subcategory_name={"zh": c.subcategory_zh, "en": c.subcategory_en} if c.subcategory_zh else None,
        description=c.description, status=c.status, reported_at=c.reported_at, due_at=c.due_at, overdue=c.overdue,
        escalation_level=c.escalation_level, grid_code=c.grid_code, place=c.place, lon=c.lon, lat=c.lat,
        location_precision_m=c.location_precision_m, department=c.department_code, assigned_to_me=c.assigned_to_me,
        allowed=list(c.allowed), photo_count=c.photo_count, may_add_photo=c.may_add_photo,
        reporter=ReporterContact(name=c.reporter_name, phone=c.reporter_phone) if c.personal else None,
    )


def etag_of(body: bytes) -> str:
    """A strong ETag: the body's own hash, so equal tags mean equal bytes."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (RFC 9110: weak comparison, ``*`` matches)."""
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


@router.get("/me/cases", response_model=QueueOut, summary="My queue: a worker's open cases",
            responses={200: {"headers": {"ETag": {"description": "Send it back in If-None-Match.",
                                                  "schema": {"type": "string"}}}},
                       304: {"description": "Not modified: the queue is what the ETag sent names (no body)"},
                       401: {"description": "A worker token is needed"},
                       403: {"description": "Not a worker token: only a worker has a queue"}})
def my_cases(
    session: SessionDep, principal: WorkerDep,
    if_none_match: Annotated[str | None, Header(max_length=2000, examples=['"4f1c2a9b7d3e5f60a1b2c3d4e5f60718"'],
                                                description="The ETag of the queue you hold.")] = None,
):
    """The open cases assigned to you, and for department staff the open cases your
    department holds: overdue first, then by due time (none last), then id (at most 500;
    `total` counts all). Each with what a phone needs: names, due time, where (WGS-84), the
    actions you may take, the photo count, and the reporter's contact for your own cases
    (the read is audited)."""
    queue = worker_queue(session, viewer=principal, now=datetime.now(UTC))
    body = _QUEUE.dump_json(QueueOut(worker_id=queue.worker_id, public_name=queue.public_name, department=queue.department_code,
                                     total=queue.total, cases=[_out(c) for c in queue.cases]))
    etag = etag_of(body)
    if matches(if_none_match, etag):
        return Response(status_code=304, headers={"ETag": etag, **CACHE})
    shown = [str(c.id) for c in queue.cases if c.personal]
    if shown:
        record_audit(session, actor=principal, action="personal.read", subject_type="report",
                     subject_id=shown[0] if len(shown) == 1 else None,
                     detail={"report_ids": shown, "what": "worker queue"})
        session.commit()
    return Response(body, media_type="application/json", headers={"ETag": etag, **CACHE})
