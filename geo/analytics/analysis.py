"""Hot-spot analysis and the public aggregate: queries (``geo.analytics.mapdata``) + statistics
(``geo.analytics.hotspots``) → plain data the map builders and the download endpoints render.

Default window: the 12 weeks up to the newest report (not "now", so a historical demo city
still has data). All coordinates WGS-84 degrees.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from geo.analytics import hotspots as hs
from geo.analytics.mapdata import (
    area_adjacency,
    area_codes,
    area_shapes,
    cell_counts,
    city_outline,
    latest_report_time,
    window_aggregates,
)
from geo.analytics.weeks import week_start
from geo.boundaries.areas import BBox
from geo.boundaries.cache import GenerationCache
from geo.matching import cells
from geo.models import AreaLevel
from geo.readmodels import CommandCenterData, HotspotAnalysis, PublicHexes
from geo.reports.queries import ReportFilter

DEFAULT_WINDOW = timedelta(weeks=12)
# Entries (week × non-empty cell) the animation may ship: ≈ 25 bytes each in the page.
ANIMATION_BUDGET = 20_000


def default_window(session: Session, since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    """Fill a missing bound: ``until`` = just after the newest report (or now), ``since`` = 12 weeks earlier."""
    if until is None:
        latest = latest_report_time(session)
        until = (latest + timedelta(seconds=1)) if latest else datetime.now().astimezone()
    if since is None:
        since = until - DEFAULT_WINDOW
    return since, until


def analyse_hotspots(
    session: Session,
    *,
    generation: int,
    label: str,
    categories: tuple[str, ...] | None,
    since: datetime | None = None,
    until: datetime | None = None,
    level: AreaLevel = AreaLevel.grid,
    resolution: int | None = None,
    max_cells: int = 1500,
    bbox: BBox | None = None,
    public: bool = True,
    zone: str,
) -> HotspotAnalysis:
    """Aggregate reports to H3 cells and areas and run Gi* on both (FDR-corrected).

    ``zone``: the city's IANA time zone (``CityConfig.timezone``); the animation's weeks start
    on Monday 00:00 there.
    ``resolution`` None: chosen so the extent holds at most ``max_cells`` hexagons.
    ``public`` (the default; False only for dispatchers and admins): sensitive cases count in
    the cell of their public location (geo.access.privacy), a bbox tests that location, and per grid
    they are not counted.
    """
    since, until = default_window(session, since, until)
    outline, bounds = city_outline(session, generation=generation)
    if bbox is not None:
        bounds = (bbox.minlon, bbox.minlat, bbox.maxlon, bbox.maxlat)
    bounds = bounds or (-180.0, -85.0, 180.0, 85.0)
    res = resolution or hs.choose_resolution(bounds, max_cells=max_cells)
    flt = ReportFilter(categories=categories, since=since, until=until, bbox=bbox, exact=not public)

    # The animation's cells: one level coarser than the map, and coarser still when the
    # window holds so many weeks that week × cell would overrun its budget. Fewer groups also
    # make the SQL aggregate cheaper: a 100k-group hash costs twice a 10k-group one.
    weeks = max(1, -(-(until - since).days // 7))
    anim_res = max(hs.MIN_RES, min(res - 1, hs.choose_resolution(bounds, max_cells=ANIMATION_BUDGET // weeks or 1)))
    aggs = window_aggregates(session, flt, res=res, coarse_res=anim_res, code_length=level.code_length,
                             zone=zone, public=public)
    counts = pd.Series(aggs.fine["n"].to_numpy(), index=cells.to_strings(aggs.fine["cell"]))
    study = hs.study_cells(outline if bbox is None else None, res=res, extra=list(counts.index))
    x = counts.reindex(study, fill_value=0).to_numpy()
    gi = hs.gi_star(x, hs.hex_neighbours(study, k=1))
    hexes = pd.DataFrame({"cell": study, "n": x, "z": gi.z, "p": gi.p, "klass": gi.klass})

    codes, neigh = _area_neighbours(session, generation=generation, level=level)
    per_area = aggs.areas.reindex(codes, fill_value=0)
    agi = hs.gi_star(per_area.to_numpy(), neigh)
    areas = pd.DataFrame({"code": codes, "n": per_area.to_numpy(), "z": agi.z, "p": agi.p, "klass": agi.klass})
    significant = [c for c, k in zip(codes, agi.klass) if k != 0]
    shapes = area_shapes(session, generation=generation, level=level, codes=significant)
    areas["name"] = [shapes.get(c, ("", ""))[0] for c in codes]

    weeks, anim_res = _weekly_frames(aggs.weekly, res=anim_res)
    return HotspotAnalysis(
        label=label, since=since, until=until, resolution=res, level=level, total=int(x.sum()),
        bounds=bounds, outline=outline, hexes=hexes, areas=areas, area_shapes=shapes,
        weeks=weeks, animation_res=anim_res,
    )


_neighbours: GenerationCache[tuple[list[str], list[np.ndarray]]] = GenerationCache(size=16)


def _area_neighbours(session: Session, *, generation: int, level: AreaLevel) -> tuple[list[str], list[np.ndarray]]:
    """Codes of ``level`` and, per code, the indexes of itself and its queen neighbours
    (cached until the generation's areas change)."""

    def build():
        codes = area_codes(session, generation=generation, level=level)
        adj = area_adjacency(session, generation=generation, level=level)
        index = {c: i for i, c in enumerate(codes)}
        return codes, [np.array([i, *(index[n] for n in adj.get(c, ()) if n in index)], dtype=np.int64)
                       for i, c in enumerate(codes)]

    return _neighbours.get(session, generation=generation, key=level.value, build=build)


def _weekly_frames(weekly: pd.DataFrame, *, res: int) -> tuple[list, int]:
    """Weekly counts per H3 cell (int64 cells of ``res``), coarsened (parent cells) until they
    fit ANIMATION_BUDGET."""
    if weekly.empty:
        return [], res
    frame = weekly
    while len(frame) > ANIMATION_BUDGET and res > hs.MIN_RES:
        res -= 1
        frame = frame.assign(cell=cells.parents(frame["cell"].to_numpy(), res)).groupby(
            ["week", "cell"], as_index=False)["n"].sum()
    frame = frame.sort_values(["week", "cell"])
    names = cells.to_strings(frame["cell"].to_numpy())
    out = []
    for week, idx in frame.groupby("week", sort=True).indices.items():
        out.append((
            week_start(week).isoformat(),
            [[*hs.cell_centre(names[i], decimals=4), int(n)] for i, n in zip(idx, frame["n"].to_numpy()[idx])],
        ))
    return out, res


def public_hexes(
    session: Session,
    *,
    generation: int,
    label: str,
    categories: tuple[str, ...] | None,
    since: datetime | None = None,
    until: datetime | None = None,
    min_count: int = 5,
    max_cells: int = 1500,
) -> PublicHexes:
    """Hexagon counts with every cell below ``min_count`` dropped (not rounded, not merged)."""
    if min_count < 5:
        raise ValueError("the public suppression threshold is never below 5 reports")
    since, until = default_window(session, since, until)
    outline, bounds = city_outline(session, generation=generation)
    bounds = bounds or (-180.0, -85.0, 180.0, 85.0)
    res = hs.choose_resolution(bounds, max_cells=max_cells)
    flt = ReportFilter(categories=categories, since=since, until=until)
    found = cell_counts(session, flt, res=res, public=True)
    counts = pd.Series(found["n"].to_numpy(), index=cells.to_strings(found["cell"]), dtype="int64")
    kept = counts[counts >= min_count].sort_index()
    return PublicHexes(
        label=label, since=since, until=until, resolution=res, min_count=min_count,
        cells=[(c, int(n)) for c, n in kept.items()], suppressed=int((counts < min_count).sum()), bounds=bounds,
        outline=outline,
    )


def heat_by_group(
    session: Session, *, since: datetime, until: datetime, res: int, public: bool = True
) -> dict[str, list[list[float]]]:
    """Heat points per category group (and ``all``): H3 cell centres [lat, lon, count] at ``res``
    (``public``: sensitive cases at their public cell)."""
    from geo.reports.categories import BY_CODE, GROUPS

    pts = cell_counts(session, ReportFilter(since=since, until=until), res=res, by_category=True, public=public)
    out: dict[str, list[list[float]]] = {g: [] for g in (*GROUPS, "all")}
    if pts.empty:
        return out
    pts["cell"] = cells.to_strings(pts["cell"])
    pts["group"] = pts["category"].map({int(code): cat.group for code, cat in BY_CODE.items()}).fillna("other")
    totals = pts.groupby("cell")["n"].sum()
    centre = {c: hs.cell_centre(c, decimals=4) for c in totals.index}
    out["all"] = [[*centre[c], int(n)] for c, n in totals.items()]
    for (group, cell), n in pts.groupby(["group", "cell"])["n"].sum().items():
        out[group].append([*centre[cell], int(n)])
    return out


def command_center_data(
    session: Session, *, generation: int, now: datetime, since: datetime | None = None,
    until: datetime | None = None, max_cells: int = 1500, public: bool = True, with_areas: bool = True,
) -> CommandCenterData:
    """Gather the command-centre aggregates (open counts are as of ``now``, heat over the
    window; ``public``: sensitive cases in the heat at their public cell). ``with_areas``
    False: no areas (the page draws them from vector tiles, geo.tiles)."""
    from geo.analytics.mapdata import area_status

    since, until = default_window(session, since, until)
    _, bounds = city_outline(session, generation=generation)
    levels = [lv for lv in AreaLevel if lv is not AreaLevel.city]
    areas = area_status(session, generation=generation, levels=levels, now=now, public=public) if with_areas else {}
    # Heat one resolution finer than the analysis grid: blobs need more points than hexagons.
    res = min(hs.MAX_RES, hs.choose_resolution(bounds, max_cells=max_cells) + 1) if bounds else 8
    heat = heat_by_group(session, since=since, until=until, res=res, public=public)
    return CommandCenterData(areas=areas, heat=heat, bounds=bounds, since=since, until=until)
