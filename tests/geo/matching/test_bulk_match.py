"""GridMatcher must equal PostGIS ST_Covers + smallest code (and shapely covers) on every point."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects.postgresql import ARRAY
from typer.testing import CliRunner

from geo.boundaries.generations import active_generation_id, valid_in
from geo.cityconfig import load_city_config
from geo.matching.postgis import smallest_covering_query
from geo.matching.rule import match_location
from geo.matching.matcher import GridMatcher
from geo.models import Area, AreaLevel


def shapely_truth(codes: np.ndarray, geoms: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Smallest code of the geometries covering each point (None outside), via STRtree + covers."""
    order = np.argsort(codes.astype(str))
    codes, geoms = codes[order], geoms[order]
    pt, hit = shapely.STRtree(geoms).query(shapely.points(x, y), predicate="intersects")
    covers = shapely.covers(geoms[hit], shapely.points(x[pt], y[pt]))
    best = np.full(len(x), len(codes))
    np.minimum.at(best, pt[covers], hit[covers])
    return np.array([codes[b] if b < len(codes) else None for b in best], dtype=object)


def postgis_truth(db, x: np.ndarray, y: np.ndarray, generation: int) -> np.ndarray:
    """One SQL statement: unnest the coordinate arrays, ST_Covers join to the grids, min(code)."""
    pts = sa.func.unnest(
        sa.literal(x.tolist(), ARRAY(sa.Float(53))),
        sa.literal(y.tolist(), ARRAY(sa.Float(53))),
        sa.literal(list(range(len(x))), ARRAY(sa.Integer)),
    ).table_valued("lon", "lat", "i").render_derived()
    query = smallest_covering_query(pts, key=pts.c.i, lon=pts.c.lon, lat=pts.c.lat, generation=generation)
    out = np.full(len(x), None, dtype=object)
    for i, code in db.execute(query):
        out[i] = code
    return out


@pytest.fixture()
def city_grids(db, small_city):
    gid = active_generation_id(db)
    rows = db.execute(
        sa.select(Area.code, sa.func.ST_AsBinary(Area.geom))
        .where(Area.level == AreaLevel.grid, valid_in(Area, gid)).order_by(Area.code)
    ).all()
    codes = np.array([r[0] for r in rows], dtype=object)
    return gid, codes, shapely.from_wkb([bytes(r[1]) for r in rows])


