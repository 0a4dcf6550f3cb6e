"""Report hexagon tiles on the tiny city: the embed's public rules, staff counts, placement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import h3
import pytest

from geo.tiles.addressing import tile_of
from geo.tiles.hexagons import WindowCache, hexagon_tile, window_cells
from tests.api.report_helpers import G1, G4
from tests.tile_helpers import add_report, decode

UNTIL = datetime.now(UTC)
SINCE = UNTIL - timedelta(days=7)
A = (116.4052, 39.9151)  # grid 001
B = (116.4151, 39.9049)  # grid 004, about 1.4 km away


def hexes(db, z, point, *, public=True):
    body = hexagon_tile(db, tile=tile_of(*point, z), since=SINCE, until=UNTIL, public=public)
    return {layer: {f["properties"]["cell"]: f["properties"] for f in content["features"]}
            for layer, content in decode(body).items()}


@pytest.fixture()
def seeded(db, tiny):
    g = tiny.generation
    for _ in range(5):
        add_report(db, lon=A[0], lat=A[1], grid=G1, generation=g)  # urban
        add_report(db, lon=A[0], lat=A[1], grid=G1, generation=g, category="10")  # disputes: sensitive
    for _ in range(4):
        add_report(db, lon=B[0], lat=B[1], grid=G4, generation=g)
    add_report(db, lon=B[0], lat=B[1], grid=G4, generation=g, reported_at=SINCE - timedelta(days=1))  # outside
    return tiny


def test_public_hexagons_drop_cells_under_the_minimum_count(db, seeded):
    z = 15  # H3 res 10 for urban
    cell_a, cell_b = (h3.latlng_to_cell(p[1], p[0], 10) for p in (A, B))
    public = hexes(db, z, A)
    assert public["urban"] == {cell_a: {"cell": cell_a, "n": 5, "resolution": 10}}
    assert cell_b not in hexes(db, z, B).get("urban", {})  # 4 reports: suppressed
    staff = hexes(db, z, B, public=False)
    assert staff["urban"][cell_b]["n"] == 4  # exact counts for staff, nothing dropped


def test_sensitive_groups_are_public_only_at_a_coarse_resolution(db, seeded):
    public = hexes(db, 16, A)
    assert {p["resolution"] for p in public["disputes"].values()} == {8}
    assert {p["resolution"] for p in public["urban"].values()} == {10}
    assert sum(p["n"] for p in public["disputes"].values()) == 5
    staff = hexes(db, 16, A, public=False)
    assert {p["resolution"] for p in staff["disputes"].values()} == {10}


def test_a_public_dispute_is_counted_at_its_public_cell_not_its_point(db, seeded):
    from geo.access.privacy import coarse_point

    public = hexes(db, 12, A)  # res 7 everywhere
    (cell,) = public["disputes"]
    assert cell == h3.latlng_to_cell(*reversed(coarse_point(*A)), 7)


def test_hexagons_are_drawn_only_in_the_tiles_they_meet(db, seeded):
    assert hexes(db, 15, (-70.0, -40.0)) == {}
    far = tile_of(*A, 15)
    from geo.tiles.addressing import TileAddress

    body = hexagon_tile(db, tile=TileAddress(15, far.x + 4, far.y), since=SINCE, until=UNTIL)
    assert "urban" not in decode(body)


def test_the_window_aggregate_is_reused_within_its_minute(db, seeded):
    windows = WindowCache()
    first = window_cells(db, z=15, since=SINCE, until=UNTIL, minute="m", windows=windows)
    add_report(db, lon=B[0], lat=B[1], grid=G4, generation=seeded.generation)  # B now has 5
    assert window_cells(db, z=15, since=SINCE, until=UNTIL, minute="m", windows=windows) is first
    later = window_cells(db, z=15, since=SINCE, until=UNTIL, minute="m2", windows=windows)
    assert len(later["urban"].cells) == len(first["urban"].cells) + 1


def test_the_public_floor_is_never_below_five(db, tiny):
    with pytest.raises(ValueError):
        window_cells(db, z=12, since=SINCE, until=UNTIL, min_count=4)
