"""What the server does besides answering requests: the warm-up at start, and the periodic
loop (every ``GRIDMAP_ESCALATION_INTERVAL_S``): scheduled activations, overdue escalation, the
active matcher, duty flags from the rosters, webhook deliveries and, hourly, retention. Each
step has its own error handling: one failing never stops the others or the loop."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from geo.access.retention import run_retention
from geo.analytics.analysis import analyse_hotspots
from geo.boundaries.areas import area_index
from geo.boundaries.planning import activate_due
from geo.db import session_scope
from geo.departments.flow import missing_contacts
from geo.matching.matcher import matcher_for
from geo.reports.workflow import escalate_overdue
from geo.rosters.service import refresh_duty
from geo.runtime import settle_heap
from geo.webhooks import deliver_due

log = logging.getLogger("gridmap.api")
RETENTION_EVERY_S = 3600.0  # the retention job's period inside the loop (which ticks every minute or so)


def warm_up(app: FastAPI) -> None:
    """Build, before the first requests need them, what they would otherwise wait for: the
    grid matcher of intake, locate and dispatch (~4 s), the area index of locate and dispatch
    (~1 s), and the hot-spot page's area adjacency and city outline (~0.5 s, by analysing the
    default view once). Then freeze the heap they made."""
    try:
        activate_scheduled(app)  # a scheduled activation missed while no server ran happens now
        with session_scope(app.state.sessionmaker) as session:
            generation, _ = matcher_for(session)
            area_index(session, generation=generation)
            analyse_hotspots(session, generation=generation, label="all", categories=None,
                             max_cells=app.state.map_settings.hex_max_cells, zone=app.state.city_config.timezone)
    except Exception:  # noqa: BLE001 - no boundaries loaded yet, or the database is down
        log.warning("warm-up skipped; the first requests will build what they need", exc_info=True)
    check_departments(app)
    settle_heap()


def check_departments(app: FastAPI) -> None:
    """Warn about each department desk or escalation contact that is no worker here (its
    transfers would wait unassigned, its escalations stay put): a finding, never a crash."""
    try:
        with session_scope(app.state.sessionmaker) as session:
            for problem in missing_contacts(session, config=app.state.city_config):
                log.warning("%s: add the worker or fix the city configuration", problem)
    except Exception:  # noqa: BLE001 - the database is down: the warm-up said so already
        log.debug("department contacts not checked", exc_info=True)


def activate_scheduled(app: FastAPI) -> None:
    """Activate the draft when its scheduled time has come (once across server processes)."""
    with session_scope(app.state.sessionmaker) as session:
        fired = activate_due(session, config=app.state.city_config, now=datetime.now(UTC))
    if fired is not None:
        log.info("scheduled activation: generation %d is active (was %d), %d open case(s) moved",
                 fired.generation, fired.previous, fired.moved)


def retain(app: FastAPI) -> None:
    """The retention job (``geo.access.retention.run_retention``), at most every
    RETENTION_EVERY_S; on the next tick again while a first run over years of history is
    still catching up (each run does a bounded share). A failure waits for the next period."""
    if time.monotonic() < getattr(app.state, "retention_next", 0.0):
        return
    app.state.retention_next = time.monotonic() + RETENTION_EVERY_S
    with session_scope(app.state.sessionmaker) as session:
        run = run_retention(session, config=app.state.city_config, now=datetime.now(UTC))
    if not run.finished:
        app.state.retention_next = 0.0
    if run.anonymised or run.audit_deleted:
        log.info("retention: %d reporter(s) anonymised, %d audit row(s) deleted", run.anonymised, run.audit_deleted)


async def run_periodic(app: FastAPI, interval_s: float) -> None:
    """Every ``interval_s`` seconds: a due scheduled activation, the overdue escalation, the
    matcher of the active generation (rebuilt here, not by the next report, when another
    process activated new boundaries), the duty flags from the rosters, a webhook delivery pass
    and, hourly, the retention of personal data. Errors are logged, never fatal."""

    def once():
        try:
            activate_scheduled(app)
        except Exception:  # noqa: BLE001 - one failing step must not stop the others
            log.exception("the scheduled activation failed; retrying in %.0f s", interval_s)
        with session_scope(app.state.sessionmaker) as session:
            run = escalate_overdue(session, config=app.state.city_config, now=datetime.now(UTC))
        try:
            with session_scope(app.state.sessionmaker) as session:
                matcher_for(session)
        except Exception:  # noqa: BLE001
            log.exception("rebuilding the active matcher failed; the next report builds it")
        try:
            with session_scope(app.state.sessionmaker) as session:
                refresh_duty(session, config=app.state.city_config, now=datetime.now(UTC))
        except Exception:  # noqa: BLE001 - duty flags catch up on the next pass
            log.exception("refreshing duty from the rosters failed; retrying in %.0f s", interval_s)
        try:
            deliver_due(app.state.sessionmaker)
        except Exception:  # noqa: BLE001 - a receiver or the outbox must never stop the loop
            log.exception("webhook deliveries failed; retrying in %.0f s", interval_s)
        try:
            retain(app)
        except Exception:  # noqa: BLE001 - retention must never stop escalation
            log.exception("the retention job failed; retrying in %.0f s", RETENTION_EVERY_S)
        return run

    while True:
        await asyncio.sleep(interval_s)
        try:
            run = await run_in_threadpool(once)
            app.state.metrics.escalation_ran(moved=run.moved, failed=len(run.failed))
            if run.moved:
                log.info("escalated %d overdue case(s)", run.moved)
            if run.failed:
                log.error("%d overdue case(s) could not be escalated", len(run.failed))
        except Exception:  # noqa: BLE001 - the loop must survive a database hiccup
            app.state.metrics.escalation_failed()
            log.exception("overdue escalation failed; retrying in %.0f s", interval_s)
