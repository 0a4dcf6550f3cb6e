"""`gridmap tokens issue|list|revoke` and `gridmap audit`: who may use the API, and what they did."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from cli.common import cli_actor, console, database, fail

app = typer.Typer(help="API tokens: issue one per person or system, list them, revoke them.", no_args_is_help=True)


@app.command("issue")
def issue(
    role: Annotated[str, typer.Option(help="worker, dispatcher, planner, admin or system.")],
    name: Annotated[str, typer.Option(help="Who holds it: a person's name, or the system's description.")],
    worker: Annotated[str | None, typer.Option(help="worker tokens: the worker's staff number (or id).")] = None,
    system: Annotated[str | None, typer.Option(help="system keys: a short name of the system, e.g. hotline-12345.")] = None,
    crs: Annotated[str | None, typer.Option(help=(
        "system keys: the crs its Open311 lat/long are in: wgs84 (default), gcj02 (Amap, Tencent, WeChat), "
        "bd09 (Baidu) or cgcs2000."))] = None,
    expires_days: Annotated[int | None, typer.Option(min=1, max=3650, help="Valid for this many days (default: until revoked).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help=(
        "Print only the token (for a script: TOKEN=$(gridmap tokens issue … -q))."))] = False,
) -> None:
    """Issue a token. It is printed once: only its hash is stored."""
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from geo.access.roles import TOKEN_ROLES, Role
    from geo.access.tokens import issue_token
    from geo.models import Worker

    try:
        r = Role(role)
    except ValueError:
        r = None
    if r not in TOKEN_ROLES:
        raise fail(f"unknown role {role!r}", f"use one of: {', '.join(x.value for x in TOKEN_ROLES)}")
    with database() as (engine, _), Session(engine) as session:
        worker_id = None
        if worker is not None:
            q = sa.select(Worker.id).where(Worker.staff_no == worker)
            worker_id = session.scalar(q) or (int(worker) if worker.isdigit() and session.get(Worker, int(worker)) else None)
            if worker_id is None:
                raise fail(f"no worker with staff number or id {worker!r}", "list workers in the database, or check the number")
        expires = datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None
        issued = issue_token(session, role=r, name=name, actor=cli_actor(), worker_id=worker_id, system=system,
                             expires_at=expires, crs=crs)
        session.commit()
    if quiet:
        print(issued.token)
        return
    console.print(f"token {issued.id} for [bold]{issued.name}[/] ({issued.role.value})"
                  + (f", positions in {crs}" if crs else "")
                  + (f", expires {expires:%Y-%m-%d}" if expires else "") + ":")
    console.print(issued.token, markup=False, highlight=False)
    console.print("[yellow]Shown only now.[/] Send it as `Authorization: Bearer <token>`; revoke with "
                  f"`gridmap tokens revoke {issued.id}`.")


@app.command("list")
def list_(all_: Annotated[bool, typer.Option("--all", help="Include revoked tokens.")] = False) -> None:
    """The tokens (never their values): holder, role, when made, last used, expiry."""
    from sqlalchemy.orm import Session

    from geo.access.tokens import list_tokens

    with database() as (engine, _), Session(engine) as session:
        rows = list_tokens(session, include_revoked=all_)
    table = Table("id", "prefix", "role", "holder", "worker", "system", "crs", "created", "last used", "expires",
                  "revoked")
    fmt = lambda d: f"{d:%Y-%m-%d %H:%M}" if d else "—"  # noqa: E731
    for t in rows:
        table.add_row(str(t.id), t.prefix + "…", t.role, t.name, str(t.worker_id or "—"), t.system or "—",
                      t.crs or ("wgs84" if t.system else "—"), fmt(t.created_at), fmt(t.last_used_at), fmt(t.expires_at), fmt(t.revoked_at))
    console.print(table if rows else "no tokens: the service runs open (a local demo) unless GRIDMAP_STAFF_TOKENS is set")


@app.command("revoke")
def revoke(token_id: Annotated[int, typer.Argument(help="The token's id (see `gridmap tokens list`).")]) -> None:
    """Revoke a token: every server stops accepting it within GRIDMAP_TOKEN_CACHE_S (10 s)."""
    from sqlalchemy.orm import Session

    from geo.access.tokens import revoke_token

    with database() as (engine, _), Session(engine) as session:
        row = revoke_token(session, token_id=token_id, actor=cli_actor(), now=datetime.now(UTC))
        said = f"token {row.id} ({row.role}, {row.name}) revoked at {row.revoked_at:%Y-%m-%d %H:%M:%S %Z}"
        session.commit()
    console.print(said)


def audit(
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="How many rows, newest first.")] = 50,
    action: Annotated[str | None, typer.Option(help="Only this action, e.g. personal.read, token.issue.")] = None,
) -> None:
    """Staff actions, newest first: who (role, holder), what, on what, when."""
    from sqlalchemy.orm import Session

    from geo.access.audit import list_audit

    with database() as (engine, _), Session(engine) as session:
        rows = list_audit(session, limit=limit, action=action)
    table = Table("at", "role", "holder", "action", "subject", "detail")
    for e in rows:
        subject = f"{e.subject_type or ''} {e.subject_id or ''}".strip() or "—"
        table.add_row(f"{e.at:%Y-%m-%d %H:%M:%S}", e.role, e.holder, e.action, subject, str(e.detail)[:80])
    console.print(table if rows else "no audit rows yet")
