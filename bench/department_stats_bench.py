"""How long ``GET /api/v1/stats?level=department`` takes to count (``department_stats``) on a
city-sized trail: N closed reports (default 1,000,000) of five events each, one in twenty
also transferred to one of the demo's six departments and accepted there (two events more).

Makes a throwaway database next to GRIDMAP_DATABASE_URL's, fills it with one INSERT … SELECT
per table (generate_series: no Python loop), times the figures over all history and over
the public window (the last 366 days), five runs each, and drops the database.

    .venv/bin/python bench/department_stats_bench.py [--reports N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geo.cityconfig import load_city_config  # noqa: E402
from geo.departments.stats import department_stats  # noqa: E402
from geo.migrate import upgrade  # noqa: E402
from geo.models import Report, ReportEvent  # noqa: E402
from geo.settings import DatabaseSettings  # noqa: E402

H3_CELL = 622370465866907647  # a resolution-10 cell (reports.h3_cell's check)
EVERY = 20  # one report in twenty goes to a department


def fill(conn, *, n: int, codes: list[str], now: datetime) -> None:
    """``n`` closed reports and their trails, in two statements."""
    i = sa.func.generate_series(1, n).table_valued(sa.column("i", sa.Integer)).render_derived(name="g")
    rid = sa.cast(sa.func.md5(sa.cast(i.c.i, sa.Text)), sa.Uuid)
    day = sa.func.make_interval(0, 0, 0, i.c.i % 300)  # years, months, weeks, days
    held = (i.c.i % EVERY) == 0
    dept = sa.func.split_part(",".join(codes), ",", 1 + (i.c.i // EVERY) % len(codes))
    reported = sa.literal(now) - day
    conn.execute(sa.insert(Report).from_select(
        ["id", "category", "subcategory", "description", "source", "location", "h3_cell", "reported_at", "status",
         "escalation_level", "return_count", "photos", "closed_at", "rating", "department_code"],
        sa.select(rid, sa.literal("30"), sa.literal("3001"), sa.literal(""), sa.cast(sa.literal("citizen"), Report.source.type),
                  sa.func.ST_SetSRID(sa.func.ST_MakePoint(116.405, 39.915), 4326), sa.literal(H3_CELL), reported,
                  sa.cast(sa.literal("closed"), Report.status.type), sa.literal(0), sa.literal(0), sa.cast(sa.literal("[]"), Report.photos.type),
                  reported + sa.literal(timedelta(hours=5)), 1 + i.c.i % 5, sa.case((held, dept)))))
    plain = ["register", "dispatch", "start", "resolve", "close"]
    moved = ["register", "dispatch", "transfer", "accept", "start", "resolve", "close"]
    steps = sa.func.unnest(sa.case((held, sa.literal(moved, sa.ARRAY(sa.Text))),
                                   else_=sa.literal(plain, sa.ARRAY(sa.Text)))).table_valued(
        sa.column("action", sa.Text), with_ordinality="k").render_derived(name="steps").lateral()
    data = sa.case((steps.c.action.in_(["transfer", "accept"]), sa.func.jsonb_build_object("department", dept)),
                   else_=sa.cast(sa.literal("{}"), ReportEvent.data.type))
    conn.execute(sa.insert(ReportEvent).from_select(
        ["report_id", "at", "action", "actor", "data"],
        sa.select(rid, reported + sa.func.make_interval(0, 0, 0, 0, sa.cast(steps.c.k, sa.Integer)), steps.c.action, sa.literal("system"), data)
        .select_from(i.join(steps, sa.true()))))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reports", type=int, default=1_000_000)
    args = ap.parse_args()
    base = make_url(DatabaseSettings().url)
    name = f"gridmap_deptstats_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        template = conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = 'gridmap_template'"))
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"' + (' TEMPLATE "gridmap_template"' if template else ""))
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url=url)
        engine = sa.create_engine(url)
        config, now = load_city_config(), datetime.now(UTC)
        t = time.perf_counter()
        with engine.begin() as conn:
            fill(conn, n=args.reports, codes=[d.code for d in config.departments], now=now)
            conn.exec_driver_sql("ANALYZE reports")
            conn.exec_driver_sql("ANALYZE report_events")
            events = conn.scalar(sa.select(sa.func.count()).select_from(ReportEvent))
        print(f"{args.reports:,} reports, {events:,} events, {args.reports // EVERY:,} transfers "
              f"(loaded in {time.perf_counter() - t:.0f} s)")
        for label, window in (("all history", {}), ("the last 366 days", {"since": now - timedelta(days=366),
                                                                          "until": now})):
            times = []
            for _ in range(5):
                with Session(engine) as session:
                    t = time.perf_counter()
                    rows = department_stats(session, config=config, now=now, **window)
                    times.append(time.perf_counter() - t)
            print(f"department_stats over {label}: median {statistics.median(times) * 1000:,.0f} ms, "
                  f"best {min(times) * 1000:,.0f} ms (5 runs; {sum(r.received for r in rows):,} receptions)")
        engine.dispose()
        return 0
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
