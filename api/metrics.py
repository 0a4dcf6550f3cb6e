"""What ``/metrics`` exposes (Prometheus text format), one registry per app.

The app factory makes one ``Metrics`` and keeps it on ``app.state.metrics``; nothing is
registered globally at import, so two apps in one process (the tests) never share counters.

- counted as it happens: reports registered by intake path, the intake batcher's passes
  (latency, size), the escalation loop's runs, HTTP requests by route template and status;
- read at scrape time: the batcher's queue depth, the escalation loop's last run and lag,
  and the database figures of ``geo.operations`` (overdue backlog, active generation,
  webhook backlog), cached ``cache_s`` seconds so that scrapes cannot load the database.

With several uvicorn workers each process answers for itself (its own counters); the
database figures are the same from every one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session
from starlette.routing import Mount, Route

from geo.operations import OpsFigures, ops_figures

SCRAPE_FLAG = "metrics_scrape"  # request state: the gate saw the scrape token on /metrics
INTAKE_PATHS = ("single", "batch", "open311")
# Seconds: a pass takes ~6 ms alone and up to a few hundred ms for a thousand reports.
PASS_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
PASS_SIZES = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The app's registry and the instruments the service updates."""

    def __init__(self, *, escalation_interval_s: float, cache_s: float = 5.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.registered = Counter("gridmap_reports_registered", "Reports registered (new, not retries), by intake "
                                  "path: single (POST /api/v1/reports), batch, open311.", ["path"], registry=r)
        for path in INTAKE_PATHS:  # every path shows from the start, at 0
            self.registered.labels(path)
        self.intake_pass = Histogram("gridmap_intake_pass_seconds", "Time of one intake pass (registration and "
                                     "commit of the single reports queued together).", buckets=PASS_BUCKETS, registry=r)
        self.intake_pass_size = Histogram("gridmap_intake_pass_reports", "Reports in one intake pass.",
                                          buckets=PASS_SIZES, registry=r)
        self.intake_errors = Counter("gridmap_intake_pass_errors", "Intake passes that failed (each waiting "
                                     "report was answered with the error).", registry=r)
        self.escalated = Counter("gridmap_escalation_escalated_cases", "Overdue cases the escalation loop moved "
                                 "one level up.", registry=r)
        self.escalation_errors = Counter("gridmap_escalation_errors", "Escalation loop runs that failed, and "
                                         "cases it could not escalate.", registry=r)
        self.http = Histogram("gridmap_http_request_duration_seconds", "HTTP requests by method, route template "
                              "and status: time to the end of the answer.", ["method", "route", "status"],
                              buckets=HTTP_BUCKETS, registry=r)
        self.interval_s = escalation_interval_s
        self.cache_s = cache_s
        self._clock = clock
        self.started = clock()
        self.last_escalation: float | None = None
        self.queue_depth: Callable[[], int] = lambda: 0
        self._figures: OpsFigures | None = None
        self._figures_at = -1e18
        self._lock = threading.Lock()
        r.register(_ScrapeTime(self))

    def registered_reports(self, path: str, n: int = 1) -> None:
        """Count ``n`` reports newly registered through ``path`` (one of INTAKE_PATHS)."""
        if n:
            self.registered.labels(path).inc(n)

    def intake_passed(self, seconds: float, size: int) -> None:
        self.intake_pass.observe(seconds)
        self.intake_pass_size.observe(size)

    def escalation_ran(self, *, moved: int, failed: int) -> None:
        """The escalation loop finished a run now (its lag starts again from here)."""
        self.last_escalation = self._clock()
        self.escalated.inc(moved)
        if failed:
            self.escalation_errors.inc(failed)

    def escalation_failed(self) -> None:
        self.escalation_errors.inc()

    def refresh(self, open_session: Callable[[], AbstractContextManager[Session]]) -> None:
        """Read the database figures, unless read less than ``cache_s`` seconds ago (one
        reader at a time: concurrent scrapes wait and share its result)."""
        with self._lock:
            if time.monotonic() - self._figures_at < self.cache_s:
                return
            with open_session() as session:
                self._figures = ops_figures(session, now=datetime.now(UTC))
            self._figures_at = time.monotonic()

    def escalation_lag(self) -> float | None:
        """Seconds past the time the escalation loop should have run by (0 while on time);
        None when the loop is off."""
        if self.interval_s <= 0:
            return None
        since = self.last_escalation if self.last_escalation is not None else self.started
        return max(0.0, self._clock() - since - self.interval_s)


def route_template(scope, *, top_level: list | None = None) -> str:
    """The route template a request was routed to ("/api/v1/reports/{report_id}"), for the
    ``route`` label: never the path itself, so the label's values stay few. A route inside an
    included router knows only its own part of the template; the prefix is the path's
    segments before it (a router prefix has no parameters). FastAPI's router records no
    route for the plain Starlette routes and mounts at the top (the batched intake endpoint,
    /openapi.json, /assets): those are matched against ``top_level``."""
    route = scope.get("route")
    if route is None and top_level:
        path = scope.get("path", "")
        route = next((r for r in top_level if r.path_regex.match(path)), None)
    if isinstance(route, Mount):
        return route.path or "/"
    template = getattr(route, "path_format", None)
    if not template:
        return "unrouted"  # answered before routing (the gate) or by no route (404)
    if ":path}" in template:  # a parameter spanning segments: the segments cannot be counted
        return template
    segments = scope.get("path", "").split("/")
    return "/".join(segments[: max(1, len(segments) - template.count("/"))]) + template


def plain_routes(app) -> list:
    """The app's top-level Starlette routes and mounts (not FastAPI's own), for ``route_template``."""
    return [r for r in getattr(getattr(app, "router", None), "routes", ())
            if type(r) in (Route, Mount) and getattr(r, "path_regex", None) is not None]


class _ScrapeTime(Collector):
    """The gauges read when scraped."""

    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics

    def describe(self) -> list:
        return []  # read at scrape time only: nothing to check at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        m = self.m
        yield GaugeMetricFamily("gridmap_intake_queue_depth", "Single reports waiting for the next intake pass.",
                                value=m.queue_depth())
        yield GaugeMetricFamily("gridmap_escalation_interval_seconds", "How often the escalation loop runs "
                                "(0: never, GRIDMAP_ESCALATION_INTERVAL_S).", value=m.interval_s)
        if m.last_escalation is not None:
            yield GaugeMetricFamily("gridmap_escalation_last_run_timestamp_seconds", "When the escalation loop "
                                    "last finished a run (Unix time).", value=m.last_escalation)
        if (lag := m.escalation_lag()) is not None:
            yield GaugeMetricFamily("gridmap_escalation_lag_seconds", "Seconds since the escalation loop should "
                                    "have run (0: on time).", value=lag)
        f = m._figures
        if f is None:
            return
        yield GaugeMetricFamily("gridmap_overdue_cases", "Open cases past their due time (read at most every "
                                f"{m.cache_s:g} s).", value=f.overdue)
        if f.active_generation is not None:
            yield GaugeMetricFamily("gridmap_active_generation", "Id of the active boundary generation.",
                                    value=f.active_generation)
        backlog = GaugeMetricFamily("gridmap_webhook_backlog", "Webhook deliveries still to send, by status "
                                    "(pending: not tried yet; failed: to be tried again).", labels=["status"])
        backlog.add_metric(["pending"], f.webhooks_pending)
        backlog.add_metric(["failed"], f.webhooks_failed)
        yield backlog
