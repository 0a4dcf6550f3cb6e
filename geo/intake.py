"""Report intake: what a report looks like as received, and every check that needs no database.

Registration itself (matching, routing, storing) is ``geo.registration``.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson

from geo.categories import BY_CODE, SUB_BY_CODE
from geo.cityconfig import CityConfig
from geo.coords import check_lon_lat, normalise_crs
from geo.errors import InvalidInput, InvalidState
from geo.models import ReportSource

# Phones' clocks drift; a report "from the future" by less than this is accepted as now.
CLOCK_SKEW = timedelta(minutes=5)


class IdempotencyConflict(InvalidState):
    """The id was used before with a different body."""

    code = "idempotency_conflict"


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

    def fingerprint(self) -> str:
        """sha256 of the body without the id: what a retry must repeat exactly."""
        body = {
            "category": self.category, "subcategory": self.subcategory, "description": self.description,
            "source": self.source.value, "x": self.x, "y": self.y, "crs": normalise_crs(self.crs),
            "accuracy_m": self.accuracy_m, "reported_at": self.reported_at.isoformat(),
            "reporter_name": self.reporter_name, "reporter_phone": self.reporter_phone, "photos": list(self.photos),
        }
        return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def validate_fields(item: ReportInput, *, config: CityConfig, now: datetime) -> str:
    """Every check but the converted coordinates' range; returns the normalised crs.

    Raises InvalidInput naming the field and the reason.
    """
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
    if len(item.photos) > config.max_photos:
        raise InvalidInput(f"at most {config.max_photos} photos", field="photos")
    if item.reported_at.tzinfo is None:
        raise InvalidInput("must include a timezone offset", field="reported_at")
    if item.reported_at > now + CLOCK_SKEW:
        raise InvalidInput("is in the future", field="reported_at")
    crs = normalise_crs(item.crs)
    if not crs.startswith("EPSG:"):
        check_lon_lat(item.x, item.y, prefix="location.")
    return crs
