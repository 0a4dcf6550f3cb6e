"""Grow a demo-loaded database into years of older history, for bench/history_bench.py.

    GRIDMAP_DATABASE_URL=... .venv/bin/python bench/history_load.py [--copies 19]

Needs `gridmap demo load` (two years of reports, ~1 M) in that database first. Copy k (1..copies)
is every demo report again, its times shifted back by k x 732 days, with a new id derived from the
original's (md5 of id and k, so a re-run finds what it did and the trail copies follow their
report) and the report's trail copied with it. Old history is closed: a copy of a case that is still
open is closed three days after it was reported. Each copy is one transaction (INSERT ... SELECT in
the server, no rows through Python), so an interrupted run keeps whole copies and the next one goes
on from there. The secondary indexes of `reports` are dropped while copying and rebuilt after (as a
bulk load would), and so are the foreign keys of reports and its trail, then VACUUM ANALYZE (this machine's cluster runs with autovacuum off).
19 copies: ~19 M more reports, ~3.8 M more trail rows; prints the database size before and after.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from cli.common import progress  # noqa: E402
from geo.db import make_engine  # noqa: E402
from geo.models import Report, ReportEvent  # noqa: E402
from geo.reports.maintenance import vacuum_reports  # noqa: E402
from geo.settings import DatabaseSettings  # noqa: E402

SPAN = timedelta(days=732)  # longer than the demo's two years, so copies never overlap it or each other
OPEN = ("registered", "dispatched", "in_progress")
SHIFTED = ("reported_at", "dispatched_at", "due_at", "resolved_at", "closed_at", "created_at", "rated_at",
           "updated_at", "department_accepted_at")
R, E = Report.__table__, ReportEvent.__table__


def copy_id(column, k: int):
    """The id of copy ``k`` of the report whose id is ``column``: md5(id || ':k') as a uuid."""
    return sa.cast(sa.func.md5(sa.cast(column, sa.Text) + sa.literal(f":{k}")), UUID(as_uuid=True))


def originals(latest):
    """The demo's own reports: those of the last SPAN (every copy is older)."""
    return R.c.reported_at > latest - SPAN


def copy_reports(conn, k: int, latest, last_event: int) -> int:
    shift = SPAN * k
    cols = {c.name: c for c in R.c}
    values = dict(cols)
    for name in SHIFTED:
        values[name] = cols[name] - shift
    values["id"] = copy_id(R.c.id, k)
    values["duplicate_of"] = sa.case((R.c.duplicate_of.is_(None), None), else_=copy_id(R.c.duplicate_of, k))
    values["suggested_duplicates"] = sa.null()
    is_open = R.c.status.in_(OPEN)
    values["status"] = sa.case((is_open, "closed"), else_=R.c.status)
    values["closed_at"] = sa.case((is_open, R.c.reported_at - shift + timedelta(days=3)), else_=values["closed_at"])
    names = list(cols)
    select = sa.select(*[values[n] for n in names]).where(originals(latest))
    n = conn.execute(sa.insert(R).from_select(names, select)).rowcount
    ev = [c.name for c in E.c if c.name != "id"]
    trail = dict(E.c)
    trail["report_id"] = copy_id(E.c.report_id, k)
    trail["at"] = E.c.at - shift
    # The demo's trail is the events up to its last id (copies come after): no join to reports.
    src = sa.select(*[trail[c] for c in ev]).where(E.c.id <= last_event)
    conn.execute(sa.insert(E).from_select(ev, src))
    return n


def demo_last_event(conn, latest) -> int:
    """The highest trail id of the demo's own reports (every copied event has a higher one)."""
    return conn.scalar(sa.select(sa.func.max(E.c.id)).join_from(E, R, R.c.id == E.c.report_id)
                       .where(originals(latest))) or 0


# Dropped while copying and made again after, as a bulk load does: per-row index upkeep and
# foreign-key checks (two per report) cost more than building them once.
def bulk_objects():
    fks = [fk for t in (R, E) for fk in t.foreign_key_constraints]
    return [*R.indexes, *E.indexes], fks


