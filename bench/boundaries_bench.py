"""The planners' workflow on the demo city (4,642 grids, 1 M reports), in one transaction
that is rolled back at the end, so the database is left as it was:

    .venv/bin/python bench/boundaries_bench.py

- import of the full-city redraw (``fixtures.redraw``), then check + diff of the draft
  (target ≤ 10 s), beside the same run's read of every grid as the baseline;
- activation including re-matching the open cases (target ≤ 2 s), beside a plain UPDATE of
  the same open reports;
- statistics of all history under the new boundaries (``restate``: every report's grid in
  the current generation, 1 M reports, target ≤ 60 s), beside the matcher alone on the same
  points and a plain upsert of the same rows.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from rich.progress import Progress
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fixtures.redraw import redraw_demo  # noqa: E402
from geo.access import Principal, Role  # noqa: E402
from geo.boundaries.assignments import PlannedAssignment, plan_assignments  # noqa: E402
from geo.boundaries.checks import check_generation  # noqa: E402
from geo.boundaries.diffs import diff_generations  # noqa: E402
from geo.boundaries.export import read_areas_frame  # noqa: E402
from geo.boundaries.generations import active_generation_id  # noqa: E402
from geo.boundaries.planning import activate  # noqa: E402
from geo.boundaries.redraw import import_boundaries  # noqa: E402
from geo.cityconfig import load_city_config  # noqa: E402
from geo.db import make_engine  # noqa: E402
from geo.matching.matcher import GridMatcher  # noqa: E402
from geo.matching.rule import match_points  # noqa: E402
from geo.models import OPEN_STATUSES, AreaLevel, AssignmentRole, Report, ReportCurrentGrid, Worker  # noqa: E402
from geo.reports.restate import restate_chunk  # noqa: E402
from geo.settings import DatabaseSettings  # noqa: E402


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    config = load_city_config()
    engine = make_engine(DatabaseSettings())
    with engine.connect() as conn:
        session = Session(bind=conn, join_transaction_mode="create_savepoint")
        outer = conn.begin()
        try:
            run(session, config)
        finally:
            session.close()
            outer.rollback()  # the bench changes nothing
    engine.dispose()


def run(session: Session, config) -> None:
    active = active_generation_id(session)
    grids = read_areas_frame(session, generation=active, level=AreaLevel.grid)
    if len(grids) < 1000:
        raise SystemExit("load the full demo first: gridmap demo load")
    redraw = redraw_demo(grids)
    features = redraw.good.assign(row=range(1, len(redraw.good) + 1))
    _, baseline = timed(lambda: read_areas_frame(session, generation=active, level=AreaLevel.grid))
    result, t_import = timed(lambda: import_boundaries(session, features=features, actor="bench"))
    draft = result.generation
    report, t_check = timed(lambda: check_generation(session, generation=draft))
    diff, t_diff = timed(lambda: diff_generations(session, old=active, new=draft, config=config, now=datetime.now(UTC)))
    assert report.ok, report.errors[:3]
    print(f"grids {len(grids):,}; import {t_import:.2f} s ({len(result.added)} added, {len(result.removed)} removed, "
          f"{len(result.redrawn)} redrawn)")
    print(f"check {t_check:.2f} s + diff {t_diff:.2f} s = {t_check + t_diff:.2f} s (target ≤ 10 s); baseline: "
          f"reading every grid {baseline:.2f} s (×{(t_check + t_diff) / baseline:.1f}); "
          f"{sum(len(m['report_ids']) for m in diff.case_moves)} open case(s) would move")

    staff = dict(session.execute(sa.select(Worker.staff_no, Worker.id)).all())
    plan_assignments(session, generation=draft, actor="bench", planned=[
        PlannedAssignment(r.grid_code, staff[r.worker_id], AssignmentRole(r.role), 1)
        for r in redraw.assignments.itertuples()])
    open_ids = list(session.scalars(sa.select(Report.id).where(Report.status.in_(OPEN_STATUSES))))
    _, t_plain = timed(lambda: session.execute(sa.update(Report).where(Report.id.in_(open_ids))
                                               .values(updated_at=Report.updated_at)))
    outcome, t_activate = timed(lambda: activate(session, actor=Principal(Role.planner, holder="bench"), config=config,
                                                 now=datetime.now(UTC)))
    print(f"activation {t_activate:.2f} s (target ≤ 2 s) for {outcome.examined:,} open cases, {outcome.moved} moved; "
          f"baseline: a plain UPDATE of the same {len(open_ids):,} rows {t_plain:.2f} s")

    new = outcome.generation
    matcher, t_build = timed(lambda: GridMatcher.from_session(session, generation=new))
    xy = np.asarray(session.execute(sa.select(sa.func.ST_X(Report.location), sa.func.ST_Y(Report.location))).all())
    _, t_match = timed(lambda: match_points(matcher, xy[:, 0].copy(), xy[:, 1].copy(), fallback=None))
    total = len(xy)
    t0 = time.perf_counter()
    after, written = None, 0
    with Progress() as bar:
        task = bar.add_task(f"restating {total:,} reports", total=total)
        while True:
            chunk = restate_chunk(session, matcher=matcher, generation=new, config=config, after=after)
            if chunk.last_id is None:
                break
            after, written = chunk.last_id, written + chunk.changed
            bar.advance(task, chunk.examined)
    t_restate = time.perf_counter() - t0
    table = ReportCurrentGrid.__table__
    _, t_upsert = timed(lambda: session.execute(
        sa.update(table).values(grid_code=table.c.grid_code)))
    print(f"history under the new boundaries: {total:,} reports in {t_restate:.1f} s (target ≤ 60 s; + matcher build "
          f"{t_build:.1f} s), {written:,} written; baselines: the matcher alone {t_match:.1f} s, a plain UPDATE of "
          f"the same {total:,} rows {t_upsert:.1f} s")


if __name__ == "__main__":
    main()
