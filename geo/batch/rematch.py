"""`batch rematch`: the open cases of the archive re-matched on Dask, planned and applied
with geo.reports.rematch's rules.

The cluster matches the archived open cases (``match_archive`` with the open statuses); the
client then reads each one's current row from PostgreSQL (by id, in chunks) and plans it
with ``plan_from_matches``, the same code ``plan_rematch`` uses, so the plan is the one
``plan_rematch`` makes for the same cases. A case closed since the archive was written is
left out (a closed case keeps its grid, always); a case reported since is not in the
archive (archive again first: the archive's watermark says how fresh it is).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import sqlalchemy as sa
from distributed import Client
from sqlalchemy.orm import Session

from geo.batch.match import match_archive, result_tables
from geo.matching.matcher import GridMatcher
from geo.models import OPEN_STATUSES, Report
from geo.reports.rematch import RematchPlan, plan_from_matches

CHUNK = 50_000  # reports planned (and applied) per transaction, as rematch_chunk does


def open_matches(client: Client, session: Session, *, parts: Sequence[Path], matcher: GridMatcher,
                 generation: int, snap_tolerance_m: float, work_dir: Path,
                 progress: Callable[[str], None] | None = None, ship_dir: Path | None = None) -> dict[uuid.UUID, tuple]:
    """Report id -> (grid_code, match_kind, snap_distance_m) for every archived open case
    (matched into ``work_dir``, which the workers and the client share)."""
    rows = match_archive(client, session, parts=parts, matcher=matcher, generation=generation,
                         snap_tolerance_m=snap_tolerance_m, out=work_dir, statuses=[s.value for s in OPEN_STATUSES],
                         progress=progress, ship_dir=ship_dir)
    out: dict[uuid.UUID, tuple] = {}
    for table in result_tables(work_dir, rows):  # the open cases are a small share of the archive
        cols = [table.column(c).to_pylist() for c in ("id", "grid_code", "match_kind", "snap_distance_m")]
        out.update((uuid.UUID(i), (c, k, s)) for i, c, k, s in zip(*cols))
    return out


def batch_plans(session: Session, *, matches: dict[uuid.UUID, tuple], generation: int,
                chunk: int = CHUNK) -> Iterator[RematchPlan]:
    """Plans in report id order, ``chunk`` cases each, for the cases still open now."""
    ids = sorted(matches)
    for start in range(0, len(ids), chunk):
        rows = session.execute(
            sa.select(Report.id, Report.grid_code, Report.status, Report.escalation_level, Report.department_code)
            .where(Report.id.in_(ids[start:start + chunk]), Report.status.in_(OPEN_STATUSES)).order_by(Report.id)
        ).all()
        if not rows:
            continue
        found = [matches[r[0]] for r in rows]
        yield plan_from_matches(session, generation=generation, rows=[tuple(r) for r in rows],
                                codes=[m[0] for m in found], kinds=[m[1] for m in found],
                                snaps=[m[2] for m in found])


def plan_table(plan: RematchPlan) -> pa.Table:
    """A plan as a table (one row per examined case; ``moved``: its grid changes)."""
    r = plan.reports
    return pa.table({
        "id": pa.array([str(x.report_id) for x in r], pa.string()),
        "status": pa.array([x.status.value for x in r], pa.string()),
        "from_code": pa.array([x.from_code for x in r], pa.string()),
        "grid_code": pa.array([x.grid_code for x in r], pa.string()),
        "match_kind": pa.array([x.kind for x in r], pa.string()),
        "snap_distance_m": pa.array([x.snap_distance_m for x in r], pa.float64()),
        "worker_id": pa.array([x.worker_id for x in r], pa.int64()),
        "moved": pa.array(np.array([x.moved for x in r], dtype=bool)),
        "generation_id": pa.array(np.full(len(r), plan.generation, dtype=np.int32)),
    })
