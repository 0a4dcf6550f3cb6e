"""Shared bits for report API tests on the tiny city (see tests/tiny_city.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tests.tiny_city import COMMUNITY

G1, G2, G3, G4 = (f"{COMMUNITY}00{i}" for i in range(1, 5))
INSIDE_G1 = (116.405, 39.915)


def body(**over) -> dict:
    """A valid report body (urban management / exposed rubbish inside grid 001)."""
    base = {
        "id": str(uuid.uuid4()),
        "category": "30",
        "subcategory": "3001",
        "description": "小区门口垃圾堆积",
        "source": "citizen",
        "location": {"lon": INSIDE_G1[0], "lat": INSIDE_G1[1], "crs": "wgs84", "accuracy_m": 8},
        "reported_at": (datetime.now(UTC) - timedelta(minutes=3)).isoformat(),
        "reporter": {"name": "王小明", "phone": "13912345678"},
    }
    for key, value in over.items():
        if key == "location":
            base["location"] = {**base["location"], **value}
        else:
            base[key] = value
    return base
