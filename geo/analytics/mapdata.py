"""The queries behind the maps: aggregated report counts, area status, live feeds.

Everything is aggregated in PostGIS before it reaches Python, so results grow with the map
extent and the number of areas, not with the number of reports. Geometry is EPSG:4326;
GeoJSON is rounded to 5 decimals (≈ 1 m) because the maps need no more and pages stay small.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import chain

import numpy as np
import orjson
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from geo.access.privacy import (
    WORKER_CELL_DEG,
    below_public_area,
    coarse_point,
    is_sensitive,
    public_place,
    sensitive_expr,
)
from geo.boundaries.cache import GenerationCache
from geo.boundaries.generations import valid_in
from geo.matching.cells import parent_expr
from geo.models import OPEN_STATUSES, Area, AreaLevel, Assignment, AssignmentRole, Report, Worker
from geo.analytics.weeks import week_bin, week_number
from geo.readmodels import AreaStatus
from geo.reports.categories import BY_CODE
from geo.reports.queries import ReportFilter


log = logging.getLogger("gridmap.maps")
MAP_DECIMALS = 5
# Simplification tolerance (degrees) per level: ~1 px at the zoom each level is looked at.
SIMPLIFY_DEG = {
    AreaLevel.city: 0.001, AreaLevel.district: 0.0005, AreaLevel.street: 0.0002,
    AreaLevel.community: 0.0001, AreaLevel.grid: 0.00004,
}


def latest_report_time(session: Session) -> datetime | None:
    """``max(reported_at)``: default windows end here, so a historical demo still shows data."""
    return session.scalar(sa.select(sa.func.max(Report.reported_at)))


def report_cell(public: bool) -> sa.ColumnElement:
    """The cell a report counts in: its own, or for ``public`` aggregates (shown to anyone
    who may not read every sensitive case in full) its public cell (geo.access.privacy)."""
    return sa.func.coalesce(Report.public_cell, Report.h3_cell) if public else Report.h3_cell


def cell_counts(
    session: Session, flt: ReportFilter, *, res: int, by_category: bool = False, by_week: bool = False,
    public: bool = False, zone: str | None = None,
) -> pd.DataFrame:
    """Report counts per H3 cell of ``res`` (≤ geo.matching.cells.CELL_RES): columns cell (int64; see
    geo.matching.cells.to_strings), n, and optionally category (as int, e.g. 30) and week (see
    :func:`week_start`). Exact: each report counts in the cell holding its point (``public``:
    a sensitive case in the cell of its public location). Weeks start Monday 00:00 in ``zone``
    (the city configuration's ``timezone``), which ``by_week`` requires (else ValueError)."""
    keys = [parent_expr(report_cell(public), res).label("cell")]
    outputs = list(keys)
    if by_category:
        keys.append(Report.category)
        # As an integer (codes are 2 digits) so every column is numeric: see _int_frame.
        outputs.append(sa.cast(Report.category, sa.Integer).label("category"))
    if by_week:
        if zone is None:
            raise ValueError("weekly counts need the city's time zone")
        week = week_bin(zone)
        keys.append(week)
        outputs.append(week_number(week, zone).label("week"))
    stmt = sa.select(*outputs, sa.func.count().label("n")).where(*flt.conditions()).group_by(*keys)
    return _int_frame(session, stmt, [k.name for k in outputs] + ["n"])


def _int_frame(session: Session, stmt, names: list[str]) -> pd.DataFrame:
    """Run an all-integer query into a DataFrame through one int64 array: pandas' row-by-row
    inference over Row objects costs more than the query itself at ~20k rows."""
    rows = session.connection().execute(stmt).all()
    arr = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=len(names) * len(rows))
    arr = arr.reshape(-1, len(names))
    return pd.DataFrame({name: arr[:, i] for i, name in enumerate(names)})


@dataclass(frozen=True, slots=True)
class WindowAggregates:
    """One scan's worth of aggregates: counts per H3 cell (cell, n), per coarse cell and week
    (cell, week, n), and per area code prefix (code -> n). Cells are int64 H3 indexes."""

    fine: pd.DataFrame
    weekly: pd.DataFrame
    areas: pd.Series


