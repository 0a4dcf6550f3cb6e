"""`gridmap privacy anonymise|forget|purge-audit`: personal data kept no longer than needed."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from cli.common import city_config, cli_actor, console, database, progress

app = typer.Typer(help="Personal data (个人信息保护法): retention of reporters' data and of the audit, "
                       "and a reporter's request to be forgotten. Every command is a dry run unless --apply.",
                  no_args_is_help=True)

APPLY = typer.Option("--apply", help="Do it (without: a dry run that prints what it would do and changes nothing).")


def _by_status(counts: dict[str, int]) -> Table:
    table = Table("status", "cases")
    for status, n in counts.items():
        table.add_row(status, f"{n:,}")
    return table


@app.command("anonymise")
def anonymise_cmd(
    apply: Annotated[bool, APPLY] = False,
    batch: Annotated[int, typer.Option(min=1, max=100_000, help="Cases per transaction.")] = 2000,
) -> None:
    """Remove reporters' names and phones from cases that ended more than [retention]
    reporter_days ago (closed, rejected, duplicate). The server does the same every hour."""
    from sqlalchemy.orm import Session

    from geo.access.retention import anonymise

    config, now = city_config(), datetime.now(UTC)
    with database() as (engine, _), Session(engine) as session:
        plan = anonymise(session, config=config, now=now)
        console.print(f"cases that ended before {plan.cutoff:%Y-%m-%d %H:%M %Z} "
                      f"({config.retention.reporter_days} days) with a reporter's name or phone: {plan.due:,}")
        if plan.due:
            console.print(_by_status(plan.by_status))
        if not apply:
            console.print("[yellow]dry run[/]: nothing changed; run again with --apply to anonymise them")
            return
        with progress() as bar:
            task = bar.add_task("anonymising", total=plan.due)
            done = anonymise(session, config=config, now=now, apply=True, actor=cli_actor(), batch=batch,
                             progress=lambda n: bar.update(task, completed=n))
    console.print(f"anonymised {done.done:,} case(s): name, phone and request fingerprint removed; "
                  "counts, statistics and trails unchanged")


def _read_phone(phone: str) -> str:
    """``phone``, or for '-' the number asked for at the terminal (not echoed) or piped in."""
    if phone != "-":
        return phone
    if sys.stdin.isatty():
        return typer.prompt("the reporter's phone", hide_input=True)
    return sys.stdin.readline().strip()


@app.command("forget")
def forget_cmd(
    phone: Annotated[str, typer.Option(help=(
        "The reporter's phone (digits compared; +86 or not). '-' asks for it (or reads it from a "
        "pipe), keeping it out of the shell's history."))],
    apply: Annotated[bool, APPLY] = False,
) -> None:
    """A reporter's request to delete their data: every case with this phone, in any status,
    loses name and phone (and the number inside its description); audited without the phone."""
    from sqlalchemy.orm import Session

    from geo.access.retention import forget_reporter

    with database() as (engine, _), Session(engine) as session:
        found = forget_reporter(session, phone=_read_phone(phone), actor=cli_actor(), now=datetime.now(UTC),
                                apply=apply)
        session.commit()
    n = len(found.report_ids)
    console.print(f"{n} case(s) with this phone" + (":" if n else ""))
    if n:
        console.print(_by_status(found.by_status))
        for rid in found.report_ids:
            console.print(f"  {rid}", highlight=False)
    if found.texts:
        console.print(f"{found.texts} of them mention the number in their description or rating comment"
                      + (" (cut out)" if apply else ""))
    if found.trail_notes:
        console.print(f"[yellow]{len(found.trail_notes)} trail note(s) mention it[/] (events "
                      + ", ".join(map(str, found.trail_notes)) + "): the trail is append-only and keeps them")
    if not apply:
        console.print("[yellow]dry run[/]: nothing changed; run again with --apply to delete the reporter's data")
    elif n:
        console.print("deleted; recorded in the audit (privacy.forget: the case ids, not the phone)")


@app.command("purge-audit")
def purge_audit_cmd(
    apply: Annotated[bool, APPLY] = False,
    batch: Annotated[int, typer.Option(min=1, max=100_000, help="Rows per transaction.")] = 5000,
) -> None:
    """Delete audit rows older than [retention] audit_days. The server does the same every hour."""
    from sqlalchemy.orm import Session

    from geo.access.retention import purge_audit

    config, now = city_config(), datetime.now(UTC)
    with database() as (engine, _), Session(engine) as session:
        plan = purge_audit(session, config=config, now=now)
        console.print(f"audit rows before {plan.cutoff:%Y-%m-%d %H:%M %Z} ({config.retention.audit_days} days): "
                      f"{plan.due:,}")
        if not apply:
            console.print("[yellow]dry run[/]: nothing changed; run again with --apply to delete them")
            return
        with progress() as bar:
            task = bar.add_task("deleting", total=plan.due)
            done = purge_audit(session, config=config, now=now, apply=True, actor=cli_actor(), batch=batch,
                               progress=lambda n: bar.update(task, completed=n))
    console.print(f"deleted {done.deleted:,} audit row(s)")
