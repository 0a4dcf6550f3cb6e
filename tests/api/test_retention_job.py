"""The server's loop runs the retention job hourly, and again at once while it catches up."""

from __future__ import annotations

from contextlib import nullcontext
from types import SimpleNamespace

from api import jobs as app_module
from geo.access.retention import RetentionRun
from geo.cityconfig import load_city_config


def test_retention_runs_hourly_and_catches_up(monkeypatch):
    runs: list[RetentionRun] = [RetentionRun(20_000, 0, False), RetentionRun(5, 3, True)]
    calls = []

    def fake(session, *, config, now):
        calls.append((session, config, now))
        return runs.pop(0)

    clock = [1000.0]
    monkeypatch.setattr(app_module, "run_retention", fake)
    monkeypatch.setattr(app_module.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(app_module, "session_scope", lambda factory: nullcontext("session"))
    app = SimpleNamespace(state=SimpleNamespace(sessionmaker=None, city_config=load_city_config()))
    app_module.retain(app)  # history to catch up on: not finished...
    clock[0] += 60
    app_module.retain(app)  # ...so the next tick runs again; this one finishes
    assert len(calls) == 2 and calls[0][0] == "session" and calls[0][1] is app.state.city_config
    clock[0] += 60
    app_module.retain(app)  # finished: nothing until the hour is up
    assert len(calls) == 2
    runs.append(RetentionRun(0, 0, True))
    clock[0] += app_module.RETENTION_EVERY_S
    app_module.retain(app)
    assert len(calls) == 3