def window_aggregates(
    session: Session, flt: ReportFilter, *, res: int, coarse_res: int, code_length: int, zone: str,
    public: bool = True,
) -> WindowAggregates:
    """The three aggregates of the hot-spot analysis from a single (index-only) scan, with
    GROUPING SETS: reading 100k+ rows once instead of three times is most of the page's budget.
    ``res``/``coarse_res``: H3 resolutions of the totals and of the weekly counts; weeks start
    Monday 00:00 in ``zone``."""
    cell = report_cell(public)
    code = Report.grid_code
    if public and below_public_area(code_length):  # per grid, a sensitive case is not counted (geo.access.privacy)
        code = sa.case((sensitive_expr(Report.category), sa.null()), else_=Report.grid_code)
    inner = sa.select(
        parent_expr(cell, res).label("cell"),
        parent_expr(cell, coarse_res).label("coarse"),
        week_bin(zone).label("week"),
        code.label("code"),
    ).where(*flt.conditions()).subquery()
    c = inner.c
    # Codes are digits (≤ 15 < 2^53): cast per group, not per row, so every output column is
    # numeric and the rows load straight into one int64 array.
    outputs = [c.cell, c.coarse, week_number(c.week, zone), sa.cast(c.code, sa.BigInteger)]
    stmt = sa.select(
        sa.func.grouping(c.cell, c.coarse, c.code), *(sa.func.coalesce(col, -1) for col in outputs), sa.func.count()
    ).group_by(sa.func.grouping_sets(sa.tuple_(c.cell), sa.tuple_(c.coarse, c.week), sa.tuple_(c.code)))
    # For this transaction only: three hash tables instead of three external sorts; and page
    # costs for cached data, so a window spanning most of the table still reads the covering
    # index (index-only) rather than the wider heap (1.0 s instead of 1.3 s over 1 M reports).
    session.execute(sa.select(sa.func.set_config("work_mem", "64MB", True),
                              sa.func.set_config("random_page_cost", "1.1", True)))
    rows = session.connection().execute(stmt).all()
    arr = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=6 * len(rows)).reshape(-1, 6)
    g, cell, coarse, week, code, n = arr.T
    # grouping() bitmask over (cell, coarse, code): 1 = not grouped by that column.
    fine, weekly, grids = g == 0b011, g == 0b101, (g == 0b110) & (code >= 0)
    width = AreaLevel.grid.code_length  # the int lost any leading zeros
    per_grid = pd.Series(n[grids], index=[f"{v:0{width}d}"[:code_length] for v in code[grids].tolist()],
                         dtype="int64")
    return WindowAggregates(
        fine=pd.DataFrame({"cell": cell[fine], "n": n[fine]}),
        weekly=pd.DataFrame({"cell": coarse[weekly], "week": week[weekly], "n": n[weekly]}),
        areas=per_grid.groupby(level=0).sum(),
    )


# Per generation and level, until the generation's areas change (geo.boundaries.cache).
_codes: GenerationCache[list[str]] = GenerationCache(size=16)
_cities: GenerationCache[tuple] = GenerationCache(size=4)
_outlines: GenerationCache[list[tuple[str, str, str]]] = GenerationCache(size=16)
_adjacency: GenerationCache[dict[str, list[str]]] = GenerationCache(size=16)


def area_codes(session: Session, *, generation: int, level: AreaLevel) -> list[str]:
    """Codes of the areas of ``level`` valid in ``generation``, sorted (cached)."""
    return _codes.get(session, generation=generation, key=level.value, build=lambda: list(session.scalars(
        sa.select(Area.code).where(Area.level == level, valid_in(Area, generation)).order_by(Area.code))))


def city_outline(session: Session, *, generation: int) -> tuple[dict | None, tuple[float, float, float, float] | None]:
    """(GeoJSON geometry of the top-level area(s), simplified; bounds minlon, minlat, maxlon, maxlat).
    Cached per generation until its areas change."""
    return _cities.get(session, generation=generation, build=lambda: _city_outline(session, generation=generation))


def _city_outline(session: Session, *, generation: int) -> tuple:
    level = AreaLevel.city if session.scalar(
        sa.select(sa.func.count()).where(Area.level == AreaLevel.city, valid_in(Area, generation))
    ) else AreaLevel.district
    geom = sa.func.ST_Union(Area.geom)
    row = session.execute(
        sa.select(
            sa.func.ST_AsGeoJSON(sa.func.ST_SimplifyPreserveTopology(geom, SIMPLIFY_DEG[AreaLevel.city]), MAP_DECIMALS),
            sa.func.ST_XMin(sa.func.ST_Extent(Area.geom)), sa.func.ST_YMin(sa.func.ST_Extent(Area.geom)),
            sa.func.ST_XMax(sa.func.ST_Extent(Area.geom)), sa.func.ST_YMax(sa.func.ST_Extent(Area.geom)),
        ).where(Area.level == level, valid_in(Area, generation))
    ).one()
    if row[0] is None:
        return None, None
    return orjson.loads(row[0]), (row[1], row[2], row[3], row[4])


