"""What the map builders and the page routes are given: the read models of areas, hot spots
and the wall map, as plain data. No SQL here (``maps/`` imports this, never the queries):
the query modules (``geo.boundaries.areas``, ``geo.analytics.mapdata``, ``geo.analytics.analysis``) fill them in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from geo.boundaries.hierarchy import AreaLevel


@dataclass(frozen=True, slots=True)
class AreaRow:
    code: str
    name: str
    level: AreaLevel
    kind: str | None
    parent_code: str | None
    households: int
    population: int
    geometry_json: str | None


@dataclass(frozen=True, slots=True)
class PublicWorker:
    """What may be shown to anyone: no personal name, no phone, no position."""

    id: int
    public_name: str
    role: str
    assignment: str
    rank: int
    on_duty: bool


@dataclass(frozen=True, slots=True)
class AreaStatus:
    """An area with its open and overdue case counts and its primary worker's public name."""

    code: str
    name: str
    level: str
    geometry_json: str
    open: int
    overdue: int
    worker: str | None


@dataclass
class HotspotAnalysis:
    """Everything the hot-spot page shows. ``hexes``: cell, n, z, p, klass over the whole study
    area (zeros included); ``areas``: code, name, n, z, p, klass per area of ``level``;
    ``weeks``: (ISO week start, [[lat, lon, n], ...]) frames at ``animation_res``."""

    label: str
    since: datetime
    until: datetime
    resolution: int
    level: AreaLevel
    total: int
    bounds: tuple[float, float, float, float]
    outline: dict | None
    hexes: pd.DataFrame
    areas: pd.DataFrame
    area_shapes: dict[str, tuple[str, str]] = field(default_factory=dict)
    weeks: list[tuple[str, list[list[float]]]] = field(default_factory=list)
    animation_res: int = 0


@dataclass(frozen=True, slots=True)
class PublicHexes:
    """The only report data the public embed receives: cells with at least ``min_count`` reports."""

    label: str
    since: datetime
    until: datetime
    resolution: int
    min_count: int
    cells: list[tuple[str, int]]
    suppressed: int
    bounds: tuple[float, float, float, float]
    outline: dict | None = None


@dataclass(frozen=True, slots=True)
class CommandCenterData:
    """What the wall map shows: areas of every level below the city with open/overdue counts,
    heat points per category group over [since, until), and the map extent."""

    areas: dict[str, list]
    heat: dict[str, list[list[float]]]
    bounds: tuple[float, float, float, float] | None
    since: datetime
    until: datetime
