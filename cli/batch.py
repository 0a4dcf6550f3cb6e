"""`gridmap batch`: match, re-match and aggregate the reports archive on a Dask cluster."""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated

import typer

from cli.common import city_config, console, database, fail, progress

app = typer.Typer(help=(
    "Batch work over the reports archive (GeoParquet, `gridmap reports archive`) on Dask: a LocalCluster "
    "on this machine, or a cluster started with `dask scheduler` / `dask worker` (--scheduler)."),
    no_args_is_help=True)

ArchiveOpt = Annotated[Path, typer.Option("--archive", help="The archive's folder (holds archive.json).")]
SchedulerOpt = Annotated[str | None, typer.Option(help=(
    "A running Dask scheduler, e.g. tcp://10.0.0.5:8786 (its workers must import gridmap and read the archive "
    "at the same path). Default: a LocalCluster here."))]
WorkersOpt = Annotated[int, typer.Option("--workers", min=1, help="LocalCluster worker processes (one thread each).")]
MemoryOpt = Annotated[str, typer.Option(help="LocalCluster memory limit per worker.")]
ShipOpt = Annotated[Path | None, typer.Option(help=(
    "Folder for the matcher the workers load (and, without --out, the results they write): default a "
    "temporary folder here; with --scheduler on other machines, a folder they all share at the same path."))]
GenerationOpt = Annotated[int | None, typer.Option(help="Generation to match against (default: active).")]


@contextmanager
def _cluster(scheduler: str | None, workers: int, memory_limit: str):
    from geo.batch.engine import batch_client

    with ExitStack() as stack:
        try:
            client = stack.enter_context(batch_client(scheduler=scheduler, workers=workers, memory_limit=memory_limit))
        except (OSError, TimeoutError) as exc:
            if scheduler is None:
                raise
            raise fail(f"cannot reach the Dask scheduler at {scheduler}: {exc}",
                       "start one (`dask scheduler`, then `dask worker ADDRESS` on each machine), or drop "
                       "--scheduler to run on this machine") from None
        yield client


def _parts(archive: Path):
    from geo.batch.engine import ArchiveMissing, archive_parts

    try:
        return archive_parts(archive)
    except (ArchiveMissing, ValueError) as exc:
        raise fail(str(exc), "write the archive first: `gridmap reports archive --out DIR`") from None


def _ticker(bar, parts: int, steps: tuple[str, ...]):
    tasks = {s: bar.add_task(s, total=parts) for s in steps}
    return lambda step: bar.update(tasks[step], advance=1)


@app.command("match")
def batch_match(
    archive: ArchiveOpt,
    out: Annotated[Path | None, typer.Option(help=(
        "Folder for the results: GeoParquet, hive by month like the archive, and matches.json."))] = None,
    table: Annotated[str | None, typer.Option(help=(
        "Also store the results in this PostgreSQL table (created if missing; keyed by report and "
        "generation, a rerun replaces its rows). Never the reports table."))] = None,
    generation: GenerationOpt = None,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = 2,
    memory_limit: MemoryOpt = "2GiB",
    ship_dir: ShipOpt = None,
) -> None:
    """Match every archived report to a generation's grids (the intake rule: covers, edge → smallest
    code, snapping): grid_code, match_kind and snap distance per report id."""
    from sqlalchemy.orm import Session

    import tempfile

    from geo.batch.match import match_archive, result_tables
    from geo.batch.tables import check_table_name, store_matches
    from geo.errors import InvalidInput
    from geo.matching.matcher import matcher_for

    if out is None and table is None:
        raise fail("nowhere to put the results", "pass --out DIR (GeoParquet) and/or --table NAME (PostgreSQL)")
    try:
        table and check_table_name(table)
    except InvalidInput as exc:
        raise fail(exc.message, "name a table of its own, e.g. --table batch_matches") from None
    parts = _parts(archive)
    config = city_config()
    with database() as (engine, _), Session(engine) as session:
        with console.status("building the matcher"):
            gid, matcher = matcher_for(session, generation=generation)
        with ExitStack() as stack:
            # Only --table: the workers still write the results, to a folder removed afterwards.
            target = out or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gridmap-batch-", dir=ship_dir)))
            with _cluster(scheduler, workers, memory_limit) as client, progress() as bar:
                rows = match_archive(client, session, parts=parts, matcher=matcher, generation=gid,
                                     snap_tolerance_m=config.snap_tolerance_m, out=target, ship_dir=ship_dir,
                                     progress=_ticker(bar, len(parts), ("match", "write")))
            if table:
                with console.status(f"storing in table {table}"):
                    store_matches(session, table=table, results=result_tables(target, rows))
                session.commit()
    total = sum(rows.values())
    console.print(f"matched {total:,} reports in {len(parts)} month(s) to generation {gid}"
                  + (f"; wrote {out}" if out else "") + (f"; stored in table {table}" if table else ""))


