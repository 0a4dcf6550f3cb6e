"""Reading the area hierarchy: listings by level and bbox, one area with its path, its workers.

All geometry is EPSG:4326 (lon/lat). Every query is pinned to one boundary generation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.boundaries.cache import Fingerprint, GenerationCache
from geo.boundaries.coverage import DECIMALS
from geo.boundaries.generations import valid_in
from geo.boundaries.hierarchy import LEVEL_ORDER
from geo.errors import AreaNotFound, InvalidInput
from geo.models import Area, AreaLevel, Assignment, AssignmentRole, Worker
from geo.readmodels import AreaRow, PublicWorker
from geo.spatial import envelope

# Published exactly as stored: every coordinate is on the 1e-7° grid of the coverage, so a
# client matching points with these polygons agrees with /locate on edges and vertices.
GEOJSON_DECIMALS = DECIMALS


@dataclass(frozen=True, slots=True)
class BBox:
    """A lon/lat box in EPSG:4326 degrees."""

    minlon: float
    minlat: float
    maxlon: float
    maxlat: float

    def __post_init__(self) -> None:
        for name in ("minlon", "maxlon"):
            if not -180 <= getattr(self, name) <= 180:
                raise InvalidInput(f"{name} must be within [-180, 180]", field="bbox")
        for name in ("minlat", "maxlat"):
            if not -90 <= getattr(self, name) <= 90:
                raise InvalidInput(f"{name} must be within [-90, 90]", field="bbox")
        if self.minlon > self.maxlon or self.minlat > self.maxlat:
            raise InvalidInput("bbox must be minlon,minlat,maxlon,maxlat with min <= max", field="bbox")

    def envelope(self):
        return envelope(self.minlon, self.minlat, self.maxlon, self.maxlat)


def _area_columns(with_geometry: bool):
    cols = [
        Area.code, Area.name, Area.level, Area.kind, Area.parent_code, Area.households, Area.population,
    ]
    geom = sa.func.ST_AsGeoJSON(Area.geom, GEOJSON_DECIMALS) if with_geometry else sa.null()
    return [*cols, geom.label("geometry_json")]


def _row(r) -> AreaRow:
    return AreaRow(
        code=r.code,
        name=r.name,
        level=r.level,
        kind=r.kind.value if r.kind is not None else None,
        parent_code=r.parent_code,
        households=r.households,
        population=r.population,
        geometry_json=r.geometry_json,
    )


def list_areas(
    session: Session,
    *,
    generation: int,
    level: AreaLevel,
    bbox: BBox | None = None,
    limit: int,
    offset: int = 0,
    after: str | None = None,
    parent_code: str | None = None,
    code: str | None = None,
) -> tuple[list[AreaRow], int]:
    """Areas of ``level`` valid in ``generation`` intersecting ``bbox`` (and, when given,
    with this parent or this code), ordered by code.

    Returns one page (``limit``, then ``offset`` or the keyset ``after``: codes greater than
    it) and the total number matched (regardless of the page).
    """
    conds = [Area.level == level, valid_in(Area, generation)]
    if bbox is not None:
        conds.append(sa.func.ST_Intersects(Area.geom, bbox.envelope()))
    if parent_code is not None:
        conds.append(Area.parent_code == parent_code)
    if code is not None:
        conds.append(Area.code == code)
    total = session.scalar(sa.select(sa.func.count()).select_from(Area).where(*conds)) or 0
    page = [Area.code > after] if after is not None else []
    rows = session.execute(
        sa.select(*_area_columns(True)).where(*conds, *page).order_by(Area.code).limit(limit).offset(offset)
    ).all()
    return [_row(r) for r in rows], total


def get_area(session: Session, *, code: str, generation: int, with_geometry: bool = True) -> AreaRow:
    """The area with ``code`` in ``generation``. Raises AreaNotFound."""
    r = session.execute(
        sa.select(*_area_columns(with_geometry)).where(Area.code == code, valid_in(Area, generation))
    ).one_or_none()
    if r is None:
        raise AreaNotFound(f"no area with code {code} in generation {generation}", area_code=code)
    return _row(r)


def area_point(session: Session, *, code: str, generation: int) -> tuple[float, float]:
    """A point inside the area (lon, lat, WGS-84 degrees): ST_PointOnSurface, so a report
    placed there matches this area and no neighbour. Raises AreaNotFound."""
    point = sa.func.ST_PointOnSurface(Area.geom)
    r = session.execute(
        sa.select(sa.func.ST_X(point), sa.func.ST_Y(point)).where(Area.code == code, valid_in(Area, generation))
    ).one_or_none()
    if r is None:
        raise AreaNotFound(f"no area with code {code} in generation {generation}", area_code=code)
    return float(r[0]), float(r[1])


class AreaIndex:
    """Every area of one generation, by code, with its GeoJSON geometry (``GEOJSON_DECIMALS``)
    and its path to the city: what locate, dispatch and the area pages read per request,
    built with one query and cached until the generation's areas change."""

    def __init__(self, rows: list[AreaRow], *, generation: int) -> None:
        self.generation = generation
        self._rows = {r.code: r for r in rows}
        self._bare = {r.code: replace(r, geometry_json=None) for r in rows}
        self.city_code = next((r.code for r in rows if r.level == AreaLevel.city), None)

    def area(self, code: str) -> AreaRow:
        """The area with its geometry. Raises AreaNotFound."""
        if (row := self._rows.get(code)) is None:
            raise AreaNotFound(f"no area with code {code} in generation {self.generation}", area_code=code)
        return row

    def path(self, code: str) -> list[AreaRow]:
        """The chain from the city down to ``code`` (inclusive) following ``parent_code``,
        without geometry. Raises AreaNotFound."""
        chain = [self.area(code)]
        while chain[-1].parent_code in self._bare and len(chain) <= len(LEVEL_ORDER):
            chain.append(self._bare[chain[-1].parent_code])
        return [self._bare[r.code] for r in reversed(chain)]


