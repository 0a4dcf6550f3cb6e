"""`gridmap bulletin`: the periodic analysis bulletin (定期分析研判) as a self-contained HTML
file (and a PDF printed by Chromium when it is installed)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from cli.common import city_config, console, database, fail, make_parent

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
PDF_TIMEOUT_S = 120


def find_chromium() -> str | None:
    """The path of a Chromium (or Chrome) on PATH, or None."""
    return next((p for p in map(shutil.which, CHROMIUM_CANDIDATES) if p), None)


def print_pdf(html: Path, pdf: Path, *, chromium: str) -> None:
    """Print ``html`` (a file) to ``pdf`` with headless Chromium, no network; raises
    RuntimeError with Chromium's last words when it fails or writes nothing."""
    pdf.unlink(missing_ok=True)
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--no-first-run", "--disable-component-update", "--disable-sync", "--no-pdf-header-footer",
           f"--print-to-pdf={pdf.resolve()}", html.resolve().as_uri()]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=PDF_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"Chromium did not finish within {PDF_TIMEOUT_S} s") from None
    if not pdf.is_file() or pdf.stat().st_size == 0 or not pdf.read_bytes().startswith(b"%PDF"):
        last = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
        raise RuntimeError(f"Chromium wrote no PDF (exit {done.returncode}): {last}")


def bulletin(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write bulletin-<period>-<end>.html (and .pdf) to.")],
    period: Annotated[str, typer.Option(help="week (7 days), fortnight (14) or month (the calendar month to --end).")]
    = "week",
    end: Annotated[str | None, typer.Option(help=(
        "The period's last day, a local date in the city's time zone (2026-11-30); default: yesterday."))] = None,
    pdf: Annotated[bool, typer.Option(help="Also print a PDF with Chromium (skipped, with a note, if none is installed).")]
    = True,
    exact: Annotated[bool, typer.Option(help=(
        "Count sensitive cases at their exact cell in the hot spots (for dispatchers' and admins' own use)."))] = False,
) -> None:
    """The periodic analysis bulletin: counts and rates per district and street against the
    previous period, grids that became or stopped being Gi* hot spots, departments' overdue and
    returned cases, trend charts per category group, and the hot-spot map."""
    from sqlalchemy.orm import Session

    from geo.analytics.bulletin import Period, build_bulletin, check_end
    from geo.boundaries.generations import active_generation_id
    from geo.errors import InvalidInput
    from maps.bulletin import render_bulletin
    from maps.settings import MapSettings, missing_assets

    try:
        which = Period(period.strip().lower())
    except ValueError:
        raise fail(f"--period: unknown period {period!r}", "use week, fortnight or month") from None
    config = city_config()
    today = datetime.now(config.tz).date()
    try:
        last = check_end(date.fromisoformat(end) if end else today - timedelta(days=1), today=today)
    except (ValueError, InvalidInput) as exc:
        message = exc.message if isinstance(exc, InvalidInput) else f"not a date: {end!r}"
        raise fail(f"--end: {message}", "give a past local date, e.g. --end "
                   f"{(today - timedelta(days=1)).isoformat()}") from None
    settings = MapSettings()
    if (why := missing_assets(settings.assets_dir)) is not None:
        raise fail(why)
    html_path = out / f"bulletin-{which.value}-{last.isoformat()}.html"
    make_parent(html_path)
    with database() as (engine, _), Session(engine) as session:
        with console.status(f"counting the {which.value} to {last} and the one before, and their hot spots"):
            b = build_bulletin(session, period=which, end=last, config=config,
                               generation=active_generation_id(session), now=datetime.now(UTC), public=not exact)
    with console.status("rendering"):
        page = render_bulletin(b, settings=settings)
    html_path.write_text(page.html, encoding="utf-8")
    console.print(f"wrote {html_path} ({len(page.html.encode()) / 1e6:.2f} MB, self-contained): "
                  f"{b.current.first} – {b.current.last} against {b.previous.first} – {b.previous.last}, "
                  f"{b.totals.value('total'):,} reports, {len(b.became_hot)} new hot-spot grids")
    if not pdf:
        return
    chromium = find_chromium()
    if chromium is None:
        console.print("[yellow]note:[/] no Chromium on PATH: no PDF (open the HTML and print it, or pass --no-pdf)")
        return
    pdf_path = html_path.with_suffix(".pdf")
    with console.status("printing the PDF with Chromium"):
        try:
            print_pdf(html_path, pdf_path, chromium=chromium)
        except (RuntimeError, OSError) as exc:
            raise fail(f"the HTML is written, but not the PDF: {exc}", "pass --no-pdf, or print the HTML "
                       "from a browser") from None
    console.print(f"wrote {pdf_path} ({pdf_path.stat().st_size / 1e6:.2f} MB)")
