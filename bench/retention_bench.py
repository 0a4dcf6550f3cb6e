"""The retention job over a long history: cases anonymised per second, and how long one batch
(one transaction, holding its rows' locks) lasts, against the dry run's count of the same rows.

    .venv/bin/python -m bench.retention_bench [n_reports] [batch]

Creates ``gridmap_bench_retention`` next to the configured database (from the PostGIS template
`make db` makes), loads the small demo district with ``n_reports`` (default 200,000) historical
reports, runs `anonymise` (dry run, then applied) and the audit purge, prints the figures and
drops the database. Seconds depend on the machine; what matters is that batches stay short
(a lock is held for one batch, never for the whole run) and throughput is flat.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from fixtures.city import SMALL_CITY
from fixtures.load import load_demo
from geo.access.retention import anonymise, purge_audit
from geo.cityconfig import load_city_config
from geo.migrate import upgrade
from geo.models import Report
from geo.settings import DatabaseSettings

DB = "gridmap_bench_retention"
TEMPLATE = "gridmap_template"


def main() -> None:
    n_reports = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    base = make_url(DatabaseSettings().url)
    admin = sa.create_engine(base.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    url = base.set(database=DB).render_as_string(hide_password=False)
    with admin.connect() as conn:
        q = conn.dialect.identifier_preparer.quote
        # Identifiers cannot be bound; both are constants of this script.
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {q(DB)} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {q(DB)} TEMPLATE {q(TEMPLATE)}")
    engine = sa.create_engine(url)
    try:
        upgrade(url=url)
        t = time.perf_counter()
        load_demo(engine, spec=SMALL_CITY,
                  n_reports=n_reports)
        print(f"loaded {n_reports:,} reports in {time.perf_counter() - t:.1f} s")
        config, now = load_city_config(), datetime.now(UTC)
        with Session(engine) as s:
            t = time.perf_counter()
            plan = anonymise(s, config=config, now=now)
            dry_s = time.perf_counter() - t
            s.commit()
            print(f"dry run: {plan.due:,} cases due {plan.by_status} in {dry_s:.2f} s")
            stamps = [time.perf_counter()]
            done = anonymise(s, config=config, now=now, apply=True, batch=batch,
                             progress=lambda n: stamps.append(time.perf_counter()))
            spans = [b - a for a, b in zip(stamps, stamps[1:])]
            total = stamps[-1] - stamps[0]
            print(f"applied: {done.done:,} cases in {total:.1f} s ({done.done / max(total, 1e-9):,.0f} cases/s), "
                  f"{len(spans)} batches of {batch}: median {sorted(spans)[len(spans) // 2]:.3f} s, "
                  f"longest {max(spans):.3f} s")
            left = s.scalar(sa.select(sa.func.count()).where(Report.reporter_phone.is_not(None)))
            print(f"reporters still held (open, resolved or recent cases): {left:,}")
            t = time.perf_counter()
            p = purge_audit(s, config=config, now=now, apply=True)
            print(f"audit purge: {p.deleted} rows in {time.perf_counter() - t:.2f} s")
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {conn.dialect.identifier_preparer.quote(DB)} WITH (FORCE)")
        admin.dispose()


if __name__ == "__main__":
    main()
