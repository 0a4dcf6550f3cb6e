"""The matcher's sub-cells (geo.matching.subcells) change no answer: known answers on tiny
geometries and equality with shapely and with the one-level raster on random points."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.matching import subcells
from geo.matching.matcher import GridMatcher
from geo.matching.rule import MatchOutcome, match_points
from geo.models import MatchKind
from tests.geo.matching.test_bulk_match import boundary_points, polygons, shapely_truth, square


def with_sub(codes, geoms, f: int, max_cells: int, **kwargs) -> GridMatcher:
    """A matcher whose mixed cells hold f × f sub-cells (f a power of two)."""
    cell = GridMatcher.from_frame(codes, geoms, max_cells=max_cells).stats["cell_m"]
    m = GridMatcher.from_frame(codes, geoms, max_cells=max_cells, sub_m=cell / f * 1.0001, **kwargs)
    assert m.stats["sub"] == f
    return m


def no_fallback(lon, lat):
    return [MatchOutcome(MatchKind.unassigned, 1)] * len(lon)


@pytest.fixture(params=[10**9, 50])
def band_cells(request, monkeypatch):
    """One band, and bands of a few sub-cell rows (the band seams must not change answers)."""
    monkeypatch.setattr(subcells, "BAND_CELLS", request.param)
    return request.param


@pytest.mark.parametrize("f", [2, 8])
def test_four_unit_squares_known_answers(f, band_cells):
    m = with_sub(["004", "003", "002", "001"], [square(0, 0), square(1, 0), square(0, 1), square(1, 1)],
                 f, max_cells=400)
    lon = np.array([0.5, 1.0, 1.0, 0.0, 2.0, 1.5, 0.5, 3.0, -0.000001, np.nan, 1.0, 0.999999, 1.000001])
    lat = np.array([0.5, 0.5, 1.0, 0.0, 2.0, 1.5, 1.0, 3.0, 0.5, 0.5, 2.0, 0.3, 0.3])
    assert list(m.match(lon, lat)) == ["004", "003", "001", "004", "001", "001", "002", None, None, None, "001",
                                       "004", "003"]
    got = match_points(m, lon, lat, fallback=no_fallback)
    assert list(got.kinds[:11]) == ["inside", "edge", "edge", "inside", "inside", "inside", "edge", "unassigned",
                                    "unassigned", "unassigned", "edge"]
    assert list(got.kinds[11:]) == ["inside", "inside"]


def test_hole_multipolygon_and_overlap(band_cells):
    """A square with a hole, a MultiPolygon filling the hole and lying outside, and a grid
    overlapping both: points in the hole, on its ring, at vertices, outside."""
    holed = shapely.Polygon([(0, 0), (4, 0), (4, 4), (0, 4)], [[(1, 1), (3, 1), (3, 3), (1, 3)]])
    multi = shapely.MultiPolygon([square(1, 1, 2.0), square(5, 0, 1.0)])
    over = square(2.5, 2.5, 2.0)
    codes, geoms = ["200", "100", "300"], [holed, multi, over]
    plain = GridMatcher.from_frame(codes, geoms, max_cells=300)
    m = with_sub(codes, geoms, 4, max_cells=300)
    known = {(2.0, 2.0): "100", (1.0, 2.0): "100", (1.0, 1.0): "100", (0.5, 0.5): "200", (3.5, 3.5): "200",
             (4.2, 4.2): "300", (5.5, 0.5): "100", (4.5, 0.5): None, (2.75, 2.75): "100", (3.0, 3.5): "200"}
    lon, lat = np.array([k[0] for k in known]), np.array([k[1] for k in known])
    assert list(m.match(lon, lat)) == list(known.values())
    rng = np.random.default_rng(5)
    x, y = rng.uniform(-0.5, 6.5, 30_000), rng.uniform(-0.5, 4.8, 30_000)
    bx, by = boundary_points(m.geoms, rng, 3_000)
    x, y = np.concatenate([x, bx]), np.concatenate([y, by])
    assert (m.match_indices(x, y) == plain.match_indices(x, y)).all()
    assert (m.match(x, y) == shapely_truth(m.codes, m.geoms, x, y)).all()
    assert (match_points(m, x, y, fallback=no_fallback).kinds == match_points(plain, x, y, fallback=no_fallback).kinds).all()
    # Fewer points reach an exact test than without sub-cells, and the matcher still pickles.
    assert m.match_indices_near(x, y)[1].sum() < plain.match_indices_near(x, y)[1].sum()
    back = pickle.loads(pickle.dumps(m))
    assert (back.match_indices(x, y) == m.match_indices(x, y)).all()


def test_sub_factor():
    assert subcells.sub_factor(19.5, None, 10, 10**9) == 1
    assert subcells.sub_factor(19.5, 25.0, 10, 10**9) == 1
    assert subcells.sub_factor(19.5, 10.0, 10, 10**9) == 2
    assert subcells.sub_factor(123.0, 10.0, 10, 10**9) == 16
    assert subcells.sub_factor(123.0, 10.0, 1000, 64_000) == 8  # 1000 × 8² fits 64,000
    assert subcells.sub_factor(123.0, 10.0, 10**9, 10) == 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(geoms=st.lists(polygons(), min_size=1, max_size=6), max_cells=st.sampled_from([500, 5_000]),
       f=st.sampled_from([2, 4, 16]), seed=st.integers(0, 2**32 - 1))
def test_property_equals_one_level_and_shapely(geoms, max_cells, f, seed):
    """Random (overlapping, nested, touching) grids: the same answers and kinds with and without
    sub-cells, and equal to shapely, on random, vertex and edge points."""
    codes = [f"{i:03d}" for i in np.random.default_rng(seed).permutation(len(geoms))]
    plain = GridMatcher.from_frame(codes, geoms, max_cells=max_cells)
    m = GridMatcher.from_frame(codes, geoms, max_cells=max_cells, sub_m=plain.stats["cell_m"] / f * 1.0001)
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(121.49, 121.61, 3_000), rng.uniform(40.79, 40.91, 3_000)
    bx, by = boundary_points(m.geoms, rng, 1_000)
    x, y = np.concatenate([x, bx]), np.concatenate([y, by])
    assert (m.match_indices(x, y) == plain.match_indices(x, y)).all()
    assert (m.match(x, y) == shapely_truth(m.codes, m.geoms, x, y)).all()
    assert (match_points(m, x, y, fallback=no_fallback).kinds == match_points(plain, x, y, fallback=no_fallback).kinds).all()


@pytest.mark.parametrize("outer,inner", [("009", "005"), ("001", "005")])
def test_nested_overlap_takes_smallest_code(outer, inner, band_cells):
    """A grid inside another: sub-cells cut by the inner boundary answer through the cell's
    default (the outer grid covers the whole cell without its boundary touching it)."""
    m = with_sub([outer, inner], [square(0, 0, 1.0), square(0.3, 0.3, 0.2)], 4, max_cells=2_000)
    rng = np.random.default_rng(3)
    x, y = rng.uniform(-0.1, 1.1, 20_000), rng.uniform(-0.1, 1.1, 20_000)
    bx, by = boundary_points(m.geoms, rng, 2_000)
    x, y = np.concatenate([x, bx]), np.concatenate([y, by])
    assert (m.match(x, y) == shapely_truth(m.codes, m.geoms, x, y)).all()
    assert m.match([0.4], [0.4])[0] == min(outer, inner)
    assert m.match([0.29], [0.4])[0] == outer
    assert (m._default < np.iinfo(np.int32).max).any()  # the default path did run
