"""Report intake: what a report looks like as received, and every check that needs no database.

Registration itself (matching, routing, storing) is ``geo.reports.registration``.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from geo.cityconfig import CityConfig
from geo.errors import InvalidInput
from geo.instants import check_reported_at
from geo.matching.coords import check_lon_lat, normalise_crs
from geo.models import ReportSource
from geo.reports.categories import BY_CODE, SUB_BY_CODE
from geo.text import check_text, check_url


@dataclass(frozen=True)
class ReportInput:
    """One report as received. ``x``/``y`` are in ``crs`` (lon/lat degrees, or metres for EPSG)."""

    category: str
    description: str
    source: ReportSource
    x: float
    y: float
    reported_at: datetime
    crs: str = "wgs84"
    subcategory: str | None = None
    accuracy_m: float | None = None
    reporter_name: str | None = None
    reporter_phone: str | None = None
    photos: tuple[str, ...] = ()
    id: uuid.UUID | None = None
    filed_by: str | None = None  # the token holder filing it (not part of the body: see fingerprint)

    def fingerprint(self) -> str:
        """sha256 of the body without the id: what a retry must repeat exactly."""
        body = {
            "category": self.category, "subcategory": self.subcategory, "description": self.description,
            "source": self.source.value, "x": self.x, "y": self.y, "crs": normalise_crs(self.crs),
            # The instant, not how it was written: 09:30+08:00 and 01:30Z are the same report.
            "accuracy_m": self.accuracy_m, "reported_at": self.reported_at.astimezone(UTC).isoformat(),
            "reporter_name": self.reporter_name, "reporter_phone": self.reporter_phone, "photos": list(self.photos),
        }
        return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


TEXT_FIELDS = (("category", "category"), ("subcategory", "subcategory"), ("description", "description"),
               ("reporter_name", "reporter.name"), ("reporter_phone", "reporter.phone"), ("crs", "location.crs"))


def validate_fields(item: ReportInput, *, config: CityConfig, now: datetime, earliest: datetime | None = None) -> str:
    """Every check but the converted coordinates' range; returns the normalised crs.

    ``earliest`` overrides the city's earliest report date (historical imports). Raises
    InvalidInput naming the field and the reason: whatever the database would refuse is
    refused here, before any write, so it can never fail the other reports of a pass.
    """
    for attr, name in TEXT_FIELDS:
        check_text(getattr(item, attr), field=name)
    for i, url in enumerate(item.photos):
        check_url(url, field=f"photos.{i}")
    if item.category not in BY_CODE:
        raise InvalidInput(f"unknown category {item.category!r}; see GET /api/v1/categories", field="category")
    if item.subcategory is not None:
        sub = SUB_BY_CODE.get(item.subcategory)
        if sub is None or not item.subcategory.startswith(item.category):
            raise InvalidInput(
                f"unknown subcategory {item.subcategory!r} for category {item.category}", field="subcategory"
            )
    if len(item.description) > config.max_description_chars:
        raise InvalidInput(f"at most {config.max_description_chars} characters", field="description")
    check_text(item.filed_by, field="filed_by")
    if len(item.photos) > config.max_photos:
        raise InvalidInput(f"at most {config.max_photos} photos", field="photos")
    check_reported_at(item.reported_at, now=now, earliest=earliest or config.earliest_reported_at)
    crs = normalise_crs(item.crs)
    if not crs.startswith("EPSG:"):
        check_lon_lat(item.x, item.y, prefix="location.")
    return crs
