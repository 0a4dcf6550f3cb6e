"""The generated one-district city, loaded into PostGIS: topology and locate vs shapely."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.boundaries.export import read_areas_frame
from geo.boundaries.generations import active_generation_id
from geo.boundaries.topology import check_hierarchy
from geo.errors import OutsideJurisdiction
from geo.matching.rule import locate
from geo.models import AreaLevel


@pytest.fixture()
def grids(db, small_city):
    frame = read_areas_frame(db, generation=active_generation_id(db), level=AreaLevel.grid)
    return list(frame["code"]), list(frame.geometry)


def expected_grid(codes, geoms, x, y):
    """Independent answer: shapely covers on every grid, smallest code wins."""
    pt = shapely.Point(x, y)
    hits = [c for c, g in zip(codes, geoms, strict=True) if g.covers(pt)]
    return min(hits) if hits else None


def located(db, x, y):
    try:
        return locate(db, lon=x, lat=y).grid_code
    except OutsideJurisdiction:
        return None


def test_loaded_city_tiles_exactly(db, small_city):
    report = check_hierarchy(db, generation=active_generation_id(db))
    assert report.problems == []
    assert report.counts == {"city": 1, "district": 1, "street": 4, "community": 20, "grid": 120}


def test_locate_agrees_with_shapely_on_random_points(db, grids):
    codes, geoms = grids
    minx, miny, maxx, maxy = shapely.union_all(geoms).bounds
    rng = np.random.default_rng(7)
    xs, ys = rng.uniform(minx, maxx, 400), rng.uniform(miny, maxy, 400)
    mismatches = [(x, y) for x, y in zip(xs, ys, strict=True) if located(db, x, y) != expected_grid(codes, geoms, x, y)]
    assert mismatches == []
    # The box is larger than the district: both outcomes must have been exercised.
    assert any(expected_grid(codes, geoms, x, y) is None for x, y in zip(xs[:100], ys[:100], strict=True))


def test_locate_agrees_with_shapely_on_shared_vertices(db, grids):
    codes, geoms = grids
    rng = np.random.default_rng(11)
    coords = np.unique(np.vstack([shapely.get_coordinates(g) for g in geoms]), axis=0)
    sample = coords[rng.choice(len(coords), size=300, replace=False)]
    shared = 0
    for x, y in sample:
        want = expected_grid(codes, geoms, x, y)
        assert want is not None
        match = locate(db, lon=x, lat=y)
        assert match.grid_code == want
        shared += match.kind == "edge"
    assert shared > 100, "vertices shared by several grids must exercise the smallest-code rule"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_locate_property_on_edge_midpoints(db, grids, data):
    """Points on a grid's edge (a vertex-to-vertex interpolation) resolve like shapely does."""
    codes, geoms = grids
    i = data.draw(st.integers(0, len(geoms) - 1))
    ring = np.asarray(shapely.get_coordinates(shapely.get_exterior_ring(geoms[i].geoms[0])))
    j = data.draw(st.integers(0, len(ring) - 2))
    t = data.draw(st.floats(0, 1))
    x, y = ring[j] + t * (ring[j + 1] - ring[j])
    assert located(db, x, y) == expected_grid(codes, geoms, x, y)
