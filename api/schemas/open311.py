"""Open311 GeoReport v2 bodies: the records each endpoint answers with, rendered as JSON or
as the specification's XML (``xml.etree``), its error lists, and their OpenAPI schemas."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, tzinfo
from typing import Any
from xml.etree import ElementTree as ET

from pydantic import BaseModel, Field
from starlette.responses import Response

from api.schemas.reports import ReportOut
from geo.models import ReportStatus
from geo.open311.services import Service, service_of, state_of, status_notes

SPEC_URL = "http://wiki.open311.org/GeoReport_v2"
MEDIA = {"json": "application/json", "xml": "text/xml; charset=utf-8"}
# XML: the element each list's items are written as (the spec's names; FixMyStreet's client
# reads exactly these).
ITEM_TAG = {"services": "service", "service_requests": "request", "errors": "error", "attributes": "attribute",
            "values": "value", "endpoints": "endpoint", "formats": "format", "keywords": "keyword"}


# What XML 1.0 cannot hold at all (a stored description may hold a control character): written
# as U+FFFD, or the whole document would not parse.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return _NOT_XML.sub("\ufffd", str(value))


def _fill(parent: ET.Element, key: str, value: Any) -> None:
    el = ET.SubElement(parent, key)
    if isinstance(value, dict):
        for k, v in value.items():
            _fill(el, k, v)
    elif isinstance(value, (list, tuple)) and key != "keywords":
        for item in value:
            _fill(el, ITEM_TAG.get(key, "item"), item)
    elif isinstance(value, (list, tuple)):  # the spec writes keywords as one comma-separated text
        el.text = ", ".join(value)
    else:
        el.text = _text(value)


def to_xml(root: str, body: list | dict) -> bytes:
    """``body`` as the spec's XML: a list under ``root`` with one element per item (named
    by ITEM_TAG), a dict as ``root``'s children."""
    top = ET.Element(root)
    items = body if isinstance(body, list) else None
    if items is None:
        for k, v in body.items():
            _fill(top, k, v)
    else:
        for item in items:
            _fill(top, ITEM_TAG[root], item)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(top, encoding="utf-8")


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def render(fmt: str, root: str, body: list | dict, *, status_code: int = 200) -> Response:
    """The answer in ``fmt`` (json or xml); ``root`` names the XML document element."""
    import orjson

    if fmt == "xml":
        return Response(to_xml(root, body), status_code=status_code, media_type=MEDIA["xml"])
    return Response(orjson.dumps(_json_ready(body)), status_code=status_code, media_type=MEDIA["json"])


def error_response(fmt: str, status: int, description: str) -> Response:
    """The spec's error list: ``[{"code": 400, "description": "..."}]`` or
    ``<errors><error><code>400</code><description>…</description></error></errors>``."""
    return render(fmt, "errors", [{"code": status, "description": description}], status_code=status)


def service_record(s: Service) -> dict:
    return {"service_code": s.service_code, "service_name": s.service_name, "description": s.description,
            "metadata": s.metadata, "type": s.type, "keywords": list(s.keywords), "group": s.group}


