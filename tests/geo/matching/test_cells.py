"""geo.matching.cells: stored H3 cells and their parents by bit arithmetic, against h3 itself."""

from __future__ import annotations

import h3
import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from geo.matching.cells import CELL_RES, cell_of_point, cells_of_points, parent_expr, parents, to_strings

lons = st.floats(min_value=-179.9, max_value=179.9, allow_nan=False)
lats = st.floats(min_value=-85, max_value=85, allow_nan=False)


@given(lon=lons, lat=lats, res=st.integers(min_value=0, max_value=CELL_RES))
def test_parent_bits_equal_h3_cell_to_parent(lon, lat, res):
    cell = cell_of_point(lon, lat)
    assert to_strings(parents(np.array([cell]), res)) == [h3.cell_to_parent(h3.latlng_to_cell(lat, lon, CELL_RES), res)]


def test_vectorised_cells_equal_h3():
    lon, lat = np.array([122.07, 116.41, -0.1276]), np.array([41.12, 39.915, 51.5072])
    assert to_strings(cells_of_points(lon, lat)) == [h3.latlng_to_cell(y, x, CELL_RES) for x, y in zip(lon, lat)]


def test_parent_in_sql_equals_numpy(db):
    cell = cell_of_point(122.07, 41.12)
    got = db.execute(sa.select(*(parent_expr(sa.literal(cell, sa.BigInteger), r) for r in range(CELL_RES + 1)))).one()
    assert list(got) == [int(parents(np.array([cell]), r)[0]) for r in range(CELL_RES + 1)]


def test_a_parent_finer_than_the_stored_cell_is_refused():
    with pytest.raises(ValueError, match="between 0 and 10"):
        parents(np.array([cell_of_point(0, 0)]), CELL_RES + 1)
