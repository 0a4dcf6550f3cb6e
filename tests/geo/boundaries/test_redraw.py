"""Importing a redrawn level into the draft, on the tiny four-square city (known answers)."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon, box

from geo.boundaries.drafts import current_draft, discard_draft
from geo.boundaries.export import level_frame
from geo.boundaries.export import read_areas_frame
from geo.boundaries.reading import BoundaryFileError, read_boundaries
from geo.boundaries.redraw import import_boundaries
from geo.models import Area, AreaLevel
from tests.tiny_city import COMMUNITY, GRIDS

G1, G2, G3, G4 = GRIDS


def write(tmp_path, rows, name="grids.geojson"):
    """rows: (code, polygon[, households])"""
    frame = gpd.GeoDataFrame(
        {"code": [r[0] for r in rows], "households": [r[2] if len(r) > 2 else None for r in rows]},
        geometry=[MultiPolygon([r[1]]) if isinstance(r[1], Polygon) else r[1] for r in rows], crs=4326)
    path = tmp_path / name
    frame.to_file(path, driver="GeoJSON", engine="pyogrio")
    return path


def do_import(db, path, **kw):
    return import_boundaries(db, features=read_boundaries(path), actor="test", **kw)


def grids(db, generation):
    frame = level_frame(db, generation=generation, level=AreaLevel.grid)
    return dict(zip(frame["code"], frame.geometry))


def test_an_exported_level_imports_back_unchanged(db, tiny, tmp_path):
    path = tmp_path / "export.geojson"
    read_areas_frame(db, generation=tiny.generation, level=AreaLevel.grid).to_file(path, driver="GeoJSON", engine="pyogrio")
    result = do_import(db, path)
    assert result.rows_written == 0 and result.kept == 4 and not result.findings
    assert not result.added and not result.removed and not result.redrawn


def test_a_split_numbers_the_new_half_and_estimates_its_households(db, tiny, tmp_path):
    # 001 is split at lon 116.405 into a west half (keeps 001) and an east half (no code).
    west, east = box(116.40, 39.91, 116.405, 39.92), box(116.405, 39.91, 116.41, 39.92)
    path = write(tmp_path, [(G1, west), (None, east), (G2, box(*GRIDS[G2])), (G3, box(*GRIDS[G3])),
                            (G4, box(*GRIDS[G4]))])
    result = do_import(db, path)
    new_code = f"{COMMUNITY}005"
    assert result.numbered == {2: new_code} and result.added == [new_code] and result.redrawn == [G1]
    assert not result.findings
    draft = current_draft(db)
    got = grids(db, draft.id)
    assert set(got) == {G1, G2, G3, G4, new_code}
    assert shapely.coverage_is_valid(list(got.values()))
    rows = {a.code: a for a in db.query(Area).filter(Area.level == AreaLevel.grid, Area.generation_high == draft.id)}
    assert rows[new_code].estimated and rows[new_code].households == 150  # half of 001's 300
    # The active generation still has the old four.
    assert set(grids(db, tiny.generation)) == {G1, G2, G3, G4}


def test_a_merge_removes_the_absorbed_grid(db, tiny, tmp_path):
    path = write(tmp_path, [(G1, box(116.40, 39.91, 116.42, 39.92)), (G3, box(*GRIDS[G3])), (G4, box(*GRIDS[G4]))])
    result = do_import(db, path)
    assert result.removed == [G2] and result.redrawn == [G1] and not result.findings
    assert set(grids(db, current_draft(db).id)) == {G1, G3, G4}


def test_an_overlap_and_a_gap_are_findings_not_silently_cleaned(db, tiny, tmp_path):
    # 001 reaches 50 m into 002; 004 is 30 m short of the frame's east edge.
    path = write(tmp_path, [(G1, box(116.40, 39.91, 116.4106, 39.92)), (G2, box(*GRIDS[G2])),
                            (G3, box(*GRIDS[G3])), (G4, box(116.41, 39.90, 116.4196, 39.91))])
    result = do_import(db, path)
    kinds = sorted(f["kind"] for f in result.findings)
    assert kinds == ["gap", "overlap"]
    overlap = next(f for f in result.findings if f["kind"] == "overlap")
    assert overlap["codes"] == [G1, G2] and 40_000 < float(overlap["message"].split()[-2]) < 60_000


def test_drawing_noise_is_snapped_silently(db, tiny, tmp_path):
    # 002's west edge drawn 3 cm east of the shared line: under the tolerances.
    noisy = box(116.4100003, 39.91, 116.42, 39.92)
    path = write(tmp_path, [(G1, box(*GRIDS[G1])), (G2, noisy), (G3, box(*GRIDS[G3])), (G4, box(*GRIDS[G4]))])
    result = do_import(db, path)
    assert not result.findings and result.kept == 4


def test_a_bad_file_changes_nothing(db, tiny, tmp_path):
    bow_tie = Polygon([(116.40, 39.91), (116.41, 39.92), (116.41, 39.91), (116.40, 39.92)])
    path = write(tmp_path, [(G1, bow_tie), ("12345", box(*GRIDS[G2]))])
    with pytest.raises(BoundaryFileError) as err:
        read_boundaries(path)
    text = "\n".join(err.value.problems)
    assert f"feature {G1}: geometry is invalid (Self-intersection" in text
    assert "feature 12345: code '12345' must be 15 digits" in text
    assert current_draft(db) is None


def test_discard_restores_the_active_rows(db, tiny, tmp_path):
    path = write(tmp_path, [(G1, box(116.40, 39.91, 116.42, 39.92)), (G3, box(*GRIDS[G3])), (G4, box(*GRIDS[G4]))])
    do_import(db, path)
    discard_draft(db)
    assert current_draft(db) is None
    assert db.query(Area).filter(Area.generation_high > tiny.generation).count() == 0
    assert set(grids(db, tiny.generation)) == {G1, G2, G3, G4}


def test_check_reports_the_import_findings_and_a_clean_draft_passes(db, tiny, tmp_path):
    from geo.boundaries.checks import check_generation

    west, east = box(116.40, 39.91, 116.405, 39.92), box(116.405, 39.91, 116.41, 39.92)
    do_import(db, write(tmp_path, [(G1, west), (None, east), (G2, box(*GRIDS[G2])), (G3, box(*GRIDS[G3])),
                                   (G4, box(*GRIDS[G4]))]))
    report = check_generation(db, generation=current_draft(db).id)
    assert report.ok, report.errors
    assert [f["codes"] for f in report.warnings] == [[f"{COMMUNITY}005"]]  # the new half has no worker yet
    bad = write(tmp_path, [(G1, box(116.40, 39.91, 116.4106, 39.92)), (G2, box(*GRIDS[G2])),
                           (G3, box(*GRIDS[G3])), (G4, box(116.41, 39.90, 116.4196, 39.91))], name="bad.geojson")
    do_import(db, bad)
    report = check_generation(db, generation=current_draft(db).id)
    assert sorted(f["kind"] for f in report.errors) == ["gap", "overlap"]
    features = report.as_geojson()["features"]
    assert {f["properties"]["kind"] for f in features} >= {"gap", "overlap"}
    assert all(shapely.geometry.shape(f["geometry"]).area > 0 for f in features if f["properties"]["kind"] == "gap")
