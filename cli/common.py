"""What every command shares: settings, the engine, and turning failures into next steps."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from geo.db import make_engine
from geo.errors import GridmapError
from geo.settings import DatabaseSettings

console = Console()
err_console = Console(stderr=True)


def fail(message: str, hint: str | None = None) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}")
    if hint:
        err_console.print(f"[yellow]next:[/] {hint}")
    return typer.Exit(code=1)


@contextmanager
def database(*, statement_timeout: bool = False) -> Iterator[tuple[Engine, DatabaseSettings]]:
    """An engine on ``GRIDMAP_DATABASE_URL``; connection and schema failures become advice."""
    settings = DatabaseSettings()
    engine = make_engine(settings, statement_timeout=statement_timeout)
    where = make_url(settings.url).render_as_string(hide_password=True)
    try:
        yield engine, settings
    except OperationalError as exc:
        raise fail(
            f"cannot use the database at {where}: {str(exc.orig).strip().splitlines()[0]}",
            "run `make db` to install/start the local PostGIS, or set GRIDMAP_DATABASE_URL",
        ) from None
    except ProgrammingError as exc:
        raise fail(
            f"the database at {where} rejected a query: {str(exc.orig).strip().splitlines()[0]}",
            "is the schema current? run `gridmap db migrate`",
        ) from None
    except GridmapError as exc:
        raise fail(exc.message) from None
    finally:
        engine.dispose()


def make_parent(path: Path) -> None:
    """Create the folder ``path`` is to be written in, or fail saying why and what to do."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fail(f"cannot create the folder {path.parent}: {exc.strerror or exc}",
                   "choose an --out in a folder you can write to") from None
    if not path.parent.is_dir():
        raise fail(f"{path.parent} is not a folder", "choose an --out in a folder you can write to")


def parse_level(value: str, *, allowed=None):
    """--level as an AreaLevel, or fail listing the levels ``allowed`` (default: every level)."""
    from geo.boundaries.hierarchy import AreaLevel

    allowed = list(allowed or AreaLevel)
    lvl = next((lv for lv in allowed if lv.value == value.strip().lower()), None)
    if lvl is None:
        raise fail(f"unknown level {value!r}", f"use one of: {', '.join(lv.value for lv in allowed)}")
    return lvl


def city_config():
    """The city's configuration (GRIDMAP_CITY_CONFIG, else the built-in defaults)."""
    from geo.cityconfig import load_city_config
    from geo.settings import CitySettings

    return load_city_config(CitySettings().config)


def cli_actor(role=None, holder: str | None = None):
    """Who acts from the terminal, as the audit names them: ``holder`` (``--actor``), else the
    operating-system user; ``role`` default admin (the CLI has the database's own rights)."""
    import getpass

    from geo.access.roles import Principal, Role

    return Principal(role or Role.admin, holder=holder or f"cli:{getpass.getuser()}")


def progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
