"""Roster-derived routing vs the stored on_duty flag, in one process, on the demo city.

    .venv/bin/python bench/roster_bench.py [--repeats 15]

Intake asks ``geo.reports.routing.responsible_workers`` for the grids of every pass. Since
rosters, it judges duty by the roster rule at the pass's moment (``clock``) instead of reading
the flag. This times both, interleaved, on grids drawn from the demo (GRIDMAP_DATABASE_URL):
the routing call alone for passes of 1, 64, 1,000 and 4,000 grids, and a whole in-process
intake pass (``submit_batch``, rolled back) of 1 and 1,000 reports, at two moments of the
demo's week: a weekday morning (everyone's shift running, some leaves with covers) and
``DEMO_END`` (the tests' Monday 09:30).
Prints medians and the rule / flag ratio. A demo loaded before rosters existed gets the
demo's roster first (fixtures.roster), committed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fixtures import DEMO_END  # noqa: E402
from fixtures.roster import generate_roster, load_roster  # noqa: E402
from geo.boundaries.generations import active_generation_id, valid_in  # noqa: E402
from geo.cityconfig import CityConfig  # noqa: E402
from geo.db import make_engine  # noqa: E402
from geo.matching.matcher import matcher_for  # noqa: E402
from geo.models import Area, AreaLevel, Assignment, ReportSource, RosterShift, Worker  # noqa: E402
from geo.reports import registration  # noqa: E402
from geo.reports.intake import ReportInput  # noqa: E402
from geo.reports.routing import responsible_workers  # noqa: E402
from geo.rosters.rules import DutyClock  # noqa: E402
from geo.settings import DatabaseSettings  # noqa: E402

CONFIG = CityConfig(timezone="Asia/Shanghai")


def ensure_roster(session: Session) -> str:
    if session.scalar(sa.select(sa.func.count()).select_from(RosterShift)):
        return "the demo's roster as loaded"
    workers = pd.DataFrame(session.execute(sa.select(Worker.staff_no, Worker.role)).all(), columns=["staff_no", "role"])
    workers["role"] = workers["role"].map(lambda r: getattr(r, "value", r))
    assignments = pd.DataFrame(session.execute(
        sa.select(Worker.staff_no, Assignment.area_code, Assignment.role, Assignment.rank)
        .join(Worker, Worker.id == Assignment.worker_id).where(Assignment.ended_at.is_(None))).all(),
        columns=["staff_no", "area_code", "role", "rank"])
    assignments["role"] = assignments["role"].map(lambda r: getattr(r, "value", r))
    shifts, exceptions = generate_roster(workers, assignments, seed=0)
    ids = {r.staff_no: r.id for r in session.execute(sa.select(Worker.staff_no, Worker.id))}
    load_roster(session, ids=ids, shifts=shifts, exceptions=exceptions, now=DEMO_END)
    session.commit()
    return f"added the demo's roster ({len(shifts):,} shifts, {len(exceptions):,} exceptions)"


def timed(fn, repeats: int) -> float:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    engine = make_engine(DatabaseSettings(), statement_timeout=False)
    with Session(engine) as session:
        print(ensure_roster(session))
        gen = active_generation_id(session)
        grids = session.scalars(sa.select(Area.code).where(Area.level == AreaLevel.grid, valid_in(Area, gen))
                                .order_by(Area.code)).all()
    box = (122.03, 41.10, 122.11, 41.15)  # the intake bench's points (bench/ingest_bench.py): the urban core
    rng = np.random.default_rng(14)
    local = DEMO_END.astimezone(CONFIG.tz)
    monday = local - timedelta(days=local.isoweekday() - 1)
    moments = {"weekday 10:00": monday + timedelta(days=1, hours=10), "DEMO_END (Sunday 00:00)": DEMO_END}
    print(f"{len(grids):,} grids; medians of {args.repeats} interleaved runs (ms); rule / flag")
    with engine.connect() as conn:
        session = Session(bind=conn)
        generation, matcher = matcher_for(session)  # built once, outside the timings
        for label, now in moments.items():
            clock = DutyClock.of(now, CONFIG.tz)
            with_cover = sum(1 for w in responsible_workers(session, grid_codes=grids, clock=clock).values()
                             if w is not None and w.on_duty)
            print(f"at {label}: {with_cover:,} of {len(grids):,} grids routed to someone on duty")
            for n in (1, 64, 1000, 4000):
                sample = list(rng.choice(grids, n, replace=False))
                responsible_workers(session, grid_codes=sample)
                responsible_workers(session, grid_codes=sample, clock=clock)  # warm both
                flag = rule = 0.0
                fl, ru = [], []
                for _ in range(args.repeats):
                    fl.append(timed(lambda s=sample: responsible_workers(session, grid_codes=s), 1))
                    ru.append(timed(lambda s=sample: responsible_workers(session, grid_codes=s, clock=clock), 1))
                flag, rule = statistics.median(fl), statistics.median(ru)
                print(f"  routing {n:>5} grids: flag {flag:7.2f}  rule {rule:7.2f}  ratio {rule / flag:.2f}")
            for n in (1, 1000):
                fl, ru = [], []
                for _ in range(max(3, args.repeats // 3)):
                    fl.append(intake_pass(conn, box, n, now, rng, rule=False))
                    ru.append(intake_pass(conn, box, n, now, rng, rule=True))
                flag, rule = statistics.median(fl), statistics.median(ru)
                print(f"  intake pass {n:>4} reports: flag {flag:7.2f}  rule {rule:7.2f}  ratio {rule / flag:.2f}")
        session.close()
    engine.dispose()
    return 0


def intake_pass(conn, box, n: int, now, rng, *, rule: bool) -> float:
    """One submit_batch of ``n`` reports at random points of the city, rolled back (ms)."""
    items = [(k, ReportInput(id=uuid.uuid4(), category="30", subcategory="3001", description="roster bench",
                             source=ReportSource.citizen, x=float(box[0] + rng.random() * (box[2] - box[0])),
                             y=float(box[1] + rng.random() * (box[3] - box[1])), reported_at=now))
             for k in range(n)]
    original = registration.responsible_workers
    if not rule:  # the stored flag: what intake read before rosters
        registration.responsible_workers = lambda session, *, grid_codes, clock=None: original(
            session, grid_codes=grid_codes)
    tx = conn.begin_nested()
    try:
        session = Session(bind=conn, join_transaction_mode="create_savepoint")
        t = time.perf_counter()
        registration.submit_batch(session, items=items, config=CONFIG, now=now)
        elapsed = (time.perf_counter() - t) * 1000
        session.close()
    finally:
        tx.rollback()
        registration.responsible_workers = original
    return elapsed


if __name__ == "__main__":
    sys.exit(main())
