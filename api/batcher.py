"""Micro-batching of single-report intake.

Each POST /api/v1/reports waits on a future while one consumer task per process drains the
queue: every pass takes *whatever has queued up* (no timer, so a lone request is not delayed)
and registers it through the same vectorised path as the batch endpoint, in one transaction
and one commit. Under load the reports arriving during one pass make the next one, so a pass's
fixed cost (about 6 ms: five statements and a commit) is shared; that is what lets two cores
take a thousand reports a second. (Two consumers per process halved the passes' size and
doubled the p99.) Retries inside one pass are still one report.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.metrics import Metrics
from geo.cityconfig import CityConfig
from geo.reports.intake import ReportInput
from geo.reports.outcomes import BatchOutcome
from geo.reports.registration import WriteRefused, submit_batch

log = logging.getLogger("gridmap.intake")

IDLE_RECONNECT_S = 30.0


class IntakeBatcher:
    def __init__(self, engine: Engine, config: CityConfig, *, max_batch: int = 1000,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), metrics: Metrics | None = None) -> None:
        self._engine, self._config, self._clock = engine, config, clock
        self._metrics = metrics
        self._max_batch = max_batch
        # The consumer keeps one connection: no pool checkout, ping and reset on every pass.
        self._conn: Connection | None = None
        self._last_pass = 0.0
        self._queue: asyncio.Queue[tuple[ReportInput, asyncio.Future]] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._consume(), name="intake")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)  # a running pass finishes first
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        while not self._queue.empty():  # nobody will serve these now: fail them loudly
            _, fut = self._queue.get_nowait()
            if not fut.done():
                fut.set_exception(RuntimeError("the service is shutting down; retry the report"))

    def depth(self) -> int:
        """Reports waiting for the next pass (not counting the pass running)."""
        return self._queue.qsize()

    async def submit(self, item: ReportInput) -> BatchOutcome:
        """Register ``item`` in the next pass; returns its outcome (201, 200 or an error)."""
        fut = asyncio.get_running_loop().create_future()
        await self._queue.put((item, fut))
        return await fut

    async def _consume(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            began = time.perf_counter()
            try:
                outcomes = await run_in_threadpool(self._register, [item for item, _ in batch])
            except Exception as exc:  # noqa: BLE001 - each waiting request gets the failure
                log.exception("intake pass of %d report(s) failed", len(batch))
                if self._metrics is not None:
                    self._metrics.intake_errors.inc()
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            if self._metrics is not None:
                self._metrics.intake_passed(time.perf_counter() - began, len(batch))
                self._metrics.registered_reports("single", sum(o.created for o in outcomes))
            for (_, fut), outcome in zip(batch, outcomes, strict=True):
                if not fut.done():
                    fut.set_result(outcome)

    def _register(self, items: list[ReportInput]) -> list[BatchOutcome]:
        # A connection idle for a while goes back to the pool, and the next pass takes one
        # through the pool's ping: a server restart or a firewall's idle cut must not fail a
        # pass of reports. Under load the held connection never idles that long.
        idle = time.monotonic() - self._last_pass
        if self._conn is not None and (self._conn.closed or self._conn.invalidated or idle > IDLE_RECONNECT_S):
            self._conn.close()
            self._conn = None
        if self._conn is None:
            self._conn = self._engine.connect()
        self._last_pass = time.monotonic()
        session = Session(bind=self._conn, expire_on_commit=False)
        numbered, now = list(enumerate(items)), self._clock()
        try:
            try:
                # The pass owns its transaction: write without a savepoint (two round trips
                # fewer); in the rare pass the database refuses, roll back and run it again
                # isolated, so the refused report fails alone as it always did.
                outcomes = submit_batch(session, items=numbered, config=self._config, now=now, isolated=False)
            except WriteRefused:
                session.rollback()
                outcomes = submit_batch(session, items=numbered, config=self._config, now=now)
            session.commit()
            return outcomes
        except BaseException:
            session.rollback()
            if self._conn.invalidated:  # the database went away: reconnect on the next pass
                self._conn.close()
                self._conn = None
            raise
        finally:
            session.close()
