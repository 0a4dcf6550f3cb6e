"""Area tiles on the tiny city: features, properties, counts by audience, placement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from shapely.geometry import Point, shape

from geo.errors import InvalidInput
from geo.models import AreaLevel, ReportStatus
from geo.tiles.addressing import EXTENT, TileAddress, hex_resolution, tile_of
from geo.tiles.areas import area_tile
from tests.api.report_helpers import G1, G2, G3, G4
from tests.tile_helpers import add_report, by_code, decode, tile_pixel
from tests.tiny_city import COMMUNITY, GRIDS

NOW = datetime.now(UTC)
CENTRE = {code: ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for code, b in GRIDS.items()}


def tile(db, gen, level, address, *, public=True, name="t"):
    return area_tile(db, generation=gen, level=level, layer_name=name, tile=address, now=NOW, public=public)


@pytest.fixture()
def cases(db, tiny):
    """Grid 001: two open urban cases (one overdue), one closed; one open dispute (sensitive);
    grid 004: one open urban case."""
    g = tiny.generation
    lon, lat = CENTRE[G1]
    add_report(db, lon=lon, lat=lat, grid=G1, generation=g)
    add_report(db, lon=lon, lat=lat, grid=G1, generation=g, due_at=NOW - timedelta(hours=2))
    add_report(db, lon=lon, lat=lat, grid=G1, generation=g, status=ReportStatus.closed)
    add_report(db, lon=lon, lat=lat, grid=G1, generation=g, category="10")
    add_report(db, lon=CENTRE[G4][0], lat=CENTRE[G4][1], grid=G4, generation=g)
    return tiny


def test_the_grid_layer_holds_every_grid_with_its_properties(db, cases):
    body = tile(db, cases.generation, AreaLevel.grid, tile_of(116.41, 39.91, 13), name="grids")
    props = by_code(body, "grids")
    assert set(props) == set(GRIDS)
    assert props[G1] == {"code": G1, "name": f"grid {G1}", "parent_code": COMMUNITY, "open": 2, "overdue": 1}
    assert props[G4]["open"] == 1 and props[G2]["open"] == 0 and props[G3]["overdue"] == 0


def test_a_sensitive_case_counts_publicly_in_its_community_not_its_grid(db, cases):
    address = tile_of(116.41, 39.91, 13)
    public_grid = by_code(tile(db, cases.generation, AreaLevel.grid, address), "t")
    staff_grid = by_code(tile(db, cases.generation, AreaLevel.grid, address, public=False), "t")
    public_community = by_code(tile(db, cases.generation, AreaLevel.community, address), "t")
    assert public_grid[G1]["open"] == 2
    assert staff_grid[G1]["open"] == 3
    assert public_community[COMMUNITY]["open"] == 4  # 3 in grid 001 (the dispute too) + 1 in grid 004
    assert public_community[COMMUNITY]["parent_code"] == "110101001"


def test_a_grid_lands_in_its_own_tile_and_not_in_a_far_one(db, cases):
    here = tile_of(*CENTRE[G1], 16)
    feats = decode(tile(db, cases.generation, AreaLevel.grid, here))["t"]["features"]
    codes = {f["properties"]["code"] for f in feats}
    assert G1 in codes and G4 not in codes  # 004 is 0.01° (two z16 tiles) south-east
    poly = shape(next(f["geometry"] for f in feats if f["properties"]["code"] == G1))
    assert poly.contains(Point(*tile_pixel(here, *CENTRE[G1])))
    # Clipped to the tile plus its 64-unit buffer.
    minx, miny, maxx, maxy = poly.bounds
    assert minx >= -64 and miny >= -64 and maxx <= EXTENT + 64 and maxy <= EXTENT + 64
    assert tile(db, cases.generation, AreaLevel.grid, tile_of(-70.0, -40.0, 16)) == b""
    assert tile(db, cases.generation, AreaLevel.grid, TileAddress(16, here.x + 5, here.y)) == b""


def test_only_the_generation_asked_for_is_drawn(db, cases):
    from geo.boundaries.generations import create_generation
    from tests.tiny_city import add_area

    draft = create_generation(db).id
    add_area(db, gen=draft, code=G1, level=AreaLevel.grid, parent=COMMUNITY, bounds=GRIDS[G1], name="renamed")
    db.flush()
    address = tile_of(*CENTRE[G1], 14)
    assert set(by_code(tile(db, draft, AreaLevel.grid, address), "t")) == {G1}
    assert by_code(tile(db, draft, AreaLevel.grid, address), "t")[G1]["name"] == "renamed"
    assert set(by_code(tile(db, cases.generation, AreaLevel.grid, address), "t")) == set(GRIDS)


@pytest.mark.parametrize(("z", "x", "y", "field"), [(23, 0, 0, "z"), (-1, 0, 0, "z"), (2, 4, 0, "x"),
                                                   (2, 0, 4, "y"), (0, 0, -1, "y")])
def test_tile_addresses_out_of_range_name_their_field(z, x, y, field):
    with pytest.raises(InvalidInput) as e:
        TileAddress(z, x, y)
    assert e.value.details["field"] == field


def test_tile_of_and_bounds_agree():
    t = tile_of(116.405, 39.915, 14)
    minlon, minlat, maxlon, maxlat = t.bounds()
    assert minlon <= 116.405 < maxlon and minlat <= 39.915 < maxlat
    assert TileAddress(0, 0, 0).bounds() == pytest.approx((-180, -85.0511287798, 180, 85.0511287798))
    assert [hex_resolution(z) for z in (0, 10, 12, 14, 22)] == [5, 5, 7, 9, 10]
