"""`batch match`: every archived report matched to one generation's grids on Dask workers.

The rule is geo.matching.rule.match_points, run on the workers over each part with the
matcher shipped once per worker. The few points no grid covers need the rule's database
fallback (PostGIS nearest grid); workers have no database, so they hand those points back
and the client runs ``match_points`` over them all with ``database_fallback`` in one pass.
Every point no grid covers goes to the fallback either way, so each report gets exactly
what ``match_points`` over all points at once gives it.

Results per report: ``id``, ``grid_code`` (None: unassigned), ``match_kind`` and
``snap_distance_m`` (metres, snapped reports only), ``generation_id``, and the report's
point (GeoParquet, EPSG:4326).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from distributed import Client, Future, as_completed
from sqlalchemy.orm import Session

from geo.archive.layout import GEOMETRY, PART
from geo.batch.engine import Shipped, forget, month_of, read_points, ship
from geo.matching.matcher import GridMatcher
from geo.matching.rule import MatchOutcome, database_fallback, match_points
from geo.models import MatchKind

RESULTS = "matches.json"
Progress = Callable[[str], None]  # called with a step's name each time one part finishes it


@dataclass
class PartMatches:
    """One part matched on a worker: ``table`` (id, grid_code, match_kind, snap_distance_m,
    generation_id, geometry) and, by row position, the points no grid covers (``pending``,
    their lon/lat), whose columns the client fills in (see ``resolve_pending``)."""

    month: str
    table: pa.Table
    pending: np.ndarray
    lon: np.ndarray
    lat: np.ndarray


def match_part(part: Path, shipped: Shipped, generation: int, statuses: Sequence[str] | None = None) -> PartMatches:
    """Worker task: ``match_points`` over one part (its reports in ``statuses`` only, when
    given), the points no grid covers left pending for the client's fallback."""
    matcher = shipped.get()
    table, lon, lat = read_points(part, ["id", "status"] if statuses is not None else ["id"])
    if statuses is not None:
        keep = pc.is_in(table.column("status"), value_set=pa.array(list(statuses), pa.string())).to_numpy(
            zero_copy_only=False)
        table, lon, lat = table.filter(pa.array(keep)).drop_columns(["status"]), lon[keep], lat[keep]

    def later(x: np.ndarray, y: np.ndarray) -> list[MatchOutcome]:
        return [MatchOutcome(MatchKind.unassigned, generation)] * len(x)  # filled in by the client

    matched = match_points(matcher, lon, lat, fallback=later)
    pending = np.fromiter(matched.fallbacks, dtype=np.int64, count=len(matched.fallbacks))
    out = _results(table, matched.codes, matched.kinds, matched.snap_distances, generation)
    return PartMatches(month_of(Path(part)), out, pending, lon[pending], lat[pending])


def _results(table: pa.Table, codes, kinds, snaps, generation: int) -> pa.Table:
    """The result columns next to the part's ids and points, keeping its GeoParquet metadata."""
    n = table.num_rows
    cols = {
        "id": table.column("id"),
        "grid_code": pa.array(codes, pa.string()),
        "match_kind": pa.array(kinds, pa.string()),
        "snap_distance_m": pa.array(snaps, pa.float64()),
        "generation_id": pa.array(np.full(n, generation, dtype=np.int32)),
        GEOMETRY: table.column(GEOMETRY),
    }
    geo = (table.schema.metadata or {}).get(b"geo")
    return pa.table(cols, metadata={b"geo": geo} if geo else None)


def _pending_points(part: PartMatches) -> tuple[np.ndarray, np.ndarray]:
    return part.lon, part.lat


def resolve_pending(session: Session, *, matcher: GridMatcher, generation: int, snap_tolerance_m: float,
                    points: list[tuple[np.ndarray, np.ndarray]]) -> list[tuple[np.ndarray, np.ndarray, list]]:
    """Client side: ``match_points`` with ``database_fallback`` over every part's pending
    points at once (one query), split back per part as (codes, kinds, snap distances)."""
    sizes = [len(lon) for lon, _ in points]
    if not sum(sizes):
        return [(np.empty(0, object), np.empty(0, object), []) for _ in sizes]
    lon = np.concatenate([p[0] for p in points])
    lat = np.concatenate([p[1] for p in points])
    matched = match_points(matcher, lon, lat, fallback=database_fallback(
        session, generation=generation, snap_tolerance_m=snap_tolerance_m))
    snaps = matched.snap_distances
    out, start = [], 0
    for size in sizes:
        out.append((matched.codes[start:start + size], matched.kinds[start:start + size], snaps[start:start + size]))
        start += size
    return out


