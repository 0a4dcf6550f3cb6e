"""Batch results into PostgreSQL tables of their own (never into ``reports``).

A table named by the operator (``--table``) is created when missing with fixed columns and
filled by COPY through a temporary staging table, in one transaction per call: a failed run
leaves nothing half-written and a repeated run replaces its rows instead of duplicating them.
Identifiers are quoted with psycopg's sql module; the names of gridmap's own tables are refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd
import pyarrow as pa
from psycopg import sql
from sqlalchemy.orm import Session

from geo.errors import InvalidInput
from geo.models import Report

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

MATCH_COLUMNS = (("report_id", "uuid NOT NULL"), ("generation_id", "integer NOT NULL"), ("grid_code", "text"),
                 ("match_kind", "text NOT NULL"), ("snap_distance_m", "double precision"))
MATCH_KEY = ("report_id", "generation_id")
COUNT_COLUMNS = (("area", "text"), ("res", "smallint NOT NULL"), ("category_group", "text"),
                 ("week", "integer NOT NULL"), ("n", "bigint NOT NULL"))


def check_table_name(name: str) -> str:
    """``name`` if it can name a batch results table. Raises InvalidInput(field=table)."""
    if not _NAME.match(name):
        raise InvalidInput(f"table name {name!r}: use lower-case letters, digits and _", field="table")
    if name in Report.metadata.tables or name.startswith(("pg_", "alembic")):
        raise InvalidInput(f"{name!r} is one of gridmap's own tables: name a table of its own", field="table")
    return name


def _create(cur, name: str, columns, key=None) -> None:
    cols = [sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in columns]
    if key:
        cols.append(sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(map(sql.Identifier, key))))
    cur.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(sql.Identifier(name), sql.SQL(", ").join(cols)))


def _copy(cur, name: str, columns, rows: Iterable[tuple]) -> int:
    n = 0
    names = sql.SQL(", ").join(sql.Identifier(c) for c, _ in columns)
    with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(name), names)) as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def store_matches(session: Session, *, table: str, results: Iterable[pa.Table]) -> int:
    """Upsert match results (``geo.batch.match`` tables) into ``table`` keyed by (report,
    generation). Runs in the session's transaction; the caller commits. Returns rows stored."""
    name = check_table_name(table)
    cur = session.connection().connection.driver_connection.cursor()
    _create(cur, name, MATCH_COLUMNS, MATCH_KEY)
    cur.execute(sql.SQL("CREATE TEMP TABLE batch_stage (LIKE {}) ON COMMIT DROP").format(sql.Identifier(name)))
    n = 0
    for t in results:
        cols = [t.column(c).to_pylist() for c in ("id", "generation_id", "grid_code", "match_kind", "snap_distance_m")]
        n += _copy(cur, "batch_stage", MATCH_COLUMNS, zip(*cols))
    update = sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
                                for c, _ in MATCH_COLUMNS if c not in MATCH_KEY)
    cur.execute(sql.SQL("INSERT INTO {} SELECT * FROM batch_stage ON CONFLICT ({}) DO UPDATE SET {}").format(
        sql.Identifier(name), sql.SQL(", ").join(map(sql.Identifier, MATCH_KEY)), update))
    cur.execute("DROP TABLE batch_stage")
    return n


def store_counts(session: Session, *, table: str, counts: pd.DataFrame, res: int | None) -> int:
    """Replace the counts of resolution ``res`` (stored as res -1 when per grid)
    in ``table`` with ``counts`` (geo.batch.aggregate's frame). The caller commits."""
    name = check_table_name(table)
    level = -1 if res is None else res
    cur = session.connection().connection.driver_connection.cursor()
    _create(cur, name, COUNT_COLUMNS)
    cur.execute(sql.SQL("DELETE FROM {} WHERE res = %s").format(sql.Identifier(name)), (level,))
    area = counts.iloc[:, 0]
    areas = [None if pd.isna(a) else (a if res is None else format(int(a), "x")) for a in area.tolist()]
    groups = [None if pd.isna(g) else g for g in counts["category_group"].tolist()]
    rows = zip(areas, [level] * len(counts), groups, counts["week"].tolist(), counts["n"].tolist())
    return _copy(cur, name, COUNT_COLUMNS, rows)
