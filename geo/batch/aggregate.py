"""`batch aggregate`: report counts per grid (or H3 cell) × category group × week, on Dask.

Each worker counts one part; the client adds the partial counts. Weeks are Monday 00:00 in
the archive's city time zone (geo.analytics.weeks.week_numbers, the pandas spelling of the
SQL week_bin / week_number), groups are the catalogue's (geo.reports.categories). The same
counts straight from PostgreSQL are ``postgis_counts``; the two are equal (tests, bench).

Columns: ``grid_code`` (str, None for unassigned reports) or ``cell`` (int64 H3 cell at
``res``, from the stored h3_cell), ``category_group`` (None for a category not in the
catalogue), ``week`` (int, see weeks.week_start), ``n`` (int64).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import sqlalchemy as sa
from distributed import Client, as_completed
from sqlalchemy.orm import Session

from geo.analytics.weeks import week_bin, week_number, week_numbers
from geo.matching.cells import parent_expr, parents
from geo.models import Report
from geo.reports.categories import CATALOGUE

GROUP_OF: dict[str, str] = {c.code: c.group for c in CATALOGUE}  # category code -> group


def key_column(res: int | None) -> str:
    """The area column of the counts: ``grid_code``, or ``cell`` at an H3 resolution."""
    return "grid_code" if res is None else "cell"


def _empty(res: int | None) -> pd.DataFrame:
    area = pd.Series([], dtype="string" if res is None else "int64")
    return pd.DataFrame({key_column(res): area, "category_group": pd.Series([], dtype="string"),
                         "week": pd.Series([], dtype="int64"), "n": pd.Series([], dtype="int64")})


def count_part(part: str, zone: str, res: int | None) -> pd.DataFrame:
    """Worker task: one part's counts per (area, category group, week)."""
    area_col = "grid_code" if res is None else "h3_cell"
    frame = pq.read_table(part, columns=[area_col, "category", "reported_at"]).to_pandas()
    if frame.empty:
        return _empty(res)
    keys = pd.DataFrame({
        key_column(res): frame[area_col].astype("string") if res is None else parents(frame[area_col].to_numpy(), res),
        "category_group": frame["category"].map(GROUP_OF).astype("string"),
        "week": week_numbers(frame["reported_at"], zone),
    })
    return keys.groupby(list(keys.columns), dropna=False, sort=False).size().rename("n").reset_index()


def combine(partials: Sequence[pd.DataFrame], res: int | None) -> pd.DataFrame:
    """Sum partial counts; sorted by area, group, week (missing values first)."""
    frames = [p for p in partials if not p.empty]
    if not frames:
        return _empty(res)
    keys = [key_column(res), "category_group", "week"]
    total = pd.concat(frames, ignore_index=True).groupby(keys, dropna=False, sort=False)["n"].sum().reset_index()
    return sort_counts(total, res)


def sort_counts(frame: pd.DataFrame, res: int | None) -> pd.DataFrame:
    """Counts in one canonical order (for output and comparison), with canonical dtypes."""
    out = frame.astype({key_column(res): "string" if res is None else "int64", "category_group": "string",
                        "week": "int64", "n": "int64"})
    return out.sort_values([key_column(res), "category_group", "week"], na_position="first",
                           ignore_index=True)


def aggregate_archive(client: Client, *, parts: Sequence[Path], zone: str, res: int | None = None,
                      progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Counts over the whole archive, one task a part (see the module docstring)."""
    futures = [client.submit(count_part, str(p), zone, res, pure=False) for p in parts]
    partials = []
    for fut in as_completed(futures):
        partials.append(fut.result())
        if progress:
            progress("aggregate")
    return combine(partials, res)


def postgis_counts(session: Session, *, zone: str, res: int | None = None, conditions: Sequence = ()) -> pd.DataFrame:
    """The same counts over the reports table (those meeting ``conditions``, SQLAlchemy
    clauses), in one GROUP BY (weeks.week_bin, the catalogue's groups): what
    ``aggregate_archive`` of a complete archive equals."""
    area = Report.grid_code if res is None else parent_expr(Report.h3_cell, res)
    # Inline literals (the catalogue's own codes), not bind parameters: the expression in
    # SELECT and GROUP BY must be textually the same.
    group = sa.case(*((Report.category == sa.literal_column(f"'{code}'"), sa.literal_column(f"'{g}'"))
                      for code, g in GROUP_OF.items()), else_=sa.null())
    week = week_bin(zone)
    rows = session.execute(
        sa.select(area, group, week_number(week, zone), sa.func.count()).where(*conditions)
        .group_by(area, group, week)
    ).all()
    frame = pd.DataFrame(rows, columns=[key_column(res), "category_group", "week", "n"])
    return sort_counts(frame, res) if len(frame) else _empty(res)


def equal_counts(a: pd.DataFrame, b: pd.DataFrame, res: int | None) -> tuple[int, int]:
    """(rows equal, rows differing) between two count frames (an outer join on the keys)."""
    keys = [key_column(res), "category_group", "week"]
    fill = {key_column(res): "\0" if res is None else np.int64(-1), "category_group": "\0"}
    merged = sort_counts(a, res).fillna(fill).merge(sort_counts(b, res).fillna(fill), on=keys, how="outer",
                                                    suffixes=("_a", "_b"), indicator=False)
    same = (merged["n_a"] == merged["n_b"]).fillna(False).to_numpy(dtype=bool)
    return int(same.sum()), int((~same).sum())
