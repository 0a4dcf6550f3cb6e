"""`gridmap reports archive`: the reports as GeoParquet by month, rewriting only what changed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import city_config, console, database, fail, make_parent, progress


def archive_reports(
    out: Annotated[Path, typer.Option("--out", "-o", help=(
        "The archive's folder (created if needed): reports/month=YYYY-MM/part-0.parquet and archive.json."))],
    full: Annotated[bool, typer.Option(help=(
        "Rewrite every month, whatever the watermark says (after restoring the database from a backup)."))] = False,
    lock_timeout: Annotated[float, typer.Option(help=(
        "Seconds to wait for transactions writing reports to finish before reading the watermark."))] = 5.0,
) -> None:
    """Archive every report (no personal data) as GeoParquet, one file per month of reported_at
    in the city's time zone, with its grid code, generation and H3 cell. Incremental: a re-run
    rewrites only the months whose reports changed (a status move, a rematch, a deletion)."""
    from geo.archive.writer import archive_reports as run_archive
    from geo.errors import Busy, InvalidState

    make_parent(out / "archive.json")
    config = city_config()
    with database(statement_timeout=False) as (engine, _), progress() as bar:
        task = bar.add_task("finding the months that changed", total=None)

        def step(done: int, total: int, month: str) -> None:
            label = f"archiving {month}" if month else f"archiving {total} month(s)"
            bar.update(task, completed=done, total=total, description=label)

        try:
            run = run_archive(engine, out=out, config=config, full=full, lock_timeout_s=lock_timeout,
                              progress=step)
        except (InvalidState, Busy) as exc:
            raise fail(exc.message, exc.details.get("hint")) from None
        except OSError as exc:
            raise fail(f"cannot write the archive in {out}: {exc.strerror or exc}",
                       "check the folder's free space and permissions, then run again (what was written stays "
                       "valid; the next run redoes the rest)") from None
    removed = f", {len(run.removed)} emptied and removed" if run.removed else ""
    console.print(f"wrote {len(run.written) - len(run.removed)} month(s) ({run.rows:,} reports){removed}, "
                  f"{run.unchanged} unchanged; watermark {run.watermark_after:,}")