def area_outlines(session: Session, *, generation: int, level: AreaLevel) -> list[tuple[str, str, str]]:
    """(code, name, simplified GeoJSON) of every area of ``level`` in ``generation``, by code.

    Cached per generation and level until the generation's areas change: simplifying 4,642
    grids on every request of a wall map that reloads all day would be wasted work.
    """
    geom = sa.func.ST_AsGeoJSON(sa.func.ST_SimplifyPreserveTopology(Area.geom, SIMPLIFY_DEG[level]), MAP_DECIMALS)
    return _outlines.get(session, generation=generation, key=level.value, build=lambda: [tuple(r) for r in session.execute(
        sa.select(Area.code, Area.name, geom).where(Area.level == level, valid_in(Area, generation)).order_by(Area.code)
    )])


def open_counts(
    session: Session, *, levels: list[AreaLevel], now: datetime, public: bool = True
) -> dict[str, dict[str, tuple[int, int]]]:
    """level -> code -> (open, overdue) cases as of ``now``, for every code with open cases
    (whatever generation it is an area of). One count per grid (the partial open-status
    index), rolled up to every level in Python by code prefix: grid codes start with their
    ancestors' codes. ``public``: per grid, sensitive cases are not counted (their public
    area is the community)."""
    sensitive = sensitive_expr(Report.category)
    per_grid = session.execute(
        sa.select(Report.grid_code, sensitive, sa.func.count(), sa.func.count().filter(Report.due_at < now))
        .where(Report.status.in_(OPEN_STATUSES), Report.grid_code.is_not(None))
        .group_by(Report.grid_code, sensitive)
    ).all()
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for level in levels:
        n = level.code_length
        hide_sensitive = public and below_public_area(n)
        totals: dict[str, list[int]] = {}
        for code, sensitive_row, n_open, n_overdue in per_grid:
            if hide_sensitive and sensitive_row:
                continue
            t = totals.setdefault(code[:n], [0, 0])
            t[0] += n_open
            t[1] += n_overdue
        out[level.value] = {code: (t[0], t[1]) for code, t in totals.items()}
    return out


def area_status(
    session: Session, *, generation: int, levels: list[AreaLevel], now: datetime, public: bool = True
) -> dict[str, list[AreaStatus]]:
    """Every area of each of ``levels`` with open/overdue counts (:func:`open_counts`) and its
    current primary worker (public name only)."""
    counts = open_counts(session, levels=levels, now=now, public=public)
    primaries = dict(session.execute(
        sa.select(Assignment.area_code, Worker.public_name)
        .join(Worker, Worker.id == Assignment.worker_id)
        .where(Assignment.role == AssignmentRole.primary, Assignment.ended_at.is_(None))
    ).all())
    return {
        level.value: [
            AreaStatus(code, name, level.value, geometry, *counts[level.value].get(code, (0, 0)), primaries.get(code))
            for code, name, geometry in area_outlines(session, generation=generation, level=level)
        ]
        for level in levels
    }


def area_shapes(session: Session, *, generation: int, level: AreaLevel, codes: list[str]) -> dict[str, tuple[str, str]]:
    """code -> (name, simplified GeoJSON geometry) for the given codes."""
    if not codes:
        return {}
    geom = sa.func.ST_AsGeoJSON(sa.func.ST_SimplifyPreserveTopology(Area.geom, SIMPLIFY_DEG[level]), MAP_DECIMALS)
    rows = session.execute(
        sa.select(Area.code, Area.name, geom).where(Area.code.in_(codes), valid_in(Area, generation))
    ).all()
    return {r[0]: (r[1], r[2]) for r in rows}


