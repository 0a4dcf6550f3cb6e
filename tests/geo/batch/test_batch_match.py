"""batch match on Dask equals match_points over all points at once, on the tiny city's known answers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import geopandas as gpd
import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from pyproj import Geod

from geo.archive.layout import ArchiveMeta, write_meta, write_month
from geo.batch.engine import archive_parts
from geo.batch.match import match_archive, result_tables, single_machine
from geo.batch.tables import store_matches
from geo.errors import InvalidInput
from geo.matching.matcher import matcher_for
from tests.tiny_city import COMMUNITY

G1, G2, G3, G4 = (f"{COMMUNITY}00{i}" for i in range(1, 5))
SNAP_M = 30.0
# (lon, lat) -> (grid, kind): inside, on the G1|G2 edge (smallest code), the four-grid vertex,
# 17 m east of G2 (snapped), 900 m east (unassigned).
KNOWN = {
    (116.405, 39.915): (G1, "inside"),
    (116.415, 39.905): (G4, "inside"),
    (116.41, 39.915): (G1, "edge"),
    (116.41, 39.91): (G1, "edge"),
    (116.4202, 39.915): (G2, "snapped"),
    (116.43, 39.915): (None, "unassigned"),
}


def _archive(root, points_by_month):
    rows = {}
    for month, points in points_by_month.items():
        frame = pd.DataFrame({
            "id": [str(uuid.uuid4()) for _ in points], "category": "30", "status": "registered", "source": "citizen",
            "reported_at": pd.Timestamp(f"{month}-10T08:00:00Z"), "h3_cell": 0, "change_seq": 0,
            "lon": [p[0] for p in points], "lat": [p[1] for p in points],
        })
        rows[month] = write_month(root, month, frame)
    write_meta(root, ArchiveMeta(timezone="Asia/Shanghai", months=rows))
    return archive_parts(root)


def test_batch_match_gives_the_known_answers_and_equals_the_single_machine_path(db, tiny, tmp_path, dask_client):
    points = list(KNOWN)
    parts = _archive(tmp_path / "archive", {"2026-10": points[:3] * 2, "2026-11": points[3:] + points[:1]})
    gen, matcher = matcher_for(db)
    written = match_archive(dask_client, db, parts=parts, matcher=matcher, generation=gen, snap_tolerance_m=SNAP_M,
                            out=tmp_path / "out")
    assert written == {"2026-10": 6, "2026-11": 4}
    assert sorted(p.name for p in (tmp_path / "out").rglob("*") if p.is_file()) == [
        "matches.json", "part-0.parquet", "part-0.parquet"]  # nothing pending or temporary left

    out = pd.concat([gpd.read_parquet(tmp_path / "out" / f"month={m}" / "part-0.parquet") for m in written])
    got = {(round(g.x, 6), round(g.y, 6)): (None if pd.isna(c) else c, k)
           for g, c, k in zip(out.geometry, out.grid_code, out.match_kind)}
    assert got == {(round(x, 6), round(y, 6)): v for (x, y), v in KNOWN.items()}
    snapped = out[out.match_kind == "snapped"].snap_distance_m.iloc[0]
    assert snapped == pytest.approx(Geod(ellps="WGS84").inv(116.4202, 39.915, 116.42, 39.915)[2], abs=0.5)
    assert out[out.match_kind != "snapped"].snap_distance_m.isna().all()
    assert (out.generation_id == gen).all()

    # Exactly match_points over every point at once (codes, kinds, snap distances, per id).
    reference = single_machine(db, parts=parts, matcher=matcher, generation=gen, snap_tolerance_m=SNAP_M).to_pandas()
    cols = ["id", "grid_code", "match_kind", "snap_distance_m", "generation_id"]
    batch = out[cols].sort_values("id", ignore_index=True).astype({"grid_code": object, "match_kind": object})
    pd.testing.assert_frame_equal(batch, reference[cols].sort_values("id", ignore_index=True)
                                  .astype({"grid_code": object, "match_kind": object}), check_dtype=False)


def test_write_back_is_an_upsert_into_a_table_of_its_own(db, tiny, tmp_path, dask_client):
    parts = _archive(tmp_path / "archive", {"2026-11": list(KNOWN)})
    gen, matcher = matcher_for(db)
    for _ in range(2):  # a retried run replaces its rows
        rows = match_archive(dask_client, db, parts=parts, matcher=matcher, generation=gen, snap_tolerance_m=SNAP_M,
                             out=tmp_path / "out")
        assert store_matches(db, table="batch_matches_test", results=result_tables(tmp_path / "out", rows)) == len(KNOWN)
    rows = db.execute(sa.text("SELECT grid_code, match_kind FROM batch_matches_test")).all()
    assert sorted(rows, key=str) == sorted(KNOWN.values(), key=str)
    with pytest.raises(InvalidInput):
        store_matches(db, table="reports", results=[])
    with pytest.raises(InvalidInput):
        store_matches(db, table="x; drop", results=[])


def test_open_cases_only_when_asked(db, tiny, tmp_path, dask_client):
    root = tmp_path / "archive"
    frame = pd.DataFrame({"id": [str(uuid.uuid4()) for _ in range(3)], "category": "30", "source": "citizen",
                          "status": ["registered", "closed", "in_progress"], "h3_cell": 0, "change_seq": 0,
                          "reported_at": datetime(2026, 11, 2, tzinfo=UTC), "lon": 116.405, "lat": 39.915})
    write_month(root, "2026-11", frame)
    write_meta(root, ArchiveMeta(timezone="Asia/Shanghai"))
    gen, matcher = matcher_for(db)
    rows = match_archive(dask_client, db, parts=archive_parts(root), matcher=matcher, generation=gen,
                         snap_tolerance_m=SNAP_M, statuses=["registered", "in_progress"], out=tmp_path / "out")
    (table,) = result_tables(tmp_path / "out", rows)
    assert sorted(table.column("id").to_pylist()) == sorted(frame.id[frame.status != "closed"])
    assert pq.read_table(archive_parts(root)[0]).num_rows == 3