def boundary_points(geoms: np.ndarray, rng: np.random.Generator, n_edge: int) -> tuple[np.ndarray, np.ndarray]:
    """Every ring vertex (shared vertices included) plus points interpolated along ring edges."""
    rings = shapely.get_rings(shapely.get_parts(geoms))
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    same = np.flatnonzero(ring_of[1:] == ring_of[:-1])
    pick = rng.choice(same, n_edge)
    t = rng.random(n_edge)
    t[: n_edge // 4] = 0.5
    edge = xy[pick] + t[:, None] * (xy[pick + 1] - xy[pick])
    both = np.vstack([xy, edge])
    return both[:, 0], both[:, 1]


def test_small_city_equals_postgis_and_shapely(db, city_grids):
    gid, codes, geoms = city_grids
    matcher = GridMatcher.from_session(db, generation=gid)
    assert list(matcher.codes) == list(codes)
    rng = np.random.default_rng(7)
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    padx, pady = 0.1 * (maxx - minx), 0.1 * (maxy - miny)
    rx = rng.uniform(minx - padx, maxx + padx, 20_000)
    ry = rng.uniform(miny - pady, maxy + pady, 20_000)
    bx, by = boundary_points(geoms, rng, 6_000)
    x, y = np.concatenate([rx, bx]), np.concatenate([ry, by])

    got = matcher.match(x, y)
    pg = postgis_truth(db, x, y, gid)
    sh = shapely_truth(codes, np.asarray(geoms), x, y)
    assert (got == sh).all(), f"{(got != sh).sum()} points differ from shapely"
    assert (got == pg).all(), f"{(got != pg).sum()} points differ from PostGIS"
    # The sample really exercises both sides of the rule: outside points, and the edge tie-break.
    assert (got == None).sum() > 1000  # noqa: E711 - elementwise comparison
    assert matcher.stats["mixed_cells"] > 0


def test_from_session_is_cached(db, city_grids):
    gid, _, _ = city_grids
    assert GridMatcher.from_session(db, generation=gid) is GridMatcher.from_session(db, generation=gid)


def square(x0: float, y0: float, size: float = 1.0) -> shapely.Polygon:
    return shapely.box(x0, y0, x0 + size, y0 + size)


def test_four_unit_squares_known_answers():
    m = GridMatcher.from_frame(
        ["004", "003", "002", "001"], [square(0, 0), square(1, 0), square(0, 1), square(1, 1)]
    )
    lon = np.array([0.5, 1.0, 1.0, 0.0, 2.0, 1.5, 0.5, 3.0, -0.000001, np.nan, 1.0])
    lat = np.array([0.5, 0.5, 1.0, 0.0, 2.0, 1.5, 1.0, 3.0, 0.5, 0.5, 2.0])
    assert list(m.match(lon, lat)) == [
        "004",  # inside
        "003",  # shared edge 004 | 003: smallest code
        "001",  # the vertex all four share
        "004",  # outer corner: boundary is covered
        "001",
        "001",
        "002",  # edge 004 | 002
        None,  # outside
        None,  # just outside the west edge
        None,  # NaN
        "001",  # top edge 002 | 001
    ]
    assert m.match_indices(lon, lat).dtype == np.int32
    assert list(m.codes) == ["001", "002", "003", "004"]


def test_four_unit_squares_known_kinds():
    """The rule's kinds on the same squares: a NaN is unassigned without reaching the fallback."""
    from geo.matching.rule import MatchOutcome, match_points
    from geo.models import MatchKind

    m = GridMatcher.from_frame(
        ["004", "003", "002", "001"], [square(0, 0), square(1, 0), square(0, 1), square(1, 1)]
    )
    asked = []

    def fallback(lon, lat):
        asked.extend(zip(lon.tolist(), lat.tolist()))
        return [MatchOutcome(MatchKind.unassigned, 1)] * len(lon)

    lon = np.array([0.5, 1.0, 1.0, 0.0, 2.0, 1.5, 0.5, 3.0, np.nan, 1.0])
    lat = np.array([0.5, 0.5, 1.0, 0.0, 2.0, 1.5, 1.0, 3.0, 0.5, 2.0])
    got = match_points(m, lon, lat, fallback=fallback)
    assert list(got.kinds) == ["inside", "edge", "edge", "inside", "inside", "inside", "edge", "unassigned",
                               "unassigned", "edge"]
    assert asked == [(3.0, 3.0)]


@pytest.mark.parametrize("outer,inner", [("009", "005"), ("001", "005")])
def test_nested_overlap_takes_smallest_code(outer, inner):
    """A grid lying inside another: cells cut by the inner boundary still see the outer grid."""
    m = GridMatcher.from_frame([outer, inner], [square(0, 0, 1.0), square(0.3, 0.3, 0.2)], max_cells=40_000)
    rng = np.random.default_rng(3)
    x, y = rng.uniform(-0.1, 1.1, 20_000), rng.uniform(-0.1, 1.1, 20_000)
    bx, by = boundary_points(m.geoms, rng, 2_000)
    x, y = np.concatenate([x, bx]), np.concatenate([y, by])
    assert (m.match(x, y) == shapely_truth(m.codes, m.geoms, x, y)).all()
    assert m.match([0.4], [0.4])[0] == min(outer, inner)
    assert m.match([0.29], [0.4])[0] == outer


def test_rejects_bad_grids():
    with pytest.raises(ValueError, match="unique"):
        GridMatcher.from_frame(["1", "1"], [square(0, 0), square(1, 0)])
    with pytest.raises(ValueError, match="Polygon"):
        GridMatcher.from_frame(["1"], [shapely.Point(0, 0)])
    with pytest.raises(ValueError, match="codes"):
        GridMatcher.from_frame(["1", "2"], [square(0, 0)])


coord = st.floats(121.5, 121.6, allow_nan=False)


@st.composite
def polygons(draw):
    kind = draw(st.sampled_from(["box", "triangle"]))
    if kind == "box":
        x0, x1 = sorted(draw(st.lists(coord, min_size=2, max_size=2, unique=True)))
        y0, y1 = sorted(draw(st.lists(st.floats(40.8, 40.9), min_size=2, max_size=2, unique=True)))
        return shapely.box(x0, y0, x1, y1)
    pts = draw(st.lists(st.tuples(coord, st.floats(40.8, 40.9)), min_size=3, max_size=3, unique=True))
    poly = shapely.Polygon(pts)
    return poly if poly.is_valid and poly.area > 1e-8 else shapely.box(121.5, 40.8, 121.51, 40.81)


# Random (overlapping, nested, touching) grids, a raster size and a seed for the points.
RANDOM_GRIDS = given(
    geoms=st.lists(polygons(), min_size=1, max_size=6),
    max_cells=st.sampled_from([500, 5_000, 50_000]),
    seed=st.integers(0, 2**32 - 1),
)


def random_case(geoms, max_cells: int, seed: int, n_random: int) -> tuple[GridMatcher, np.ndarray, np.ndarray]:
    """A matcher over ``geoms`` (codes shuffled by ``seed``) and ``n_random`` random points
    around them followed by 1,000 vertex and edge points."""
    codes = [f"{i:03d}" for i in np.random.default_rng(seed).permutation(len(geoms))]
    m = GridMatcher.from_frame(codes, geoms, max_cells=max_cells)
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(121.49, 121.61, n_random), rng.uniform(40.79, 40.91, n_random)
    bx, by = boundary_points(m.geoms, rng, 1_000)
    return m, np.concatenate([x, bx]), np.concatenate([y, by])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@RANDOM_GRIDS
def test_property_equals_shapely(geoms, max_cells, seed):
    """Random (overlapping, nested, touching) grids, random + vertex + edge points: equals shapely."""
    m, x, y = random_case(geoms, max_cells, seed, 3_000)
    assert (m.match(x, y) == shapely_truth(m.codes, m.geoms, x, y)).all()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@RANDOM_GRIDS
def test_property_edge_kind_equals_shapely(geoms, max_cells, seed):
    """``edge`` exactly where the point is on its grid's boundary and another grid covers it
    too (the raster only spares the test for points in cells no boundary crosses)."""
    from geo.matching.rule import MatchOutcome, match_points
    from geo.models import MatchKind

    m, x, y = random_case(geoms, max_cells, seed, 2_000)
    got = match_points(m, x, y, fallback=lambda lon, lat: [MatchOutcome(MatchKind.unassigned, 1)] * len(lon))
    pts = shapely.points(x, y)
    covering = np.array([len(m.tree.query(p, predicate="intersects")) for p in pts])
    idx = m.match_indices(x, y)
    hit = idx >= 0
    on_boundary = np.zeros(len(x), dtype=bool)
    on_boundary[hit] = shapely.touches(m.geoms[idx[hit]], pts[hit])
    expected = np.where(~hit, "unassigned", np.where(on_boundary & (covering > 1), "edge", "inside"))
    assert (got.kinds == expected).all()


def test_cli_round_trip(tmp_path, monkeypatch, database_url, db, city_grids):
    from cli.main import app

    gid, codes, geoms = city_grids
    rng = np.random.default_rng(11)
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    lon = rng.uniform(minx - 0.02, maxx + 0.02, 5_000)
    lat = rng.uniform(miny - 0.02, maxy + 0.02, 5_000)
    lon[0] = np.nan
    src = tmp_path / "points.parquet"
    pd.DataFrame({"id": np.arange(5_000), "lon": lon, "lat": lat, "note": "x"}).to_parquet(src)
    out = tmp_path / "matched.parquet"
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)
    # No snapping: grid_code is exactly the covering grid.
    result = CliRunner().invoke(app, ["match", "--in", str(src), "--out", str(out), "--chunk-size", "1000",
                                      "--snap-tolerance", "0"])
    assert result.exit_code == 0, result.output
    got = pd.read_parquet(out)
    assert list(got.columns) == ["id", "lon", "lat", "note", "grid_code", "match_kind", "snap_distance_m"]
    assert got["id"].tolist() == list(range(5_000))
    expected = shapely_truth(codes, np.asarray(geoms), lon, lat)
    assert [None if pd.isna(v) else v for v in got["grid_code"]] == list(expected)
    assert got["grid_code"].isna().sum() > 100  # points outside the city stay null
    covered = got["grid_code"].notna()
    assert set(got.loc[covered, "match_kind"]) <= {"inside", "edge"}
    assert (got.loc[~covered, "match_kind"] == "unassigned").all() and got["snap_distance_m"].isna().all()

    # The city's tolerance: what intake would store, point by point (the PostGIS rule for the misses).
    config = load_city_config()
    result = CliRunner().invoke(app, ["match", "--in", str(src), "--out", str(out), "--chunk-size", "1000"])
    assert result.exit_code == 0, result.output
    snapped = pd.read_parquet(out)
    assert snapped.loc[covered, "grid_code"].tolist() == got.loc[covered, "grid_code"].tolist()
    assert snapped.loc[covered, "match_kind"].tolist() == got.loc[covered, "match_kind"].tolist()
    near = snapped[snapped["match_kind"] == "snapped"]
    assert len(near) > 0 and (near["snap_distance_m"] <= config.snap_tolerance_m).all()
    for k in near.index[:20].tolist() + snapped.index[~covered & (snapped["match_kind"] == "unassigned")][:20].tolist():
        if np.isfinite(lon[k]):
            rule = match_location(db, lon=float(lon[k]), lat=float(lat[k]), generation=gid,
                                  snap_tolerance_m=config.snap_tolerance_m)
            assert (rule.kind.value, rule.grid_code) == (snapped.at[k, "match_kind"],
                                                         None if pd.isna(snapped.at[k, "grid_code"]) else snapped.at[k, "grid_code"])
    assert snapped.at[0, "match_kind"] == "unassigned"  # the missing coordinate


def test_cli_bad_input(tmp_path, monkeypatch, database_url):
    from cli.main import app

    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)
    src = tmp_path / "points.parquet"
    pd.DataFrame({"x": [1.0], "y": [2.0]}).to_parquet(src)
    result = CliRunner().invoke(app, ["match", "--in", str(src), "--out", str(tmp_path / "o.parquet")])
    assert result.exit_code == 1
    assert "no lon or lat column" in " ".join(result.output.split())
    result = CliRunner().invoke(app, ["match", "--in", str(tmp_path / "missing.parquet"), "--out", "o.parquet"])
    assert result.exit_code == 1
    assert "cannot read" in " ".join(result.output.split())
