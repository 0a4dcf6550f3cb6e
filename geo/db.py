"""Engine and session construction. Callers own the lifetimes (the app lifespan, a CLI command)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from geo.settings import DatabaseSettings


def make_engine(settings: DatabaseSettings, *, statement_timeout: bool = True) -> Engine:
    """Create a pooled engine for ``settings.url``.

    With ``statement_timeout`` each pooled connection gets the configured per-statement
    limit, so one pathological query cannot pin a worker; bulk loaders pass ``False``.
    """
    engine = create_engine(
        settings.url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_pre_ping=True,
    )
    if statement_timeout:
        timeout = int(settings.statement_timeout_ms)

        @event.listens_for(engine, "connect")
        def _set_timeout(dbapi_conn, _record):  # pragma: no cover - trivial
            with dbapi_conn.cursor() as cur:
                cur.execute(f"SET statement_timeout = {timeout}")  # int, validated by settings
            dbapi_conn.commit()

    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that do not expire loaded objects on commit (responses are built after commit)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
