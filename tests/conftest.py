"""Test database plumbing: a fresh PostGIS database per session, a rolled-back transaction per test.

The database is never optional: if PostGIS cannot be reached the session errors out (and a
skipped test fails the run), so CI cannot go green without having exercised PostGIS.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import NamedTuple

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from geo.migrate import upgrade
from geo.settings import DatabaseSettings

TEMPLATE_DB = "gridmap_template"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped and exitstatus == 0:
        reporter.write_line(f"FAILED: {skipped} test(s) skipped; every test must run (PostGIS included).", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _admin_engine(url: str) -> sa.Engine:
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


@contextmanager
def fresh_database() -> Iterator[str]:
    """Create ``gridmap_test_<random>`` next to the configured database (from the PostGIS
    template when there is one), migrate it, yield its URL, drop it afterwards."""
    base = make_url(os.environ.get("GRIDMAP_TEST_DATABASE_URL") or DatabaseSettings().url)
    name = f"gridmap_test_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine(base.render_as_string(hide_password=False))
    try:
        with admin.connect() as conn:
            quote = conn.dialect.identifier_preparer.quote
            has_template = conn.scalar(
                sa.select(sa.literal(1)).select_from(sa.table("pg_database", sa.column("datname"), sa.column("datistemplate")))
                .where(sa.column("datname") == TEMPLATE_DB, sa.column("datistemplate"))
            )
            # Identifiers cannot be bound parameters; both names are ours and quoted by the dialect.
            ddl = f"CREATE DATABASE {quote(name)}" + (f" TEMPLATE {quote(TEMPLATE_DB)}" if has_template else "")
            conn.exec_driver_sql(ddl)
    except sa.exc.OperationalError as exc:
        pytest.exit(
            f"cannot reach PostgreSQL at {base.render_as_string(hide_password=True)}: {exc.orig}\n"
            "Run `make db` (installs and starts PostGIS) or set GRIDMAP_DATABASE_URL.",
            returncode=3,
        )
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url=url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {conn.dialect.identifier_preparer.quote(name)} WITH (FORCE)")
        admin.dispose()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """The session's database: fresh, migrated, dropped after the run."""
    with fresh_database() as url:
        yield url


@pytest.fixture()
def scratch_database() -> Iterator[str]:
    """A database of the test's own, for what must not touch the session's (a demo reload)."""
    with fresh_database() as url:
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[sa.Engine]:
    eng = sa.create_engine(database_url, pool_size=5)
    yield eng
    eng.dispose()


@pytest.fixture()
def db(engine: sa.Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test, whatever it committed."""
    with engine.connect() as conn:
        outer = conn.begin()
        session = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
        try:
            yield session
        finally:
            session.close()
            outer.rollback()


@pytest.fixture()
def client(engine: sa.Engine, db: Session):
    """An API client whose requests run inside the test's rolled-back transaction."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.deps import get_session, get_session_opener
    from api.settings import ApiSettings

    app = create_app(engine=engine, api_settings=ApiSettings(staff_tokens=STAFF_TOKEN, escalation_interval_s=0,
                                                             intake_batching=False, token_cache_s=0))
    app.dependency_overrides[get_session] = lambda: db
    app.dependency_overrides[get_session_opener] = lambda: (lambda: nullcontext(db))
    with TestClient(app) as c:
        # Tokens a test issues live in its rolled-back transaction: look them up there too.
        app.state.authenticator._sessionmaker = lambda: nullcontext(db)
        yield c


class TinyCity(NamedTuple):
    generation: int
    workers: dict


@pytest.fixture()
def tiny(db) -> TinyCity:
    """The hand-built four-grid city (tests/tiny_city.py), active, with its workers, rolled back after."""
    from tests.tiny_city import add_workers, build_tiny_city

    generation = build_tiny_city(db)
    return TinyCity(generation, add_workers(db))


@pytest.fixture()
def tokens(db, tiny) -> dict[str, str]:
    """One named token per role (the worker's is grid 001's worker), issued in the test's
    transaction: role -> "Authorization" header value."""
    from geo.access.roles import Principal, Role
    from geo.access.tokens import issue_token
    from tests.tiny_city import GRIDS

    cli = Principal(Role.admin, holder="test")
    out = {}
    for role in (Role.worker, Role.dispatcher, Role.planner, Role.admin, Role.system):
        issued = issue_token(db, role=role, name=f"test {role.value}", actor=cli,
                             worker_id=tiny.workers[next(iter(GRIDS))].id if role == Role.worker else None,
                             system="test-hotline" if role == Role.system else None)
        out[role.value] = f"Bearer {issued.token}"
    db.flush()
    return out


SMALL_CITY_REPORTS = 3000
STAFF_TOKEN = "test-staff-token"
STAFF = {"Authorization": f"Bearer {STAFF_TOKEN}"}


@pytest.fixture(scope="session")
def small_city(engine: sa.Engine):
    """The generator's one-district test city, loaded (committed) once per session."""
    from fixtures.city import SMALL_CITY
    from fixtures.load import load_demo

    spec = SMALL_CITY
    result = load_demo(engine, spec=spec, n_reports=SMALL_CITY_REPORTS)
    assert not result.skipped
    return result


@pytest.fixture()
def committed_reports(engine):
    """Ids of reports a test commits for real (concurrency tests); deleted afterwards."""
    from geo.models import Report
    from geo.reports.maintenance import purge_reports

    ids: list[uuid.UUID] = []
    yield ids
    with engine.begin() as conn:
        purge_reports(conn, where=Report.id.in_(ids))


@pytest.fixture(scope="session")
def demo_city_url() -> Iterator[str]:
    """A database of its own holding the whole demo city's boundaries (4,642 grids) and 2,000
    reports, for tests whose claim is about the demo's size (≈ 20 s to build, once)."""
    from fixtures.city import CitySpec
    from fixtures.load import load_demo

    with fresh_database() as url:
        eng = sa.create_engine(url)
        try:
            load_demo(eng, spec=CitySpec(), n_reports=DEMO_CITY_REPORTS)
        finally:
            eng.dispose()
        yield url


DEMO_CITY_REPORTS = 2000


@contextmanager
def serving(url: str, *, map_settings=None, **api_settings) -> Iterator[str]:
    """uvicorn serving the app on database ``url`` in a thread, on a free 127.0.0.1 port;
    yields the base URL. For the real clients (GDAL, owslib, a browser)."""
    import socket
    import threading
    import time

    import uvicorn

    from api.app import create_app
    from api.settings import ApiSettings
    from geo.settings import DatabaseSettings

    app = create_app(api_settings=ApiSettings(escalation_interval_s=0, **api_settings),
                     db_settings=DatabaseSettings(url=url), map_settings=map_settings)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(10)


PROVINCE_REPORTS = 20_000


@pytest.fixture(scope="session")
def province_url() -> Iterator[str]:
    """A database of its own holding the synthetic 50,000-grid province (fixtures.province)
    and 20,000 reports, for the claims about a province-sized city (~60 s to build, once)."""
    from fixtures.load import load_province

    with fresh_database() as url:
        eng = sa.create_engine(url)
        try:
            load_province(eng, reports=PROVINCE_REPORTS)
        finally:
            eng.dispose()
        yield url
