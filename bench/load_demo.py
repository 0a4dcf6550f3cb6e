"""Benchmark the full demo load into a scratch database (``gm_helper_bench``, created and kept).

Run: ``/usr/bin/time -v .venv/bin/python bench/load_demo.py [n_reports]``; drop the database
afterwards with ``dropdb -h 127.0.0.1 -U postgres gm_helper_bench``.
"""

from __future__ import annotations

import sys
import time

import sqlalchemy as sa
from rich.progress import Progress

from fixtures.city import CitySpec
from fixtures.load import load_demo
from geo.migrate import upgrade

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/"
DB = "gm_helper_bench"


def main() -> None:
    n_reports = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    admin = sa.create_engine(SERVER + "postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": DB}) is None:
            conn.execute(sa.text(f'CREATE DATABASE "{DB}"'))  # constant name
    admin.dispose()
    engine = sa.create_engine(SERVER + DB)
    t = time.perf_counter()
    upgrade(url=SERVER + DB)
    print(f"migrate: {time.perf_counter() - t:.1f} s")
    for attempt in ("first", "again (should skip)"):
        with Progress() as progress:
            result = load_demo(engine, spec=CitySpec(), n_reports=n_reports, progress=progress)
        print(f"load {attempt}: skipped={result.skipped} {result.seconds:.1f} s counts={result.counts}")
    engine.dispose()


if __name__ == "__main__":
    main()
