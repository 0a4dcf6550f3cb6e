"""Bringing a planner's redrawn level into the draft generation (``gridmap boundaries import``).

Scope: the file's areas replace the areas of the same level under every parent they touch
(a parent is touched when a feature's code names it or its polygon lies mostly in it); the
parent's other children not in the file are removed. ``whole_level`` replaces the whole
level instead (every area of the level not in the file is removed).

Identity is by code: an area whose polygon is unchanged within the re-digitisation tolerance
(symmetric difference < 0.1 % of its area and Hausdorff distance < 0.5 m) keeps its stored
polygon and row; otherwise it is a new version. New polygons are clipped to their parent and
the whole level is noded into a coverage (``geo.boundaries.coverage``), so redrawn areas meet
the carried-forward ones vertex for vertex. Overlaps, gaps and overhangs larger than 1 m² are
recorded as findings (``check`` reports them, activation refuses them) before the cleaning
closes them. The levels above are rebuilt as the union of their children.

New areas without a code get the next free code under their parent; a code is never reused
(codes of areas retired in any generation are refused). Households and population: the
file's values, else an area-weighted estimate from the areas the new one was drawn over,
marked ``estimated``. Nothing here commits: one import is one transaction.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import shapely
import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.boundaries import coverage
from geo.boundaries.drafts import AreaVersion, ensure_draft, write_versions
from geo.boundaries.export import level_frame
from geo.boundaries.findings import finding, gap_finding, outside_finding, overlap_finding
from geo.boundaries.hierarchy import CODE_LENGTH, LEVEL_ORDER, AreaLevel
from geo.boundaries.reading import BoundaryFileError, feature_label
from geo.models import Area
from geo.units import M_PER_DEG_LAT

SYMDIFF_FRACTION = 0.001  # 0.1 % of the area
HAUSDORFF_M = 0.5
IMPORTABLE = (AreaLevel.street, AreaLevel.community, AreaLevel.grid)


@dataclass
class ImportResult:
    generation: int
    level: str
    scope: list[str]
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    redrawn: list[str] = field(default_factory=list)
    kept: int = 0  # codes identical within the tolerance: their stored polygon kept
    numbered: dict[int, str] = field(default_factory=dict)  # file row -> the code given to it
    noise_cleaned: int = 0  # polygons moved by less than the tolerances to share vertices
    estimated: list[str] = field(default_factory=list)
    findings: list[dict] = field(default_factory=list)
    rows_written: int = 0


def same_drawing(new, old) -> bool:
    """True when ``new`` is ``old`` re-digitised: symmetric difference under 0.1 % of the
    area and Hausdorff distance under 0.5 m (degrees scaled by the metres of a degree of
    latitude, the larger axis: conservative)."""
    sym = coverage.planar_m2([shapely.symmetric_difference(new, old)])[0]
    area = coverage.planar_m2([old])[0]
    return sym <= SYMDIFF_FRACTION * area and shapely.hausdorff_distance(new, old) * M_PER_DEG_LAT < HAUSDORFF_M


def _geometric_parents(geoms: np.ndarray, parents: gpd.GeoDataFrame) -> list[str | None]:
    """Per polygon, the parent holding most of its area (None when it lies in none)."""
    tree = shapely.STRtree(parents.geometry.to_numpy())
    src, dst = tree.query(geoms, predicate="intersects")
    share = shapely.area(shapely.intersection(geoms[src], parents.geometry.to_numpy()[dst]))
    best: dict[int, tuple[float, str]] = {}
    for s, d, a in zip(src, dst, share):
        if a > best.get(s, (0.0, ""))[0]:
            best[s] = (a, parents["code"].iloc[d])
    return [best[i][1] if i in best else None for i in range(len(geoms))]


def _used_codes(session: Session, *, level: AreaLevel) -> set[str]:
    """Every code of ``level`` that any generation ever held (codes are never reused)."""
    return set(session.scalars(sa.select(Area.code).where(Area.level == level).distinct()))


def _next_codes(parent: str, used: set[str], n: int, plen: int) -> list[str]:
    taken = [int(c[plen:]) for c in used if c.startswith(parent)]
    start = max(taken, default=0) + 1
    if start + n - 1 > 999:
        raise BoundaryFileError([f"no free codes left under {parent} (the last used is {start - 1:03d})"])
    return [f"{parent}{k:03d}" for k in range(start, start + n)]


def _estimate(geom, old: gpd.GeoDataFrame, tree) -> tuple[int, int]:
    """Households and population of ``geom`` by area weighting over the old areas it covers."""
    idx = tree.query(geom, predicate="intersects")
    if not len(idx):
        return 0, 0
    olds = old.geometry.to_numpy()[idx]
    frac = shapely.area(shapely.intersection(olds, geom)) / np.maximum(shapely.area(olds), 1e-30)
    return (int(round(float((old["households"].to_numpy()[idx] * frac).sum()))),
            int(round(float((old["population"].to_numpy()[idx] * frac).sum()))))


@dataclass
class _Level:
    """One import's working state: the level, its parents and the file's features."""

    level: AreaLevel
    draft: object
    current: gpd.GeoDataFrame  # the level in the draft now
    base: gpd.GeoDataFrame  # the level in the generation the draft is based on
    parents: gpd.GeoDataFrame
    geoms: np.ndarray  # the file's polygons
    codes: list  # the file's codes (None: to be numbered)
    geo_parent: list  # per feature, the parent it lies mostly in

    @property
    def plevel(self) -> AreaLevel:
        return LEVEL_ORDER[LEVEL_ORDER.index(self.level) - 1]

    @property
    def plen(self) -> int:
        return CODE_LENGTH[self.plevel]

    @property
    def parent_geom(self) -> dict:
        return dict(zip(self.parents["code"], self.parents.geometry))


def _check_codes(lv: _Level, used: set[str]) -> list[dict]:
    """Findings about codes (not under their parent's prefix, reparented but kept); raises
    BoundaryFileError for features outside every parent and reused retired codes."""
    live = set(lv.current["code"]) | set(lv.base["code"])  # removed only in the draft is not retired
    problems, findings = [], []
    level, plevel, plen = lv.level, lv.plevel, lv.plen
    for i, (code, gp) in enumerate(zip(lv.codes, lv.geo_parent)):
        label = feature_label(code, i + 1)
        if gp is None:
            problems.append(f"{label}: lies outside every {plevel.value} of the city")
        elif code and code in used and code not in live:
            problems.append(f"{label}: code {code} belonged to an area retired earlier; codes are never reused: "
                            "leave the code empty to have the next free one assigned")
        elif code and code[:plen] != gp:
            kind = "reparented_code" if code in live else "code_prefix"
            msg = (f"{level.value} {code} now lies in {plevel.value} {gp} but kept its code under {code[:plen]}: "
                   f"give it a new code (or leave the code empty) so it is numbered under {gp}"
                   if code in live else
                   f"{level.value} code {code} is not under the prefix of its {plevel.value} {gp}")
            findings.append(finding(kind, msg, level=level, codes=[code], parent=gp, where=lv.geoms[i]))
    if problems:
        raise BoundaryFileError(problems)
    return findings


def _number(lv: _Level, used: set[str]) -> dict[int, str]:
    """Give features without a code the next free codes under their parent, in reading order
    (north to south, west to east). Returns file row -> code."""
    unnamed: dict[str, list[int]] = {}
    for i, code in enumerate(lv.codes):
        if not code:
            unnamed.setdefault(lv.geo_parent[i], []).append(i)
    numbered = {}
    for parent, rows in unnamed.items():
        rows.sort(key=lambda i: (-lv.geoms[i].centroid.y, lv.geoms[i].centroid.x))
        for i, code in zip(rows, _next_codes(parent, used, len(rows), lv.plen)):
            lv.codes[i] = code
            numbered[i + 1] = code
    return numbered


def _drawing_findings(lv: _Level, fixed: gpd.GeoDataFrame, drawn: np.ndarray, scope: set[str]) -> list[dict]:
    """Overlaps, gaps and overhangs of the drawn polygons beyond noise, before cleaning."""
    level, plevel, parent_geom, out = lv.level, lv.plevel, lv.parent_geom, []
    level_codes = list(fixed["code"]) + lv.codes
    for o in coverage.overlaps(np.concatenate([fixed.geometry.to_numpy(), drawn])):
        if o.b >= len(fixed):
            a, b = level_codes[o.a], level_codes[o.b]
            out.append(overlap_finding(level, a, b, o.m2, o.where, parent=b[:lv.plen]))
    for parent in sorted(scope):
        mine = [k for k, gp in enumerate(lv.geo_parent) if gp == parent]
        for gap in coverage.gaps(drawn[mine], parent_geom[parent]):
            out.append(gap_finding(level, plevel, parent, coverage.planar_m2([gap])[0], gap))
    sticking = coverage.outside_all(drawn, [parent_geom[gp] for gp in lv.geo_parent])
    for k, (gp, bad) in enumerate(zip(lv.geo_parent, sticking)):
        if bad is not None:
            out.append(outside_finding(level, plevel, lv.codes[k], gp, coverage.planar_m2([bad])[0], bad))
    return out


def _feature_versions(lv: _Level, features: gpd.GeoDataFrame, cleaned, matched: list, old_by_code: dict,
                      result: ImportResult) -> list[AreaVersion]:
    """The draft's version of each feature: its cleaned polygon, the file's attributes, else
    those of the row its identity matched, else estimates from the active generation's
    households (the ones of record, never an earlier estimate)."""
    base, base_by_code = lv.base, {r.code: r for r in lv.base.itertuples(index=False)}
    tree = shapely.STRtree(base.geometry.to_numpy())
    versions = []
    for k, code in enumerate(lv.codes):
        feat, prev = features.iloc[k], old_by_code.get(code)
        known = matched[k] or prev or base_by_code.get(code)  # what this code was, for defaults
        geom = cleaned[k]
        hh, pop, estimated = feat["households"], feat["population"], False
        if hh is None or pop is None:
            if matched[k] is not None:
                est_hh, est_pop, estimated = matched[k].households, matched[k].population, matched[k].estimated
            else:
                (est_hh, est_pop), estimated = _estimate(geom, base, tree), True
            hh, pop = (est_hh if hh is None else hh), (est_pop if pop is None else pop)
        if estimated:
            result.estimated.append(code)
        name = feat["name"] or (known.name if known is not None else f"{code[:lv.plen]}-{code[lv.plen:]}")
        kind = feat["kind"] or (known.kind if known is not None else _majority_kind(geom, base, tree))
        versions.append(AreaVersion(code, lv.level, name, kind, lv.geo_parent[k], int(hh), int(pop), estimated, geom))
        if prev is None:
            result.added.append(code)
        elif not same_drawing(geom, prev.geometry):
            result.redrawn.append(code)
    return versions


def import_boundaries(session: Session, *, features: gpd.GeoDataFrame, level: AreaLevel = AreaLevel.grid,
                      whole_level: bool = False, actor: str, description: str | None = None) -> ImportResult:
    """Bring ``features`` (from ``reading.read_boundaries``) into the draft as ``level``
    (created from the active generation when there is no draft). See the module docstring
    for scope, identity, numbering and cleaning. Raises BoundaryFileError (nothing written
    survives: the caller rolls back) for a level that cannot be imported, a reused retired
    code, codes running out, or polygons that cannot be noded."""
    if level not in IMPORTABLE:
        raise BoundaryFileError([f"{level.value} boundaries cannot be imported; import grids, communities or "
                                 "streets (the levels above are rebuilt from them)"], field="level")
    draft = ensure_draft(session, actor=actor, description=description)
    plevel = LEVEL_ORDER[LEVEL_ORDER.index(level) - 1]
    parents = level_frame(session, generation=draft.id, level=plevel)
    geoms = features.geometry.to_numpy()
    lv = _Level(level, draft, level_frame(session, generation=draft.id, level=level),
                level_frame(session, generation=draft.based_on, level=level), parents, geoms,
                list(features["code"]), _geometric_parents(geoms, parents))
    used = _used_codes(session, level=level)
    findings = _check_codes(lv, used)
    parent_geom = lv.parent_geom
    scope = set(parents["code"]) if whole_level else set(lv.geo_parent) | {
        c[:lv.plen] for c in lv.codes if c and c[:lv.plen] in parent_geom}
    result = ImportResult(draft.id, level.value, sorted(scope))
    result.numbered = _number(lv, used | {c for c in lv.codes if c})  # nor a code the file gives

    in_scope = lv.current["parent_code"].isin(scope).to_numpy()
    fixed, old = lv.current[~in_scope], lv.current[in_scope]
    old_by_code = {r.code: r for r in old.itertuples(index=False)}
    base_by_code = {r.code: r for r in lv.base.itertuples(index=False)}
    drawn, matched = [], []
    for i, code in enumerate(lv.codes):
        # Identity: the active generation's polygon first (an import after a bad one gets
        # the carried rows back), then the draft's.
        same = next((p for p in (base_by_code.get(code), old_by_code.get(code))
                     if p is not None and same_drawing(geoms[i], p.geometry)), None)
        matched.append(same)
        drawn.append(geoms[i] if same is None else same.geometry)
    result.kept = sum(m is not None for m in matched)
    drawn = np.array(drawn, dtype=object)
    findings += _drawing_findings(lv, fixed, drawn, scope)

    clipped = coverage.to_precision(np.array(
        [coverage.as_multipolygon(shapely.intersection(g, parent_geom[gp])) for g, gp in zip(drawn, lv.geo_parent)],
        dtype=object))
    try:
        cleaned, result.noise_cleaned = coverage.clean_coverage(np.concatenate([fixed.geometry.to_numpy(), clipped]))
    except coverage.CoverageError as exc:
        raise BoundaryFileError([f"the redrawn {level.value}s cannot be noded with their neighbours: {exc}"]) from None

    versions = [AreaVersion(r.code, level, r.name, r.kind, r.parent_code, r.households, r.population, r.estimated, g)
                for r, g in zip(fixed.itertuples(index=False), cleaned[: len(fixed)])]
    versions += _feature_versions(lv, features, cleaned[len(fixed):], matched, old_by_code, result)
    clash = sorted(set(fixed["code"]) & set(lv.codes))
    if clash:  # a grid outside the touched parents has this code (it kept its code when it moved)
        raise BoundaryFileError([f"feature {c}: the code is already used by a {level.value} outside the parents "
                                 "this file touches; give it another code or leave it empty" for c in clash])
    new_codes = set(lv.codes)
    result.removed = sorted(c for c in old_by_code if c not in new_codes)
    result.rows_written = write_versions(session, draft=draft, current=lv.current, versions=versions,
                                         removed=result.removed, base=lv.base)
    result.rows_written += rebuild_parents(session, draft=draft, level=level)

    draft.findings = [f for f in (draft.findings or [])
                      if not (f["level"] == level.value and (whole_level or f.get("parent") in scope))] + findings
    result.findings = findings
    return result


def _majority_kind(geom, old: gpd.GeoDataFrame, tree) -> str | None:
    idx = tree.query(geom, predicate="intersects")
    if not len(idx):
        return None
    share = shapely.area(shapely.intersection(old.geometry.to_numpy()[idx], geom))
    return old["kind"].to_numpy()[idx][int(np.argmax(share))]


def rebuild_parents(session: Session, *, draft, level: AreaLevel) -> int:
    """Rebuild every level above ``level`` in the draft from its children: households and
    population summed (estimated when a child's is), and the polygon the coverage union of
    the children — when that union is the parent's polygon within the 1 m² noise (so the
    parent takes the children's shared vertices). Children that leave a gap or stick out
    (the check's errors) never move a parent's boundary: a broken import must not redraw the
    communities. Returns the rows written (unchanged parents cost nothing)."""
    written = 0
    children = level_frame(session, generation=draft.id, level=level)
    for plevel in reversed(LEVEL_ORDER[: LEVEL_ORDER.index(level)]):
        current = level_frame(session, generation=draft.id, level=plevel)
        groups = children.groupby("parent_code")
        versions, removed = [], []
        for r in current.itertuples(index=False):
            if r.code not in groups.groups:
                removed.append(r.code)
                continue
            kids = groups.get_group(r.code)
            union = coverage.union_coverage(kids.geometry.to_numpy())
            same = coverage.planar_m2([shapely.symmetric_difference(union, r.geometry)])[0] <= coverage.NOISE_M2
            versions.append(AreaVersion(
                r.code, plevel, r.name, r.kind, r.parent_code, int(kids["households"].sum()),
                int(kids["population"].sum()), bool(kids["estimated"].any()), union if same else r.geometry))
        # Parents that kept their polygon and neighbours that took their children's vertices
        # are noded together, so the parent level stays a vertex-exact coverage too.
        noded, _ = coverage.clean_coverage([v.geometry for v in versions])
        versions = [dataclasses.replace(v, geometry=g) for v, g in zip(versions, noded)]
        written += write_versions(session, draft=draft, current=current, versions=versions, removed=removed,
                                  base=level_frame(session, generation=draft.based_on, level=plevel))
        children = level_frame(session, generation=draft.id, level=plevel)
    return written
