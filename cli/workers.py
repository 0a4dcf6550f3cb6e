"""`gridmap workers roster FILE`: import duty rosters (weekly shifts or dated exceptions) from CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import city_config, cli_actor, console, database, err_console, fail, progress


def workers_roster(
    file: Annotated[Path, typer.Argument(help=(
        "CSV: staff_no,weekday,start,end (weekly shifts; a worker's rows replace their week) or "
        "staff_no,kind,starts_at,ends_at,cover_staff_no,note (leave/duty exceptions)."))],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and count everything, change nothing.")] = False,
    actor: Annotated[str | None, typer.Option("--actor", help="Who does this, for the audit (default: the OS user).")] = None,
) -> None:
    """Import duty rosters: each bad row is listed with its reason, the others are applied."""
    from datetime import UTC, datetime

    from sqlalchemy.orm import Session

    from geo.access import record_audit
    from geo.errors import GridmapError
    from geo.rosters.imports import import_roster, read_roster_csv

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {file}: {exc}", "give a UTF-8 CSV file") from None
    try:
        _, rows = read_roster_csv(text)
    except GridmapError as exc:
        raise fail(exc.message, "see `gridmap workers roster --help` for the two formats") from None
    config = city_config()
    with database() as (engine, _), Session(engine) as session, progress() as bar:
        task = bar.add_task("roster", total=len(rows))
        result = import_roster(session, text=text, config=config, now=datetime.now(UTC),
                               advance=lambda n: bar.advance(task, n))
        if dry_run:
            session.rollback()
        else:
            record_audit(session, actor=cli_actor(holder=actor), action="roster.import", subject_type="workers",
                         detail={"file": file.name, "kind": result.kind, "rows": result.rows,
                                 "workers": result.workers, "added": result.added, "rejected": len(result.rejects)})
            session.commit()
    for line, reason in result.rejects:
        err_console.print(f"[red]✗[/] line {line}: {reason}")
    done = (f"{result.workers} worker(s)' weekly shifts replaced" if result.kind == "shifts"
            else f"{result.added} exception(s) added, {result.unchanged} already there")
    console.print(f"{'dry run: would have ' if dry_run else ''}{done}; {len(result.rejects)} row(s) rejected"
                  f" of {result.rows}" + ("; nothing was changed" if dry_run else ""))
    if result.rejects:
        raise typer.Exit(code=1)
