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


def overlap_finding(level: AreaLevel, a: str, b: str, m2: float, where, *, parent: str | None = None) -> dict:
    """Two areas of ``level`` overlapping by ``m2`` square metres."""
    return finding("overlap", f"{level.value}s {a} and {b} overlap by {m2:.1f} m²", level=level, codes=[a, b],
                   parent=parent, where=where)


def gap_finding(level: AreaLevel, plevel: AreaLevel, parent: str, m2: float, where) -> dict:
    """Part of ``parent`` that no area of ``level`` covers."""
    return finding("gap", f"a gap of {m2:.1f} m² in {plevel.value} {parent} that no {level.value} covers",
                   level=level, codes=[parent], parent=parent, where=where)


def outside_finding(level: AreaLevel, plevel: AreaLevel, code: str, parent: str, m2: float, where) -> dict:
    """Area ``code`` sticking out of its ``parent``."""
    return finding("outside_parent", f"{level.value} {code} sticks out of {plevel.value} {parent} by {m2:.1f} m²",
                   level=level, codes=[code], parent=parent, where=where)