@app.command("rematch")
def batch_rematch(
    archive: ArchiveOpt,
    out: Annotated[Path | None, typer.Option(help="Write the plan (one row per open case) to this Parquet file.")] = None,
    write_back: Annotated[bool, typer.Option("--write-back", help=(
        "Apply the plan to the reports (open cases only; closed cases keep their grid), committing each chunk."))] = False,
    generation: GenerationOpt = None,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = 2,
    memory_limit: MemoryOpt = "2GiB",
    ship_dir: ShipOpt = None,
) -> None:
    """Re-match the archive's open cases to a generation (default: active): the plan `gridmap reports
    rematch` would make for them, as a dry run, a Parquet file or applied (--write-back)."""
    import tempfile
    from datetime import UTC, datetime

    import pyarrow as pa
    import pyarrow.parquet as pq
    from sqlalchemy.orm import Session

    from geo.batch.rematch import batch_plans, open_matches, plan_table
    from geo.matching.matcher import matcher_for
    from geo.reports.rematch import apply_rematch

    parts = _parts(archive)
    config = city_config()
    examined = moved = 0
    tables = []
    with database() as (engine, _), Session(engine) as session:
        with console.status("building the matcher"):
            gid, matcher = matcher_for(session, generation=generation)
        with (tempfile.TemporaryDirectory(prefix="gridmap-batch-", dir=ship_dir) as work,
              _cluster(scheduler, workers, memory_limit) as client, progress() as bar):
            matches = open_matches(client, session, parts=parts, matcher=matcher, generation=gid,
                                   snap_tolerance_m=config.snap_tolerance_m, work_dir=Path(work),
                                   progress=_ticker(bar, len(parts), ("match", "write")), ship_dir=ship_dir)
        for plan in batch_plans(session, matches=matches, generation=gid):
            examined, moved = examined + len(plan.reports), moved + len(plan.moves)
            if out:
                tables.append(plan_table(plan))
            if write_back:
                apply_rematch(session, plan=plan, now=datetime.now(UTC))
                session.commit()
    if out:
        from cli.common import make_parent

        make_parent(out)
        tmp = out.with_name(out.name + ".tmp")
        pq.write_table(pa.concat_tables(tables) if tables else plan_table_empty(), tmp)
        tmp.replace(out)
    verb = "re-matched" if write_back else "would re-match (dry run; --write-back applies)"
    console.print(f"{verb} {examined:,} open case(s) to generation {gid}: {moved:,} change grid"
                  + (f"; plan in {out}" if out else ""))


def plan_table_empty():
    from geo.batch.rematch import plan_table
    from geo.reports.rematch import RematchPlan

    return plan_table(RematchPlan(0, []))


@app.command("aggregate")
def batch_aggregate(
    archive: ArchiveOpt,
    res: Annotated[int | None, typer.Option(min=0, max=10, help=(
        "Count per H3 cell at this resolution (of the stored cell) instead of per grid."))] = None,
    out: Annotated[Path | None, typer.Option(help="Write the counts to this Parquet file.")] = None,
    table: Annotated[str | None, typer.Option(help=(
        "Store the counts in this PostgreSQL table (created if missing; the rows of the same --res are replaced)."))] = None,
    check: Annotated[bool, typer.Option(help="Compare with the same GROUP BY in PostgreSQL and print OK/DIFF.")] = False,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = 2,
    memory_limit: MemoryOpt = "2GiB",
) -> None:
    """Report counts per grid (or H3 cell) × category group × week (Monday 00:00 in the archive's
    city time zone)."""
    from sqlalchemy.orm import Session

    from geo.batch.aggregate import aggregate_archive, equal_counts, postgis_counts
    from geo.batch.engine import archive_zone
    from geo.batch.tables import store_counts

    parts = _parts(archive)
    zone = archive_zone(archive)
    with _cluster(scheduler, workers, memory_limit) as client, progress() as bar:
        counts = aggregate_archive(client, parts=parts, zone=zone, res=res,
                                   progress=_ticker(bar, len(parts), ("aggregate",)))
    if out:
        from cli.common import make_parent

        make_parent(out)
        tmp = out.with_name(out.name + ".tmp")
        counts.to_parquet(tmp, index=False)
        tmp.replace(out)
    if table or check:
        with database() as (engine, _), Session(engine) as session:
            if table:
                store_counts(session, table=table, counts=counts, res=res)
                session.commit()
            if check:
                ok, diff = equal_counts(counts, postgis_counts(session, zone=zone, res=res), res)
                console.print(f"PostGIS check: OK {ok:,} DIFF {diff:,}")
                if diff:
                    raise fail(f"{diff:,} count(s) differ from the database",
                               "the archive is older than the database: archive again, then re-run")
    console.print(f"{counts['n'].sum():,} reports in {len(counts):,} counts (per {'grid' if res is None else f'H3 res {res}'}"
                  f" × group × week, weeks in {zone})" + (f"; wrote {out}" if out else "")
                  + (f"; stored in table {table}" if table else ""))
