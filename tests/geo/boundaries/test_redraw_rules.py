"""More redraw rules with known answers: a moved edge, a T-junction, a GCJ-02 file, a
reparented grid that kept its code, a retired code, and the coverage precision kernel."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon, box

from geo.boundaries import coverage
from geo.boundaries.checks import check_generation
from geo.boundaries.drafts import current_draft
from geo.boundaries.export import level_frame
from geo.boundaries.reading import BoundaryFileError, read_boundaries
from geo.boundaries.redraw import import_boundaries
from geo.matching.coords import wgs84_to_gcj02
import sqlalchemy as sa

from geo.models import AreaLevel, Report, ReportStatus
from tests.geo.boundaries.test_redraw import G1, G2, G3, G4, GRIDS, do_import, grids, write
from tests.tiny_city import COMMUNITY


def test_a_moved_edge_changes_two_grids_and_nothing_else(db, tiny, tmp_path):
    # The 001|002 edge moves from 116.41 to 116.412 (about 170 m east).
    path = write(tmp_path, [(G1, box(116.40, 39.91, 116.412, 39.92)), (G2, box(116.412, 39.91, 116.42, 39.92)),
                            (G3, box(*GRIDS[G3])), (G4, box(*GRIDS[G4]))])
    result = do_import(db, path)
    assert sorted(result.redrawn) == [G1, G2] and not result.added and not result.removed and not result.findings
    got = grids(db, current_draft(db).id)
    assert got[G1].bounds == pytest.approx((116.40, 39.91, 116.412, 39.92))
    # 003 and 004 met 001|002 at (116.41, 39.91); now 001 and 002 meet them at 116.412: every
    # level is still vertex-exact (003/004 take the new vertex, as new versions of the same shape).
    assert shapely.coverage_is_valid(np.array(list(got.values())))
    assert check_generation(db, generation=current_draft(db).id).ok


def test_a_t_junction_is_noded_so_neighbours_share_vertices(db, tiny, tmp_path):
    # 001 split north/south at 39.915: the new edge ends in the middle of 002's west edge.
    north, south = box(116.40, 39.915, 116.41, 39.92), box(116.40, 39.91, 116.41, 39.915)
    result = do_import(db, write(tmp_path, [(G1, north), (None, south), (G2, box(*GRIDS[G2])),
                                            (G3, box(*GRIDS[G3])), (G4, box(*GRIDS[G4]))]))
    assert not result.findings
    got = grids(db, current_draft(db).id)
    assert shapely.coverage_is_valid(np.array(list(got.values())))
    assert (116.41, 39.915) in set(map(tuple, shapely.get_coordinates(got[G2])))  # 002 gained the vertex
    assert coverage.planar_m2([shapely.symmetric_difference(got[G2], box(*GRIDS[G2]))])[0] < 1e-6


def test_a_gcj02_file_is_converted_vertex_by_vertex(db, tiny, tmp_path):
    # The export, as an Amap-based tool would have it: every vertex shifted to GCJ-02.
    rows = []
    for code, b in GRIDS.items():
        ring = np.array(box(*b).exterior.coords)
        x, y = wgs84_to_gcj02(ring[:, 0], ring[:, 1])
        rows.append((code, Polygon(np.column_stack([x, y]))))
    path = write(tmp_path, rows)
    # Read as WGS-84 it would be ~500 m off: every grid redrawn and the frame broken.
    assert read_boundaries(path, crs="gcj02").geometry.iloc[0].bounds == pytest.approx(box(*GRIDS[G1]).bounds,
                                                                                       abs=2e-7)
    result = import_boundaries(db, features=read_boundaries(path, crs="gcj02"), actor="test")
    assert result.kept == 4 and not result.redrawn and not result.findings and result.rows_written == 0


def test_a_reparented_grid_that_kept_its_code_is_an_error(db, tiny, tmp_path):
    from geo.boundaries.drafts import AreaVersion, write_versions

    # A second community east of the first (116.42–116.44) in the same street.
    draft_id = do_import(db, write(tmp_path, [(c, box(*b)) for c, b in GRIDS.items()])).generation
    draft = current_draft(db)
    east = f"{COMMUNITY[:-3]}002"
    communities = level_frame(db, generation=draft_id, level=AreaLevel.community)
    write_versions(db, draft=draft, current=communities, removed=[], versions=[AreaVersion(
        east, AreaLevel.community, "east", "urban", COMMUNITY[:-3], 0, 0, False,
        MultiPolygon([box(116.42, 39.90, 116.44, 39.92)]))])
    db.flush()
    # 004 is redrawn into the east community but keeps its code under the west one.
    moved = box(116.42, 39.90, 116.44, 39.92)
    result = do_import(db, write(tmp_path, [(G4, moved)], name="reparent.geojson"))
    kinds = {f["kind"] for f in result.findings}
    assert "reparented_code" in kinds
    report = check_generation(db, generation=draft_id)
    assert any(f["kind"] in ("reparented_code", "code_prefix") and f["codes"] == [G4] for f in report.errors)


def test_a_retired_code_is_never_reused(db, tiny, tmp_path):
    from datetime import UTC, datetime

    from geo.boundaries.activation import activate_draft
    from geo.cityconfig import load_city_config

    db.execute(sa.update(Report).values(status=ReportStatus.closed))
    do_import(db, write(tmp_path, [(G1, box(116.40, 39.91, 116.42, 39.92)), (G3, box(*GRIDS[G3])),
                                   (G4, box(*GRIDS[G4]))]))
    activate_draft(db, actor="t", config=load_city_config(), now=datetime.now(UTC), lead_covers=True)
    back = write(tmp_path, [(G1, box(*GRIDS[G1])), (G2, box(*GRIDS[G2])), (G3, box(*GRIDS[G3])),
                            (G4, box(*GRIDS[G4]))], name="back.geojson")
    with pytest.raises(BoundaryFileError, match=f"code {G2} belonged to an area retired earlier"):
        do_import(db, back)
    # Left empty, the same polygon is numbered past every code ever used under the community.
    again = write(tmp_path, [(G1, box(*GRIDS[G1])), (None, box(*GRIDS[G2])), (G3, box(*GRIDS[G3])),
                             (G4, box(*GRIDS[G4]))], name="again.geojson")
    assert do_import(db, again).numbered == {2: f"{COMMUNITY}005"}


def test_coordinates_are_stored_exactly_as_published():
    g = coverage.to_precision(Polygon([(116.123456789, 39.1), (116.2, 39.1), (116.2, 39.2)]))
    for x, y in shapely.get_coordinates(g):
        assert float(f"{x:.7f}") == x and float(f"{y:.7f}") == y  # 7 decimals read back bit-identical


def test_a_code_removed_only_in_the_draft_can_come_back(db, tiny, tmp_path):
    merged = write(tmp_path, [(G1, box(116.40, 39.91, 116.42, 39.92)), (G3, box(*GRIDS[G3])), (G4, box(*GRIDS[G4]))])
    do_import(db, merged)
    result = do_import(db, write(tmp_path, [(c, box(*b)) for c, b in GRIDS.items()], name="undo.geojson"))
    assert result.kept == 4 and not result.findings
    draft = current_draft(db).id
    # Every row is the active generation's own again: the draft holds no copy of its own.
    from geo.models import Area

    assert db.query(Area).filter(Area.generation_low == draft).count() == 0


def test_numbering_skips_a_code_the_file_itself_gives(db, tiny, tmp_path):
    left, right = box(116.40, 39.91, 116.405, 39.92), box(116.405, 39.91, 116.41, 39.92)
    lower_left, lower_right = box(116.40, 39.90, 116.405, 39.91), box(116.405, 39.90, 116.41, 39.91)
    result = do_import(db, write(tmp_path, [(G1, left), (f"{COMMUNITY}005", right), (G2, box(*GRIDS[G2])),
                                            (G3, lower_left), (None, lower_right), (G4, box(*GRIDS[G4]))]))
    assert result.numbered == {5: f"{COMMUNITY}006"}


def test_a_draft_does_not_invalidate_the_active_generations_caches(db, tiny, tmp_path):
    from geo.models import Generation

    revision = lambda: db.get(Generation, tiny.generation, populate_existing=True).areas_revision  # noqa: E731
    before = revision()
    do_import(db, write(tmp_path, [(G1, box(116.40, 39.91, 116.42, 39.92)), (G3, box(*GRIDS[G3])),
                                   (G4, box(*GRIDS[G4]))]))
    assert revision() == before  # carried rows and new draft versions: the active generation saw nothing


def test_the_public_history_never_shows_the_draft(client, db, tiny, tmp_path):
    do_import(db, write(tmp_path, [(G1, box(116.40, 39.91, 116.405, 39.92)), (None, box(116.405, 39.91, 116.41, 39.92)),
                                   (G2, box(*GRIDS[G2])), (G3, box(*GRIDS[G3])), (G4, box(*GRIDS[G4]))]))
    assert client.get(f"/api/v1/grids/{COMMUNITY}005/history").status_code == 404
    assert client.get(f"/grids/{COMMUNITY}005", follow_redirects=False).status_code == 404
    story = client.get(f"/api/v1/grids/{G1}/history").json()
    assert story["current"] is True and len(story["versions"]) == 1 and not story["successors"]