def area_adjacency(session: Session, *, generation: int, level: AreaLevel) -> dict[str, list[str]]:
    """Queen contiguity (shared edge or vertex) of the areas of ``level`` in ``generation``.

    Cached per generation and level until the generation's areas change.
    """

    def build() -> dict[str, list[str]]:
        a, b = aliased(Area), aliased(Area)
        rows = session.execute(
            sa.select(a.code, b.code)
            .join(b, sa.and_(sa.func.ST_Intersects(a.geom, b.geom), a.code != b.code))
            .where(a.level == level, b.level == level, valid_in(a, generation), valid_in(b, generation))
        ).all()
        adj: dict[str, list[str]] = {}
        for x, y in rows:
            adj.setdefault(x, []).append(y)
        return adj

    return _adjacency.get(session, generation=generation, key=level.value, build=build)


def _epoch(col) -> sa.ColumnElement:
    # Timestamps travel as epoch seconds, which any row can be read as: a value Python cannot
    # represent (before year 1) then spoils only its own row, not the query.
    return sa.extract("epoch", col)


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(float(seconds), tz=timezone.utc).isoformat()


def live_reports(session: Session, *, now: datetime, window: timedelta, limit: int = 500,
                 exact: bool = False) -> list[dict]:
    """New reports of the last ``window`` and the most overdue open cases, as GeoJSON features.

    Internal (command centre) only: points, but no reporter, phone or description; without
    ``exact`` a sensitive case at its public location (geo.access.privacy). A row whose times
    cannot be read is left out (and logged); the others are served.
    """
    cols = (Report.id, Report.category, Report.status, _epoch(Report.reported_at), _epoch(Report.due_at),
            Report.grid_code, sa.func.ST_X(Report.location), sa.func.ST_Y(Report.location))
    recent = session.execute(
        sa.select(*cols).where(Report.reported_at >= now - window, Report.reported_at <= now)
        .order_by(Report.reported_at.desc()).limit(limit)
    ).all()
    overdue = session.execute(
        sa.select(*cols).where(Report.status.in_(OPEN_STATUSES), Report.due_at < now)
        .order_by(Report.due_at).limit(limit)
    ).all()
    features, seen = [], set()
    now_s = now.timestamp()
    for r in [*recent, *overdue]:
        if r[0] in seen:
            continue
        seen.add(r[0])
        try:
            reported = _iso(r[3])
        except (ValueError, OverflowError, OSError):
            log.error("report %s has a time that cannot be read; left out of the live feed", r[0])
            continue
        cat = BY_CODE.get(r[1])
        is_overdue = r[2] in OPEN_STATUSES and r[4] is not None and float(r[4]) < now_s
        lon, lat, code = r[6], r[7], r[5]
        if not exact and is_sensitive(r[1]):
            lon, lat, code = public_place(lon, lat, code)
        features.append({
            "type": "Feature",
            "id": str(r[0]),
            "geometry": {"type": "Point", "coordinates": [round(lon, MAP_DECIMALS), round(lat, MAP_DECIMALS)]},
            "properties": {
                "id": str(r[0]), "category": r[1], "category_name": cat.name_en if cat else r[1],
                "group": cat.group if cat else "other", "status": r[2].value,
                "reported_at": reported, "overdue": is_overdue, "grid_code": code,
            },
        })
    return features


def worker_positions(session: Session, *, limit: int = 2000, exact: bool = False) -> list[dict]:
    """The ``limit`` most recently seen on-duty workers' positions (public name and role only)
    as GeoJSON features; without ``exact``, each at its lattice cell (geo.access.privacy). The cap
    keeps a 10-second poll under ~0.4 MB for a whole city."""
    rows = session.execute(
        sa.select(Worker.id, Worker.public_name, Worker.role, Worker.last_seen_at,
                  sa.func.ST_X(Worker.last_position), sa.func.ST_Y(Worker.last_position))
        .where(Worker.on_duty, Worker.last_position.is_not(None))
        .order_by(Worker.last_seen_at.desc().nulls_last(), Worker.id).limit(limit)
    ).all()
    return [
        {
            "type": "Feature", "id": f"w{r[0]}",
            "geometry": {"type": "Point", "coordinates": _position(r[4], r[5], exact)},
            "properties": {"id": f"w{r[0]}", "public_name": r[1], "role": r[2].value,
                           "last_seen_at": r[3].isoformat() if r[3] else None},
        }
        for r in rows
    ]


def _position(lon: float, lat: float, exact: bool) -> list[float]:
    if not exact:
        lon, lat = coarse_point(lon, lat, deg=WORKER_CELL_DEG)
    return [round(lon, MAP_DECIMALS), round(lat, MAP_DECIMALS)]
