"""Micro-batching of single-report intake.

Each POST /api/v1/reports waits on a future while a few consumer tasks drain the queue: every
pass takes *whatever has queued up* (no timer, so a lone request is not delayed) and registers
it through the same vectorised path as the batch endpoint, in one transaction and one commit.
Under load this turns hundreds of commits (each an fsync) into a few, which is what lets two
cores take a thousand reports a second. Retries inside one pass are still one report.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from geo.cityconfig import CityConfig
from geo.db import session_scope
from geo.intake import ReportInput
from geo.registration import BatchOutcome, matcher_for_active, submit_batch

log = logging.getLogger("gridmap.intake")


class IntakeBatcher:
    def __init__(self, factory: sessionmaker[Session], config: CityConfig, *, max_batch: int = 1000,
                 consumers: int = 2, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._factory, self._config, self._clock = factory, config, clock
        self._max_batch, self._consumers = max_batch, consumers
        self._queue: asyncio.Queue[tuple[ReportInput, asyncio.Future]] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._consume(), name=f"intake-{i}") for i in range(self._consumers)]
        # Build the grid matcher now rather than inside the first reports' requests.
        self._tasks.append(asyncio.create_task(run_in_threadpool(self._warm), name="intake-warm-up"))

    def _warm(self) -> None:
        try:
            with session_scope(self._factory) as session:
                matcher_for_active(session)
        except Exception:  # noqa: BLE001 - no boundaries loaded yet, or the database is down
            log.warning("grid matcher not warmed up; the first report will build it", exc_info=True)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        while not self._queue.empty():  # nobody will serve these now: fail them loudly
            _, fut = self._queue.get_nowait()
            if not fut.done():
                fut.set_exception(RuntimeError("the service is shutting down; retry the report"))

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
            try:
                outcomes = await run_in_threadpool(self._register, [item for item, _ in batch])
            except Exception as exc:  # noqa: BLE001 - each waiting request gets the failure
                log.exception("intake pass of %d report(s) failed", len(batch))
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (_, fut), outcome in zip(batch, outcomes, strict=True):
                if not fut.done():
                    fut.set_result(outcome)

    def _register(self, items: list[ReportInput]) -> list[BatchOutcome]:
        with session_scope(self._factory) as session:
            return submit_batch(session, items=list(enumerate(items)), config=self._config, now=self._clock())
