"""The vector tile of one boundary level: each area of the generation that meets the tile,
clipped and quantised by ST_AsMVTGeom, with its code, name, parent code and its open and
overdue case counts.

Areas are stored in EPSG:4326; the tile is cut in EPSG:3857. The filter compares the stored
geometry with the tile's envelope (grown by the buffer) transformed to 4326, so the GiST index
on ``areas.geom`` selects the rows; only those are transformed. Counts follow
``geo.analytics.mapdata.area_status``: a report counts in every area whose code its
``grid_code`` starts with, and publicly a sensitive case is not counted per grid
(``geo.access.privacy.below_public_area``).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.access.privacy import below_public_area, sensitive_expr
from geo.boundaries.generations import valid_in
from geo.boundaries.hierarchy import AreaLevel
from geo.models import OPEN_STATUSES, SRID, Area, Report
from geo.tiles.addressing import BUFFER, EXTENT, HALF_WORLD_M, TileAddress

MERCATOR = 3857


def tile_envelope(tile: TileAddress, *, margin: float = 0.0) -> sa.ColumnElement:
    """SQL: the tile's EPSG:3857 envelope (``ST_TileEnvelope``), grown by ``margin`` tile widths."""
    world = sa.func.ST_MakeEnvelope(-HALF_WORLD_M, -HALF_WORLD_M, HALF_WORLD_M, HALF_WORLD_M, MERCATOR)
    return sa.func.ST_TileEnvelope(tile.z, tile.x, tile.y, world, margin)


def mvt_geometry(geom_4326, tile: TileAddress) -> sa.ColumnElement:
    """SQL: a 4326 geometry in the tile's coordinates (0..EXTENT, clipped BUFFER beyond the edges)."""
    return sa.func.ST_AsMVTGeom(sa.func.ST_Transform(geom_4326, MERCATOR), sa.func.ST_TileEnvelope(
        tile.z, tile.x, tile.y), EXTENT, BUFFER, True)


def as_mvt(rows: sa.Subquery, name: str) -> sa.Select:
    """SQL: ``ST_AsMVT`` of ``rows`` (a subquery with a ``geom`` column) as one layer ``name``."""
    return sa.select(sa.func.coalesce(
        sa.func.ST_AsMVT(rows.table_valued(), sa.literal(name, literal_execute=True),
                         sa.literal(EXTENT, literal_execute=True), sa.literal("geom", literal_execute=True)),
        sa.literal(b"", sa.LargeBinary),
    )).where(rows.c.geom.is_not(None))


def no_jit(session: Session) -> None:
    """For this transaction: no JIT compilation. A tile query reads thousands of rows, not
    millions; PostgreSQL's cost model still JIT-compiles it at times, for seconds."""
    session.execute(sa.select(sa.func.set_config("jit", "off", True)))


def area_tile(session: Session, *, generation: int, level: AreaLevel, layer_name: str, tile: TileAddress,
              now: datetime, public: bool = True) -> bytes:
    """The MVT bytes of the areas of ``level`` valid in ``generation`` that meet ``tile``, one
    layer named ``layer_name``; b"" when none does. Open/overdue counts as of ``now``;
    ``public``: sensitive cases are not counted per grid."""
    no_jit(session)
    search = sa.func.ST_Transform(tile_envelope(tile, margin=BUFFER / EXTENT), SRID)
    areas = (
        sa.select(Area.code, Area.name, Area.parent_code, Area.geom)
        .where(Area.level == level, valid_in(Area, generation), Area.geom.op("&&")(search))
        .cte("tile_areas")
    )
    n = level.code_length
    conds = [Report.status.in_(OPEN_STATUSES), sa.func.left(Report.grid_code, n) == areas.c.code]
    if public and below_public_area(n):
        conds.append(sa.not_(sensitive_expr(Report.category)))
    # Open cases are few (a partial index holds them): hash them against the tile's areas.
    counts = (
        sa.select(areas.c.code, sa.func.count().label("open"),
                  sa.func.count().filter(Report.due_at < now).label("overdue"))
        .select_from(areas).join(Report, sa.and_(*conds)).group_by(areas.c.code)
        .subquery("counts")
    )
    rows = (
        sa.select(
            areas.c.code, areas.c.name, areas.c.parent_code,
            sa.func.coalesce(counts.c.open, 0).label("open"),
            sa.func.coalesce(counts.c.overdue, 0).label("overdue"),
            mvt_geometry(areas.c.geom, tile).label("geom"),
        )
        .select_from(areas).outerjoin(counts, counts.c.code == areas.c.code)
        .order_by(areas.c.code)
        .subquery("features")
    )
    return bytes(session.execute(as_mvt(rows, layer_name)).scalar_one())