def patch_part(part: PartMatches, resolved: tuple[np.ndarray, np.ndarray, list]) -> tuple[str, pa.Table]:
    """Worker task: (month, results) with the client's answers for the pending points."""
    table = part.table
    if not len(part.pending):
        return part.month, table
    codes, kinds, snaps = resolved
    columns = {}
    for name, values in (("grid_code", codes), ("match_kind", kinds), ("snap_distance_m", snaps)):
        column = table.column(name).to_numpy(zero_copy_only=False).astype(object)
        column[part.pending] = values
        columns[name] = pa.array(column, table.schema.field(name).type, from_pandas=True)  # NaN back to null
    for name, column in columns.items():
        table = table.set_column(table.schema.get_field_index(name), name, column)
    return part.month, table


def match_archive(client: Client, session: Session, *, parts: Sequence[Path], matcher: GridMatcher,
                  generation: int, snap_tolerance_m: float, statuses: Sequence[str] | None = None,
                  progress: Progress | None = None, ship_dir: Path | None = None) -> list[Future]:
    """Match every part on the cluster; returns one future per part of (month, results
    table), kept on the workers (write them with ``write_results`` or gather them one by one).
    ``statuses``: only the reports in these statuses (rematch: the open ones); ``ship_dir``:
    where the matcher is written for the workers (see geo.batch.engine.ship)."""
    with ship(matcher, ship_dir) as shipped:
        matched = [client.submit(match_part, str(p), shipped, generation, statuses, pure=False) for p in parts]
        pending = [client.submit(_pending_points, m) for m in matched]
        for _ in as_completed(pending):  # every part matched: the workers hold their copy
            if progress:
                progress("match")
        client.run(forget, shipped.path)
    resolved = resolve_pending(session, matcher=matcher, generation=generation, snap_tolerance_m=snap_tolerance_m,
                               points=client.gather(pending))
    futures = [client.submit(patch_part, m, r, pure=False) for m, r in zip(matched, resolved)]
    del matched, pending  # the patched tables replace the unpatched ones on the workers
    return futures


def write_part(month_table: tuple[str, pa.Table], out: str) -> tuple[str, int]:
    """Worker task: one month's results to ``out/month=YYYY-MM/part-0.parquet`` (whole, via a
    temporary file renamed into place). Returns (month, rows)."""
    month, table = month_table
    target = Path(out) / f"month={month}"
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / (PART + ".tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, target / PART)
    return month, table.num_rows


def write_results(client: Client, futures: Sequence[Future], *, out: Path, generation: int,
                  progress: Progress | None = None) -> dict[str, int]:
    """Write every part's results under ``out`` (hive by month, GeoParquet, like the archive)
    and ``out/matches.json`` (generation, rows per month) last. Returns rows per month."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = [client.submit(write_part, f, str(out), pure=False) for f in futures]
    rows: dict[str, int] = {}
    for fut in as_completed(written):
        month, n = fut.result()
        rows[month] = n
        if progress:
            progress("write")
    tmp = out / (RESULTS + ".tmp")
    tmp.write_text(json.dumps({"generation": generation, "months": dict(sorted(rows.items()))}, indent=1))
    os.replace(tmp, out / RESULTS)
    return dict(sorted(rows.items()))


def single_machine(session: Session, *, parts: Sequence[Path], matcher: GridMatcher, generation: int,
                   snap_tolerance_m: float) -> pa.Table:
    """The reference: ``match_points`` over every archived point at once, in this process
    (what the batch results must equal; the bench's baseline)."""
    tables, lons, lats = [], [], []
    for p in parts:
        t, x, y = read_points(Path(p), ["id"])
        tables.append(t)
        lons.append(x)
        lats.append(y)
    table = pa.concat_tables(tables)
    matched = match_points(matcher, np.concatenate(lons), np.concatenate(lats), fallback=database_fallback(
        session, generation=generation, snap_tolerance_m=snap_tolerance_m))
    return _results(table, matched.codes, matched.kinds, matched.snap_distances, generation)