def area_index(session: Session, *, generation: int, fingerprint: Fingerprint | None = None) -> AreaIndex:
    """The ``AreaIndex`` of ``generation`` (geo.boundaries.cache: never stale).
    ``fingerprint``: one already read in this transaction. Raises GenerationNotFound."""
    def build() -> AreaIndex:
        rows = session.execute(sa.select(*_area_columns(True)).where(valid_in(Area, generation))).all()
        return AreaIndex([_row(r) for r in rows], generation=generation)

    return _INDEXES.get(session, generation=generation, build=build, fingerprint=fingerprint)


# The active generation's and one more (a draft being previewed); the demo city's is ~10 MB.
_INDEXES: GenerationCache[AreaIndex] = GenerationCache(size=2)


def area_path(session: Session, *, code: str, generation: int) -> list[AreaRow]:
    """The chain from the city down to ``code`` (inclusive), following ``parent_code``.

    Geometry is not included. Raises AreaNotFound when ``code`` does not exist.
    """
    return area_index(session, generation=generation).path(code)


_ASSIGNMENT_ORDER = sa.case(
    {AssignmentRole.primary.value: 0, AssignmentRole.backup.value: 1, AssignmentRole.lead.value: 2},
    value=Assignment.role,
)


def area_workers(session: Session, *, codes: list[str]) -> dict[str, list[PublicWorker]]:
    """Current (not ended) assignments of the given area codes, primary first, then backups."""
    if not codes:
        return {}
    rows = session.execute(
        sa.select(
            Assignment.area_code, Worker.id, Worker.public_name, Worker.role, Assignment.role.label("assignment"),
            Assignment.rank, Worker.on_duty,
        )
        .join(Worker, Worker.id == Assignment.worker_id)
        .where(Assignment.area_code.in_(codes), Assignment.ended_at.is_(None))
        .order_by(Assignment.area_code, _ASSIGNMENT_ORDER, Assignment.rank, Worker.id)
    ).all()
    out: dict[str, list[PublicWorker]] = {c: [] for c in codes}
    for r in rows:
        out[r.area_code].append(
            PublicWorker(
                id=r.id, public_name=r.public_name, role=r.role.value, assignment=r.assignment.value,
                rank=r.rank, on_duty=r.on_duty,
            )
        )
    return out
