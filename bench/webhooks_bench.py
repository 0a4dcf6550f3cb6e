"""Webhook costs, each beside a same-run baseline:

    .venv/bin/python bench/webhooks_bench.py

- the outbox scan (``geo.webhooks.outbox``: a webhook's events above its watermark, joined
  to their cases and filtered by scope) over the newest 10,000 events of the demo trail
  (``gridmap_bench``, 1 M reports; read only, in a READ ONLY transaction), beside counting
  the same events;
- a delivery pass (``deliver_due``: queue, lock, sign, POST, record) of 2,000 events to a
  loopback receiver, in a scratch database made and dropped here, beside POSTing the same
  bodies with the same httpx client and nothing else.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geo.models import Report, ReportEvent, ReportSource, WebhookSubscription  # noqa: E402
from geo.webhooks.outbox import DELIVERED_ACTIONS, scope_condition  # noqa: E402

BENCH_URL = os.environ.get("GRIDMAP_BENCH_DATABASE_URL", "postgresql+psycopg://gridmap:gridmap@127.0.0.1:5432/gridmap_bench")


def best(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def scan_bench() -> None:
    engine = sa.create_engine(BENCH_URL)
    with engine.connect() as conn:
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        newest = conn.scalar(sa.select(sa.func.max(ReportEvent.id)))
        sub = WebhookSubscription(system="hotline-12345", area_prefix="211102001", watermark=newest - 10_000)
        scan = (sa.select(sa.func.count()).select_from(ReportEvent).join(Report, Report.id == ReportEvent.report_id)
                .where(ReportEvent.id > sub.watermark, ReportEvent.action.in_(DELIVERED_ACTIONS), scope_condition(sub)))
        plain = sa.select(sa.func.count()).select_from(ReportEvent).where(ReportEvent.id > sub.watermark)
        matched = conn.scalar(scan)
        t_scan, t_plain = best(lambda: conn.scalar(scan)), best(lambda: conn.scalar(plain))
        conn.rollback()
    engine.dispose()
    print(f"outbox scan of 10,000 events ({matched} in scope): {t_scan * 1000:.1f} ms; "
          f"counting them: {t_plain * 1000:.1f} ms; ratio {t_scan / t_plain:.1f}")


def delivery_bench(n_cases: int = 400) -> None:
    from geo.access.roles import Principal, Role
    from geo.cityconfig import load_city_config
    from geo.reports.intake import ReportInput
    from geo.reports.registration import submit_batch
    from geo.reports.workflow import apply_transition
    from geo.webhooks import deliver_due, register_subscription
    from geo.webhooks.payload import encode, event_payload
    from tests.conftest import fresh_database
    from tests.geo.webhooks.receiver import Receiver
    from tests.tiny_city import add_workers, build_tiny_city

    with fresh_database() as url, Receiver() as rx:
        engine = sa.create_engine(url)
        config, now = load_city_config(), datetime.now(UTC)
        with Session(engine, expire_on_commit=False) as s:
            build_tiny_city(s)
            add_workers(s)
            sub = register_subscription(s, actor=Principal(Role.system, holder="bench", token_id=1, system="bench"),
                                        url=rx.url)
            rx.secret = sub.secret
            items = [(i, ReportInput(category="30", description="", source=ReportSource.hotline_12345,
                                     x=116.401 + (i % 19) * 0.001, y=39.901 + (i % 17) * 0.001,
                                     reported_at=now - timedelta(minutes=1), filed_by="system:bench"))
                     for i in range(n_cases)]
            ids = [o.report_id for o in submit_batch(s, items=items, config=config, now=now)]
            for rid in ids:
                for action in ("start", "resolve", "close"):
                    apply_transition(s, report_id=rid, action=action, actor="t", config=config, now=now)
            s.commit()
            rows = s.execute(sa.select(ReportEvent, Report, sa.func.ST_X(Report.location), sa.func.ST_Y(Report.location))
                             .join(Report, Report.id == ReportEvent.report_id)).all()
            bodies = [encode(event_payload(e, r, lon=x, lat=y)) for e, r, x, y in rows]
        with httpx.Client(timeout=5) as client:
            t = time.perf_counter()
            for body in bodies:
                client.post(rx.url, content=body, headers={"Content-Type": "application/json",
                                                           "X-Gridmap-Timestamp": "0", "X-Gridmap-Signature": "x"})
            t_plain = time.perf_counter() - t
            rx.received.clear()
            sessions = lambda: Session(engine, expire_on_commit=False)  # noqa: E731
            t = time.perf_counter()
            run = deliver_due(sessions, client=client, max_batches=10_000, budget_s=3600)
            t_pass = time.perf_counter() - t
        assert run.delivered == len(bodies) == len(rx.received), (run, len(bodies), len(rx.received))
        assert all(r.verified for r in rx.received)
        engine.dispose()
    print(f"delivery pass of {len(bodies):,} events: {t_pass:.2f} s ({len(bodies) / t_pass:,.0f}/s); the same POSTs "
          f"alone: {t_plain:.2f} s ({len(bodies) / t_plain:,.0f}/s); ratio {t_pass / t_plain:.1f}")


if __name__ == "__main__":
    scan_bench()
    delivery_bench()
