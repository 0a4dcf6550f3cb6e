"""Run the Alembic migrations shipped inside the package (no alembic.ini in the working dir needed)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(*, url: str | None = None, connection: Connection | None = None) -> Config:
    """An Alembic config pointing at ``geo/migrations`` and at the given database."""
    cfg = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # ConfigParser interpolation: a literal % in a password must be doubled.
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(*, url: str | None = None, connection: Connection | None = None, revision: str = "head") -> None:
    """Bring the database schema to ``revision`` (default: the newest).

    Raises InvalidInput (field ``revision``) for a revision this code does not ship, or one
    behind the database's (migrations only go forward here)."""
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError

    from geo.errors import InvalidInput

    known = revisions()
    if revision not in ("head", "heads") and revision not in known:
        raise InvalidInput(f"unknown revision {revision!r}: use head, or one of {', '.join(known)}", field="revision")
    try:
        command.upgrade(alembic_config(url=url, connection=connection), revision)
    except (CommandError, RevisionError) as exc:
        raise InvalidInput(f"cannot upgrade to revision {revision!r}: {exc} (migrations only go forward; "
                           f"the newest is {known[-1]})", field="revision") from None


def revisions() -> list[str]:
    """Every revision shipped with this code, oldest first."""
    from alembic.script import ScriptDirectory

    return [s.revision for s in reversed(list(ScriptDirectory.from_config(alembic_config()).walk_revisions()))]


def current_revision(*, connection: Connection) -> str | None:
    """The revision the database is at, or None for an unmigrated database."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The newest revision shipped with this code."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def require_current(*, connection: Connection) -> None:
    """Raise SchemaOutdated unless the database is at the newest revision."""
    from geo.errors import SchemaOutdated

    current, head = current_revision(connection=connection), head_revision()
    if current != head:
        raise SchemaOutdated(
            f"the database schema is at {current or 'nothing'}, this code needs {head}: run `gridmap db migrate`"
        )
