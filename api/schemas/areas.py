"""Response schemas (GeoJSON per RFC 7946: lon/lat order, EPSG:4326). Separate from table models."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Link(BaseModel):
    rel: str
    href: str
    type: str = "application/geo+json"


class PublicWorkerOut(BaseModel):
    id: int
    public_name: str = Field(description="Name shown on the grid sign; never the personal name.")
    role: str
    assignment: Literal["primary", "backup", "lead"]
    rank: int
    on_duty: bool


class PathItem(BaseModel):
    code: str
    name: str
    level: str


class AreaProperties(BaseModel):
    code: str
    name: str
    level: str
    parent_code: str | None
    households: int
    population: int
    kind: str | None


class AreaDetailProperties(AreaProperties):
    generation: int
    path: list[PathItem] = Field(description="From the city down to this area.")
    workers: list[PublicWorkerOut]


class AreaFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: dict[str, Any] | None
    properties: AreaProperties


class AreaDetailFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: dict[str, Any] | None
    properties: AreaDetailProperties


class AreaCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[AreaFeature]
    numberMatched: int
    numberReturned: int
    generation: int
    links: list[Link]


class LocateOut(BaseModel):
    grid: AreaDetailFeature
    match: Literal["inside", "edge"] = Field(description="`edge`: several grids cover the point; smallest code won.")
    covering_codes: list[str]
    generation: int


class HealthOut(BaseModel):
    status: Literal["ok", "unavailable"]
    database: str | None = None
    postgis: str | None = None
