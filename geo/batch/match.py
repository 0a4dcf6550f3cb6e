"""`batch match`: every archived report matched to one generation's grids on Dask workers.

The rule is geo.matching.rule.match_points, run on the workers over each part with the
matcher shipped once per worker. The few points no grid covers need the rule's database
fallback (PostGIS nearest grid); workers have no database, so they hand those points back
and the client runs ``match_points`` over them all with ``database_fallback`` in one pass.
Every point no grid covers goes to the fallback either way, so each report gets exactly
what ``match_points`` over all points at once gives it.

Each worker writes a part's results next to the output as soon as it has matched them and
keeps only the few pending points, so its memory is the matcher plus one part.

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
from distributed import Client, as_completed
from sqlalchemy.orm import Session

from geo.archive.layout import GEOMETRY, PART
from geo.batch.engine import Shipped, forget, month_of, read_points, ship
from geo.matching.matcher import GridMatcher
from geo.matching.rule import MatchOutcome, database_fallback, match_points
from geo.models import MatchKind

RESULTS = "matches.json"
PENDING = PART + ".pending"  # a part's results written before the client's fallback pass
Progress = Callable[[str], None]  # called with a step's name each time one part finishes it


@dataclass
class PartPending:
    """What a worker hands back for one part (its results are on disk): the month and, by
    row position, the points no grid covers with their lon/lat, for the client's fallback."""

    month: str
    rows: int
    pending: np.ndarray
    lon: np.ndarray
    lat: np.ndarray


def _target(out: str, month: str) -> Path:
    return Path(out) / f"month={month}"


def match_part(part: str, shipped: Shipped, generation: int, out: str,
               statuses: Sequence[str] | None = None) -> PartPending:
    """Worker task: ``match_points`` over one part (its reports in ``statuses`` only, when
    given), written to ``out/month=…/part-0.parquet.pending``; the points no grid covers are
    left for the client's fallback. A worker holds one part at a time, never the run's results."""
    matcher = shipped.get()
    table, lon, lat = read_points(Path(part), ["id", "status"] if statuses is not None else ["id"])
    if statuses is not None:
        keep = pc.is_in(table.column("status"), value_set=pa.array(list(statuses), pa.string())).to_numpy(
            zero_copy_only=False)
        table, lon, lat = table.filter(pa.array(keep)).drop_columns(["status"]), lon[keep], lat[keep]

    def later(x: np.ndarray, y: np.ndarray) -> list[MatchOutcome]:
        return [MatchOutcome(MatchKind.unassigned, generation)] * len(x)  # filled in by the client

    matched = match_points(matcher, lon, lat, fallback=later)
    pending = np.fromiter(matched.fallbacks, dtype=np.int64, count=len(matched.fallbacks))
    month = month_of(Path(part))
    target = _target(out, month)
    target.mkdir(parents=True, exist_ok=True)
    pq.write_table(_results(table, matched.codes, matched.kinds, matched.snap_distances, generation),
                   target / PENDING, compression="zstd")
    return PartPending(month, table.num_rows, pending, lon[pending], lat[pending])


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


def finish_part(out: str, month: str, pending: np.ndarray, resolved: tuple[np.ndarray, np.ndarray, list]) -> str:
    """Worker task: the client's answers for the pending points patched in, and the month's
    results renamed into place (whole, never half). Returns the month."""
    target = _target(out, month)
    if len(pending):
        table = pq.read_table(target / PENDING)
        codes, kinds, snaps = resolved
        for name, values in (("grid_code", codes), ("match_kind", kinds), ("snap_distance_m", snaps)):
            column = table.column(name).to_numpy(zero_copy_only=False).astype(object)
            column[pending] = values
            patched = pa.array(column, table.schema.field(name).type, from_pandas=True)  # NaN back to null
            table = table.set_column(table.schema.get_field_index(name), name, patched)
        tmp = target / (PART + ".tmp")
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, target / PART)
        (target / PENDING).unlink()
    else:
        os.replace(target / PENDING, target / PART)
    return month


def match_archive(client: Client, session: Session, *, parts: Sequence[Path], matcher: GridMatcher,
                  generation: int, snap_tolerance_m: float, out: Path, statuses: Sequence[str] | None = None,
                  progress: Progress | None = None, ship_dir: Path | None = None) -> dict[str, int]:
    """Match every part on the cluster into ``out`` (GeoParquet, hive by month like the
    archive: ``out/month=YYYY-MM/part-0.parquet``, then ``out/matches.json`` with the
    generation and rows per month). Returns rows per month. ``statuses``: only the reports in
    these statuses (rematch: the open ones); ``ship_dir``: where the matcher is written for the
    workers (geo.batch.engine.ship). ``out`` must be readable by the workers and the client."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with ship(matcher, ship_dir) as shipped:
        futures = [client.submit(match_part, str(p), shipped, generation, str(out), statuses, pure=False)
                   for p in parts]
        found: list[PartPending] = []
        for fut in as_completed(futures):
            found.append(fut.result())
            fut.release()
            if progress:
                progress("match")
        client.run(forget, shipped.path)
    resolved = resolve_pending(session, matcher=matcher, generation=generation, snap_tolerance_m=snap_tolerance_m,
                               points=[(f.lon, f.lat) for f in found])
    finishing = [client.submit(finish_part, str(out), f.month, f.pending, r, pure=False)
                 for f, r in zip(found, resolved)]
    for _ in as_completed(finishing):
        if progress:
            progress("write")
    rows = dict(sorted((f.month, f.rows) for f in found))
    tmp = out / (RESULTS + ".tmp")
    tmp.write_text(json.dumps({"generation": generation, "months": rows}, indent=1))
    os.replace(tmp, out / RESULTS)
    return rows


def result_tables(out: Path, rows: dict[str, int]):
    """The results of ``match_archive`` month by month (pyarrow tables), for the client."""
    for month in rows:
        yield pq.read_table(_target(str(out), month) / PART)


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
