"""One problem in a drawing, as ``check`` reports it and the import records it: what kind,
how bad, where (GeoJSON, EPSG:4326), which areas."""

from __future__ import annotations

import shapely

from geo.boundaries.hierarchy import AreaLevel


def finding(kind: str, message: str, *, level: AreaLevel, codes: list[str], parent: str | None = None,
            where=None, severity: str = "error") -> dict:
    """One problem: kind, severity (error blocks activation; warning does not), message,
    codes, the parent it was found under, and its location as GeoJSON (None: no location)."""
    return {"kind": kind, "severity": severity, "message": message, "level": level.value, "codes": codes,
            "parent": parent, "geometry": None if where is None else shapely.geometry.mapping(where)}
