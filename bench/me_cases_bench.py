"""Latency of a worker's queue (GET /api/v1/me/cases) on the loaded demo city: the full answer
(200, with the audit of its personal read) and the revalidation a phone makes (If-None-Match:
304, no body), for the demo worker carrying the most open cases (and a department's desk,
when the demo holds cases at departments). The target: p50 ≤ 20 ms.

In-process (the app over a TestClient) with every request on one connection inside one
transaction that is rolled back at the end, so the worker token it issues and the audit rows
never reach the database: a shared benchmark database stays as it was (and open, if it was).

    GRIDMAP_DATABASE_URL=postgresql+psycopg://gridmap:gridmap@127.0.0.1:5432/gridmap_bench \\
        .venv/bin/python bench/me_cases_bench.py --rounds 200
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.ratelimit import RateLimitSettings  # noqa: E402
from api.settings import ApiSettings  # noqa: E402
from geo.access.roles import Principal, Role  # noqa: E402
from geo.access.tokens import issue_token  # noqa: E402
from geo.db import make_engine  # noqa: E402
from geo.models import OPEN_STATUSES, Report, Worker  # noqa: E402
from geo.settings import DatabaseSettings  # noqa: E402


def busiest(session: Session, *, department: bool) -> tuple[int, str, str | None] | None:
    """(worker id, staff_no, department) of the worker with the most open cases in their queue:
    among grid workers, or among department staff."""
    open_ = Report.status.in_(OPEN_STATUSES)
    if department:
        row = session.execute(
            sa.select(Worker.id, Worker.staff_no, Worker.department_code)
            .join(Report, sa.and_(open_, Report.department_code == Worker.department_code))
            .where(Worker.department_code.is_not(None))
            .group_by(Worker.id).order_by(sa.func.count().desc(), Worker.id).limit(1)).first()
    else:
        row = session.execute(
            sa.select(Worker.id, Worker.staff_no, Worker.department_code)
            .join(Report, sa.and_(open_, Report.assigned_worker_id == Worker.id))
            .group_by(Worker.id).order_by(sa.func.count().desc(), Worker.id).limit(1)).first()
    return tuple(row) if row else None


# What the queue would use instead of scanning every open case (a migration, if adopted).
PROPOSED_INDEX = sa.Index("ix_reports_open_assigned", Report.assigned_worker_id,
                          postgresql_where=Report.status.in_(OPEN_STATUSES))


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200, help="requests per path and worker")
    parser.add_argument("--with-index", action="store_true", help=(
        "first create PROPOSED_INDEX inside the rolled-back transaction (it locks writes to reports until the "
        "run ends: only on a database of your own)"))
    args = parser.parse_args()
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.deps import get_session, get_session_opener

    engine = make_engine(DatabaseSettings())
    conn = engine.connect()
    outer = conn.begin()
    session = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        workers = [w for w in (busiest(session, department=False), busiest(session, department=True)) if w]
        if not workers:
            print("load the demo city first (`gridmap demo load`): no worker has an open case")
            return 1
        if args.with_index:
            PROPOSED_INDEX.create(session.connection())
        open_cases = session.scalar(sa.select(sa.func.count()).where(Report.status.in_(OPEN_STATUSES)))
        app = create_app(engine=engine, api_settings=ApiSettings(escalation_interval_s=0, intake_batching=False),
                         rate_settings=RateLimitSettings(enabled=False))
        app.dependency_overrides[get_session] = lambda: session
        app.dependency_overrides[get_session_opener] = lambda: (lambda: nullcontext(session))
        print(f"demo: {open_cases:,} open cases; {args.rounds} requests per path"
              + ("; with the proposed index" if args.with_index else ""))
        print(f"{'worker':<28} {'cases':>5} {'path':<5} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'bytes':>7}")
        with TestClient(app) as client:
            app.state.authenticator._sessionmaker = lambda: nullcontext(session)
            for wid, staff_no, dept in workers:
                token = issue_token(session, role=Role.worker, name=f"bench {staff_no}", worker_id=wid,
                                    actor=Principal(Role.admin, holder="bench")).token
                session.flush()
                h = {"Authorization": f"Bearer {token}"}
                first = client.get("/api/v1/me/cases", headers=h)  # warm: token lookup, caches
                assert first.status_code == 200, first.text[:300]
                n, etag, size = first.json()["total"], first.headers["etag"], len(first.content)
                times: dict[str, list[float]] = {"200": [], "304": [], "healthz": []}
                for _ in range(args.rounds):  # interleaved: drift (the machine's load) affects each alike
                    for path, url, extra in (("200", "/api/v1/me/cases", {}),
                                             ("304", "/api/v1/me/cases", {"If-None-Match": etag}),
                                             ("healthz", "/healthz", {})):
                        t = time.perf_counter()
                        r = client.get(url, headers={**h, **extra})
                        times[path].append((time.perf_counter() - t) * 1000)
                        assert r.status_code == (200 if path == "healthz" else int(path)), (path, r.status_code)
                label = f"{staff_no}" + (f" ({dept})" if dept else "")
                for path, ts in times.items():
                    print(f"{label:<28} {n:>5} {path:<5} {pct(ts, 50):>7.2f} {pct(ts, 90):>7.2f} {pct(ts, 99):>7.2f} "
                          f"{size if path == '200' else '':>7}")
    finally:
        session.close()
        outer.rollback()
        conn.close()
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
