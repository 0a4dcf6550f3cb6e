"""`gridmap webhooks add|list|remove|log|prune|deliver`: push a system's cases to it, signed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from cli.common import cli_actor, console, database, fail

app = typer.Typer(help="Webhooks: signed pushes of each status change, closure and rating to a system.",
                  no_args_is_help=True)
_fmt = lambda d: f"{d:%Y-%m-%d %H:%M:%S}" if d else "—"  # noqa: E731


@app.command("add")
def add(
    system: Annotated[str, typer.Option(help="The system whose filed cases are delivered (its system key's system).")],
    url: Annotated[str, typer.Option(help="Where to POST events: an http:// or https:// URL.")],
    area: Annotated[str | None, typer.Option(help="Also every case in this area (a 6-15 digit area code).")] = None,
) -> None:
    """Register a webhook (as an admin). The secret is printed once."""
    from sqlalchemy.orm import Session

    from geo.webhooks import register_subscription

    with database() as (engine, _), Session(engine, expire_on_commit=False) as session:
        row = register_subscription(session, actor=cli_actor(), url=url, system=system, area_prefix=area)
        session.commit()
    console.print(f"webhook {row.id} for [bold]{row.system}[/]" + (f" and area {row.area_prefix}" if area else "")
                  + f" → {row.url}; signing secret:")
    console.print(row.secret, markup=False, highlight=False)
    console.print("[yellow]Shown only now.[/] The receiver checks X-Gridmap-Signature with it "
                  "(README.webhooks.md); deliveries start with the next event.")


@app.command("list")
def list_() -> None:
    """Every webhook (never its secret) with its deliveries by status."""
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from geo.models import WebhookDelivery
    from geo.webhooks import list_subscriptions

    with database() as (engine, _), Session(engine, expire_on_commit=False) as session:
        rows = list_subscriptions(session, viewer=cli_actor())
        counts = {}
        for sid, status, n in session.execute(
                sa.select(WebhookDelivery.subscription_id, WebhookDelivery.status, sa.func.count())
                .group_by(WebhookDelivery.subscription_id, WebhookDelivery.status)):
            counts.setdefault(sid, {})[status.value] = n
    table = Table("id", "system", "area", "url", "active", "created", "deliveries")
    for r in rows:
        c = counts.get(r.id, {})
        table.add_row(str(r.id), r.system, r.area_prefix or "—", r.url, "yes" if r.active else "removed",
                      _fmt(r.created_at), ", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "—")
    console.print(table if rows else "no webhooks: add one with `gridmap webhooks add --system … --url …`")


@app.command("remove")
def remove(webhook_id: Annotated[int, typer.Argument(help="The webhook's id (see `gridmap webhooks list`).")]) -> None:
    """Stop a webhook; its log stays."""
    from sqlalchemy.orm import Session

    from geo.webhooks import deactivate_subscription

    with database() as (engine, _), Session(engine, expire_on_commit=False) as session:
        deactivate_subscription(session, subscription_id=webhook_id, actor=cli_actor(), now=datetime.now(UTC))
        session.commit()
    console.print(f"webhook {webhook_id} removed: nothing more is sent to it")


@app.command("log")
def log_(
    webhook_id: Annotated[int, typer.Argument(help="The webhook's id.")],
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many, newest event first.")] = 50,
) -> None:
    """A webhook's deliveries: status, attempts, the receiver's last answer."""
    from sqlalchemy.orm import Session

    from geo.webhooks import delivery_log

    with database() as (engine, _), Session(engine, expire_on_commit=False) as session:
        entries = delivery_log(session, subscription_id=webhook_id, viewer=cli_actor(), limit=limit)
    table = Table("delivery", "event", "case", "action", "status", "attempts", "last answer", "next try", "delivered")
    for e in entries:
        d = e.delivery
        table.add_row(str(d.id), str(d.event_id), str(d.report_id), e.action, d.status.value, str(d.attempts),
                      d.last_error or (str(d.last_status_code) if d.last_status_code else "—"),
                      _fmt(d.next_attempt_at) if d.status.value in ("pending", "failed") else "—", _fmt(d.delivered_at))
    console.print(table if entries else f"nothing queued for webhook {webhook_id} yet")


@app.command("prune")
def prune(days: Annotated[int, typer.Option(min=1, max=3650, help="Keep this many days of the log.")] = 90) -> None:
    """Delete delivered and dead deliveries older than --days (pending and failed ones stay)."""
    from datetime import timedelta

    from sqlalchemy.orm import Session

    from geo.webhooks.subscriptions import prune_log

    with database() as (engine, _), Session(engine) as session:
        n = prune_log(session, before=datetime.now(UTC) - timedelta(days=days))
        session.commit()
    console.print(f"deleted {n:,} deliveries older than {days} days from the log")


@app.command("deliver")
def deliver() -> None:
    """One delivery pass now (the server runs one every GRIDMAP_ESCALATION_INTERVAL_S)."""
    from geo.db import make_sessionmaker
    from geo.webhooks import deliver_due

    with database() as (engine, _):
        run = deliver_due(make_sessionmaker(engine))
    console.print(f"queued {run.queued}, delivered {run.delivered}, failed {run.failed} (retried later), "
                  f"dead {run.dead}" + (f"; unreachable webhooks: {', '.join(map(str, sorted(run.unreachable)))}"
                                        if run.unreachable else ""))
    if run.dead:
        raise fail(f"{run.dead} deliveries gave up", "see `gridmap webhooks log <id>`")