def request_record(view: ReportOut, *, updated_at: datetime, tz: tzinfo, base_url: str,
                   names: dict[str, str]) -> dict:
    """One service request as the spec lists it, from the report's view for this viewer
    (``api.report_views.report_view``: the public rules are already applied there: a
    sensitive case at its public cell, in its community, without its text or photos).
    ``names``: area code → name in the generation the report was matched under."""
    code, name = service_of(view.category, view.subcategory)
    status = ReportStatus(view.status)
    notes = status_notes(status, escalation_level=view.escalation_level)
    if status == ReportStatus.duplicate and view.duplicate_of:
        notes += f" of {view.duplicate_of}"
    def area(code_: str | None) -> str | None:
        return names.get(code_) if code_ else None

    grid = view.grid_code
    # A functional department holding the case answers for it first (GET /api/v1/departments).
    agency = [f"department {view.department_code}"] if view.department_code else []
    if grid and len(grid) == 15:
        agency.append(f"{area(grid) or 'grid'} (grid {grid})")
    if grid and len(grid) >= 12:
        agency.append(f"{area(grid[:12]) or 'community'} (community {grid[:12]})")
    if view.escalated_to:
        agency.append(f"escalated to {area(view.escalated_to) or view.escalated_to}")
    if not grid and not view.escalated_to:
        agency.append("city command centre (no grid covers this point)")
    address = " ".join(n for n in (area(grid[:6]) if grid else None, area(grid[:9]) if grid else None,
                                   area(grid[:12]) if grid and len(grid) >= 12 else None) if n) or None
    media = None
    if view.photos:
        first = view.photos[0]
        media = first if first.startswith(("http://", "https://")) else base_url.rstrip("/") + first
    notice = None
    if view.due_at is not None and state_of(status) == "open":
        notice = "overdue" if view.overdue else f"due by {view.due_at.astimezone(tz).isoformat(timespec='seconds')}"
    return {
        "service_request_id": str(view.id), "status": state_of(status), "status_notes": notes,
        "service_name": name, "service_code": code, "description": view.description or "",
        "agency_responsible": "; ".join(agency), "service_notice": notice, "address": address,
        "address_id": grid, "zipcode": None,
        "requested_datetime": view.reported_at.astimezone(tz),
        "updated_datetime": updated_at.astimezone(tz),
        "expected_datetime": view.due_at.astimezone(tz) if view.due_at else None,
        "lat": view.lat, "long": view.lon, "media_url": media,
    }


# --- the OpenAPI document's view of these bodies (the routes write them themselves) ---

class Open311Error(BaseModel):
    """One error of the spec's error list (a JSON array of these; XML: <errors><error>)."""

    code: int = Field(description="The HTTP status.", examples=[400])
    description: str = Field(description="What is wrong, naming the field.", examples=["lat: lat and long are required"])


class ServiceOut(BaseModel):
    """One service: a 4-digit subcategory of the catalogue."""

    service_code: str = Field(examples=["3001"])
    service_name: str = Field(examples=["暴露垃圾"])
    description: str = Field(examples=["Exposed rubbish (Urban management); time limit 4 h from dispatch"])
    metadata: bool = Field(description="Whether services/{service_code} lists attributes (none do yet).")
    type: str = Field(examples=["realtime"])
    keywords: list[str] = Field(description="XML: one comma-separated text.")
    group: str = Field(examples=["城市管理"])


class ServiceDefinitionOut(BaseModel):
    service_code: str = Field(examples=["3001"])
    attributes: list[dict] = Field(description="The category's attributes; none defines any yet, so empty.")


class RequestCreatedOut(BaseModel):
    service_request_id: str = Field(examples=["7d0f6c2e-4a51-4e4e-9d61-5b7f3c2a9e10"])
    service_notice: str | None = Field(None, examples=["matched to grid 211103001001001; due by 2026-12-03T16:00:00+08:00"])
    account_id: str | None = None


class RequestOut(BaseModel):
    """A service request as the spec lists it (public rules applied)."""

    service_request_id: str
    status: str = Field(description="open (registered, dispatched, in progress) or closed (resolved, closed, "
                                    "rejected, duplicate).")
    status_notes: str | None
    service_name: str
    service_code: str
    description: str = Field(description="Empty for a sensitive case (disputes, public security, special "
                                         "populations) unless the caller may read it in full.")
    agency_responsible: str = Field(description="The grid and community responsible (a sensitive case: its "
                                                "community only).")
    service_notice: str | None
    address: str | None = Field(description="District, street and community names (gridmap stores no address).")
    address_id: str | None = Field(description="The grid code (a sensitive case: its community's code).")
    zipcode: str | None
    requested_datetime: str
    updated_datetime: str
    expected_datetime: str | None = Field(description="The case's due time (its category's time limit from dispatch).")
    lat: float = Field(description="WGS-84; a sensitive case at the centre of its ~500 m public cell.")
    long: float
    media_url: str | None = Field(description="The first photo, absolute; a link the client sent stays as sent.")


class EndpointOut(BaseModel):
    specification: str
    url: str
    changeset: str
    type: str
    formats: list[str]


class DiscoveryOut(BaseModel):
    changeset: str
    contact: str
    key_service: str
    endpoints: list[EndpointOut]
