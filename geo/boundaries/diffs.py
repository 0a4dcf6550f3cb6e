"""``gridmap boundaries diff``: what a generation (the draft) changes against another (the
active one) — areas added, removed, reshaped, renamed, reparented; households moved; the
open cases that will change grid and worker; grids left without a worker; each worker's load
before and after. Read-only: the workers after activation are worked out inside a savepoint
that is rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import shapely
import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.boundaries import coverage
from geo.boundaries.assignments import apply_assignments, unstaffed_grids
from geo.boundaries.export import level_frame
from geo.boundaries.generations import valid_in
from geo.boundaries.hierarchy import LEVEL_ORDER, AreaLevel
from geo.cityconfig import CityConfig
from geo.matching.matcher import PLANNING_CELL_M, GridMatcher
from geo.models import OPEN_STATUSES, Area, Assignment, AssignmentRole, Report, Worker
from geo.reports.rematch import rematch_plans

CHANGE_KINDS = ("added", "removed", "reshaped", "renamed", "reparented")


@dataclass
class Diff:
    old: int
    new: int
    changes: list[dict] = field(default_factory=list)  # one per changed area; ``changes``: its kinds
    unchanged: dict[str, int] = field(default_factory=dict)
    households_moved: list[dict] = field(default_factory=list)
    case_moves: list[dict] = field(default_factory=list)  # per (from grid, to grid, from worker, to worker)
    unstaffed: list[str] = field(default_factory=list)
    workers: list[dict] = field(default_factory=list)  # load before/after, workers whose load changes

    def counts(self) -> dict:
        """How many areas of each level changed in each way, and the case moves."""
        out: dict = {}
        for c in self.changes:
            for kind in c["changes"]:
                out.setdefault(c["level"], {}).setdefault(kind, 0)
                out[c["level"]][kind] += 1
        for level, n in self.unchanged.items():
            out.setdefault(level, {})["unchanged"] = n
        return {"areas": out, "open_cases_moving": sum(len(m["report_ids"]) for m in self.case_moves),
                "grids_without_worker": len(self.unstaffed), "workers_affected": len(self.workers)}

    def as_json(self) -> dict:
        return {"old": self.old, "new": self.new, "counts": self.counts(),
                "changes": [{k: v for k, v in c.items() if not k.endswith("_geometry")} for c in self.changes],
                "households_moved": self.households_moved, "case_moves": self.case_moves,
                "grids_without_worker": self.unstaffed, "workers": self.workers}

    def as_geojson(self) -> dict:
        """Changed areas: the new outline (``version`` new), and the old one of removed and
        reshaped areas (``version`` old). EPSG:4326."""
        feats = []
        for c in self.changes:
            props = {k: v for k, v in c.items() if not k.endswith("_geometry")}
            props["changes"] = ", ".join(c["changes"])
            for version in ("old", "new"):
                geom = c.get(f"{version}_geometry")
                if geom is not None and (version == "new" or {"removed", "reshaped"} & set(c["changes"])):
                    feats.append({"type": "Feature", "geometry": shapely.geometry.mapping(geom),
                                  "properties": {**props, "version": version}})
        return {"type": "FeatureCollection", "features": feats}


def _area_changes(old, new, level: AreaLevel) -> tuple[list[dict], int]:
    olds = {r.code: r for r in old.itertuples(index=False)}
    news = {r.code: r for r in new.itertuples(index=False)}
    changes, unchanged = [], 0
    for code in sorted(olds.keys() | news.keys()):
        o, n = olds.get(code), news.get(code)
        kinds, extra = [], {}
        if o is None:
            kinds.append("added")
        elif n is None:
            kinds.append("removed")
        else:
            if not shapely.equals_exact(shapely.normalize(o.geometry), shapely.normalize(n.geometry), 0):
                area_old, area_new = coverage.planar_m2([o.geometry, n.geometry])
                sym = coverage.planar_m2([shapely.symmetric_difference(o.geometry, n.geometry)])[0]
                if sym > coverage.NOISE_M2:
                    kinds.append("reshaped")
                    extra = {"area_change_m2": round(float(area_new - area_old), 1), "symdiff_m2": round(float(sym), 1)}
            if o.name != n.name:
                kinds.append("renamed")
            if o.parent_code != n.parent_code:
                kinds.append("reparented")
        if not kinds:
            unchanged += 1
            continue
        changes.append({
            "level": level.value, "code": code, "changes": kinds, **extra,
            "old_name": o.name if o is not None else None, "new_name": n.name if n is not None else None,
            "old_parent": o.parent_code if o is not None else None, "new_parent": n.parent_code if n is not None else None,
            "households_before": int(o.households) if o is not None else None,
            "households_after": int(n.households) if n is not None else None,
            "estimated": bool(n.estimated) if n is not None else False,
            "old_geometry": o.geometry if o is not None else None, "new_geometry": n.geometry if n is not None else None,
        })
    return changes, unchanged


def _households_moved(old, new, changed: set[str]) -> list[dict]:
    """Households and population flowing from old grids to differently coded new ones
    (area-weighted), for the grids that changed."""
    olds = old[old["code"].isin(changed)]
    news = new[new["code"].isin(changed)]
    if olds.empty or news.empty:
        return []
    tree = shapely.STRtree(news.geometry.to_numpy())
    src, dst = tree.query(olds.geometry.to_numpy(), predicate="intersects")
    og, ng = olds.geometry.to_numpy()[src], news.geometry.to_numpy()[dst]
    frac = shapely.area(shapely.intersection(og, ng)) / np.maximum(shapely.area(og), 1e-30)
    out = []
    for s, d, f in zip(src, dst, frac):
        o, n = olds.iloc[s], news.iloc[d]
        hh = int(round(o["households"] * f))
        if o["code"] != n["code"] and f > 1e-4 and hh > 0:
            out.append({"from": o["code"], "to": n["code"], "households": hh,
                        "population": int(round(o["population"] * f))})
    return sorted(out, key=lambda m: (m["from"], m["to"]))


def _worker_load(session: Session, *, generation: int) -> dict[int, dict]:
    rows = session.execute(
        sa.select(Assignment.worker_id, sa.func.count(), sa.func.coalesce(sa.func.sum(Area.households), 0))
        .join(Area, sa.and_(Area.code == Assignment.area_code, valid_in(Area, generation)))
        .where(Assignment.role == AssignmentRole.primary, Assignment.ended_at.is_(None), Area.level == AreaLevel.grid)
        .group_by(Assignment.worker_id)
    ).all()
    return {w: {"grids": int(n), "households": int(hh)} for w, n, hh in rows}


def _open_cases(session: Session) -> dict[int, int]:
    return dict(session.execute(
        sa.select(Report.assigned_worker_id, sa.func.count()).where(
            Report.status.in_(OPEN_STATUSES), Report.assigned_worker_id.is_not(None))
        .group_by(Report.assigned_worker_id)).all())


def diff_generations(session: Session, *, old: int, new: int, config: CityConfig, now: datetime) -> Diff:
    """What activating ``new`` changes against ``old`` (see the module docstring). Open
    cases are re-matched with the rule intake uses, against ``new``'s grids."""
    diff = Diff(old, new)
    for level in LEVEL_ORDER:
        a, b = level_frame(session, generation=old, level=level), level_frame(session, generation=new, level=level)
        changes, diff.unchanged[level.value] = _area_changes(a, b, level)
        diff.changes += changes
        if level == AreaLevel.grid:
            diff.households_moved = _households_moved(a, b, {c["code"] for c in changes})
    before_load, before_open = _worker_load(session, generation=old), _open_cases(session)
    matcher = GridMatcher.from_session(session, generation=new, cell_m=PLANNING_CELL_M)
    savepoint = session.begin_nested()
    try:
        apply_assignments(session, generation=new, now=now)
        after_load = _worker_load(session, generation=new)
        moves: dict[tuple, list[str]] = {}
        for plan in rematch_plans(session, matcher=matcher, generation=new, config=config):
            moved = plan.moves
            current = dict(session.execute(sa.select(Report.id, Report.assigned_worker_id).where(
                Report.id.in_([r.report_id for r in moved]))).all()) if moved else {}
            for r in moved:
                was = current.get(r.report_id)
                moves.setdefault((r.from_code, r.grid_code, was, r.worker_id or was), []).append(str(r.report_id))
        diff.unstaffed = unstaffed_grids(session, generation=new)
    finally:
        savepoint.rollback()
    after_open = dict(before_open)
    for (_, _, was, now_w), ids in moves.items():
        if was != now_w:
            if was is not None:
                after_open[was] = after_open.get(was, 0) - len(ids)
            if now_w is not None:
                after_open[now_w] = after_open.get(now_w, 0) + len(ids)
    diff.case_moves = [{"from": f, "to": t, "from_worker": w0, "to_worker": w1, "report_ids": sorted(ids)}
                       for (f, t, w0, w1), ids in sorted(moves.items(), key=lambda kv: (kv[0][0] or "", kv[0][1] or ""))]
    ids = (before_load.keys() | after_load.keys() | before_open.keys() | after_open.keys())
    names = dict(session.execute(sa.select(Worker.id, Worker.public_name).where(Worker.id.in_(ids))).all()) if ids else {}
    zero = {"grids": 0, "households": 0}
    for w in sorted(ids):
        b = {**before_load.get(w, zero), "open_cases": before_open.get(w, 0)}
        a = {**after_load.get(w, zero), "open_cases": after_open.get(w, 0)}
        if a != b:
            diff.workers.append({"worker_id": w, "public_name": names.get(w), "before": b, "after": a})
    return diff
