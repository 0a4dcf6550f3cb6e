"""Time the full demo load (generate + COPY 1 M reports + indexes) into a scratch database.

    .venv/bin/python bench/load_demo.py [n_reports]

Creates ``gridmap_bench_load`` next to the configured database (from the PostGIS template
that `make db` makes), migrates, loads, loads again (which must skip), prints wall time and
peak memory, and drops the database.
"""

from __future__ import annotations

import resource
import sys
import time

import sqlalchemy as sa
from rich.progress import Progress
from sqlalchemy.engine import make_url

from fixtures.city import CitySpec
from fixtures.load import load_demo
from geo.migrate import upgrade
from geo.settings import DatabaseSettings

DB = "gridmap_bench_load"
TEMPLATE = "gridmap_template"


def main() -> None:
    n_reports = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
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
        for attempt in ("first", "again (must skip)"):
            t = time.perf_counter()
            with Progress() as progress:
                result = load_demo(engine, spec=CitySpec(), n_reports=n_reports, progress=progress)
            print(f"load {attempt}: skipped={result.skipped}, {time.perf_counter() - t:.1f} s wall, counts {result.counts}")
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of this process: {peak_mb:,.0f} MB (limits: 3 min, 4 GiB)")
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {conn.dialect.identifier_preparer.quote(DB)} WITH (FORCE)")
        admin.dispose()


if __name__ == "__main__":
    main()