def drop_bulk_objects(conn) -> None:
    indexes, fks = bulk_objects()
    inspector = sa.inspect(conn)
    present = {(t, fk["name"]) for t in (R.name, E.name) for fk in inspector.get_foreign_keys(t)}
    for fk in fks:
        if (fk.table.name, fk.name) in present:
            conn.execute(sa.schema.DropConstraint(fk))
    for index in indexes:
        index.drop(conn, checkfirst=True)


def db_size(conn) -> int:
    return conn.scalar(sa.select(sa.func.pg_database_size(sa.func.current_database())))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=19, help="copies of the demo's two years (19: ~20 M reports)")
    parser.add_argument("--workers", type=int, default=3, help="connections copying (and indexing) side by side")
    parser.add_argument("--demo", action="store_true", help="load the demo city first when the database has none")
    args = parser.parse_args()
    engine = make_engine(DatabaseSettings(), statement_timeout=False)
    if args.demo:
        with engine.connect() as conn:
            empty = conn.scalar(sa.select(sa.func.count()).select_from(sa.select(R.c.id).limit(1).subquery())) == 0
        # `gridmap demo load` without --force would see the copies as changes and reload: only when empty.
        if empty:
            subprocess.run([sys.executable, "-m", "cli.main", "demo", "load", "--yes", "--force"], check=True,
                           cwd=Path(__file__).resolve().parent.parent)
    t0 = time.perf_counter()
    with engine.connect() as conn:
        latest = conn.scalar(sa.select(sa.func.max(R.c.reported_at)))
        first = conn.scalar(sa.select(R.c.id).where(originals(latest)).order_by(R.c.id).limit(1))
        if first is None:
            print("load the demo city first: `gridmap demo load --yes --force` (or run this with --demo)")
            return 1
        before = db_size(conn)
        todo = [k for k in range(1, args.copies + 1)
                if not conn.scalar(sa.select(sa.exists().where(R.c.id == copy_id(sa.literal(first, sa.Uuid), k))))]
    print(f"database {before / 2**30:.2f} GiB; copies to make: {len(todo)} of {args.copies}")
    indexes, fks = bulk_objects()
    with progress() as bar:
        if todo:
            with engine.begin() as conn:
                last_event = demo_last_event(conn, latest)
                drop_bulk_objects(conn)
            task = bar.add_task("copying two years of reports back in time", total=len(todo))

            def one_copy(k: int) -> None:
                with engine.begin() as conn:
                    conn.execute(sa.text("SET LOCAL synchronous_commit = off"))
                    copy_reports(conn, k, latest, last_event)
                bar.advance(task)
                print(f"copy {k} done at {(time.perf_counter() - t0) / 60:.1f} min", flush=True)

            # Copies are independent (distinct ids): --workers connections write them side by side.
            with ThreadPoolExecutor(args.workers) as pool:
                list(pool.map(one_copy, todo))
        task = bar.add_task("rebuilding the indexes and foreign keys", total=len(indexes) + len(fks))

        def one_index(index) -> None:
            with engine.begin() as conn:
                # Session settings a bulk load may take without superuser rights.
                conn.execute(sa.text("SET LOCAL maintenance_work_mem = '1GB'"))
                index.create(conn, checkfirst=True)
            bar.advance(task)

        with ThreadPoolExecutor(args.workers) as pool:  # CREATE INDEX on one table may run side by side
            list(pool.map(one_index, indexes))
        with engine.connect() as conn:
            present = {(t, fk["name"]) for t in (R.name, E.name) for fk in sa.inspect(conn).get_foreign_keys(t)}
        for fk in fks:
            if (fk.table.name, fk.name) not in present:
                with engine.begin() as conn:  # one join per key instead of a check per row
                    conn.execute(sa.schema.AddConstraint(fk))
            bar.advance(task)
    vacuum_reports(engine)
    with engine.connect() as conn:
        after, n = db_size(conn), conn.scalar(sa.select(sa.func.count()).select_from(R))
    print(f"{n:,} reports; database {before / 2**30:.2f} -> {after / 2**30:.2f} GiB "
          f"in {(time.perf_counter() - t0) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
