"""What a delivery says: the event, and the case as anyone may see it.

Never personal data: no reporter, no description, no notes or staff names from the trail,
no photos; a sensitive case (``geo.access.privacy``) at its public cell and community, with
the same coarse place in every event. The ``report`` block is the case when the delivery is
sent (a retry sends the case as it is then); the event fields are the trail's, fixed.
"""

from __future__ import annotations

import json

from geo.access.privacy import PUBLIC_PRECISION_M, is_sensitive, public_code, public_place
from geo.models import Report, ReportEvent

# The event data a receiver may see, per action (the rest is internal: request keys, who).
# A department holding a case is public (an office, no person); reasons are notes, never sent.
PUBLIC_DATA = {"dispatch": ("due_at",), "escalate": ("level", "level_name", "department", "to", "due_at"),
               "mark_duplicate": ("duplicate_of",), "rate": ("rating",), "transfer": ("department", "due_at"),
               "accept": ("department",), "return": ("department",)}
VERSION = 1


def event_payload(event: ReportEvent, report: Report, *, lon: float, lat: float) -> dict:
    """The JSON object delivered for ``event`` of ``report`` (at ``lon``, ``lat``, WGS-84)."""
    sensitive = is_sensitive(report.category)
    grid_code, escalated_to = report.grid_code, report.escalated_to
    lon, lat = round(lon, 7), round(lat, 7)
    if sensitive:
        lon, lat, grid_code = public_place(lon, lat, grid_code)
        escalated_to = public_code(escalated_to)
    data = {k: event.data[k] for k in PUBLIC_DATA.get(event.action, ()) if k in (event.data or {})}
    if sensitive and "to" in data:
        data["to"] = public_code(data["to"])
    return {
        "version": VERSION,
        "event_id": event.id,
        "service_request_id": str(report.id),
        "action": event.action,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "status": event.to_status or report.status.value,
        "at": event.at.isoformat(),
        "data": data,
        "report": {
            "category": report.category, "subcategory": report.subcategory, "source": report.source.value,
            "reported_at": report.reported_at.isoformat(), "status": report.status.value,
            "grid_code": grid_code, "lon": lon, "lat": lat,
            "location_precision_m": PUBLIC_PRECISION_M if sensitive else None,
            "escalation_level": report.escalation_level, "escalated_to": escalated_to,
            "department_code": report.department_code, "return_count": report.return_count,
            "due_at": report.due_at.isoformat() if report.due_at else None,
            "closed_at": report.closed_at.isoformat() if report.closed_at else None,
            "rating": report.rating,
        },
    }


def encode(payload: dict) -> bytes:
    """The body as sent (and signed): compact UTF-8 JSON."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
