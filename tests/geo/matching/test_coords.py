"""Coordinate conversions: the published GCJ-02 vector, iterative inverses, projected CGCS2000."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from geo.errors import InvalidInput
from geo.matching.coords import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    normalise_crs,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

GEOD = Geod(ellps="WGS84")


def metres(lon1, lat1, lon2, lat2):
    return GEOD.inv(lon1, lat1, lon2, lat2)[2]


def test_published_gcj02_vector():
    lon, lat = wgs84_to_gcj02(116.404, 39.915)
    assert float(lon) == pytest.approx(116.41024449916938, abs=1e-12)
    assert float(lat) == pytest.approx(39.91640428150164, abs=1e-12)


def test_gcj02_inverse_is_sub_millimetre_where_one_step_is_metres():
    lon, lat = gcj02_to_wgs84(116.41024449916938, 39.91640428150164)
    assert metres(float(lon), float(lat), 116.404, 39.915) < 0.001
    # The naive inverse (subtract the shift computed at the GCJ point) is decimetres off here,
    # metres elsewhere.
    glon, glat = wgs84_to_gcj02(116.41024449916938, 39.91640428150164)
    naive = (2 * 116.41024449916938 - float(glon), 2 * 39.91640428150164 - float(glat))
    assert metres(*naive, 116.404, 39.915) > 0.1


def test_shift_is_hundreds_of_metres_in_panjin():
    lon, lat = wgs84_to_gcj02(122.07, 41.12)
    assert 300 < metres(122.07, 41.12, float(lon), float(lat)) < 700


def test_no_shift_outside_mainland_china():
    assert tuple(map(float, wgs84_to_gcj02(2.35, 48.85))) == (2.35, 48.85)
    assert tuple(map(float, gcj02_to_wgs84(2.35, 48.85))) == (2.35, 48.85)


def test_published_bd09_vector_and_its_inverse():
    # The vector every coordtransform port tests: GCJ (116.404, 39.915) -> BD-09.
    lon, lat = gcj02_to_bd09(116.404, 39.915)
    assert float(lon) == pytest.approx(116.41036949371029, abs=1e-12)
    assert float(lat) == pytest.approx(39.92133699351021, abs=1e-12)
    back = bd09_to_gcj02(116.41036949371029, 39.92133699351021)
    assert metres(float(back[0]), float(back[1]), 116.404, 39.915) < 0.001


@settings(max_examples=300, deadline=None)
@given(st.floats(73.5, 134.7), st.floats(18.2, 53.5))
def test_round_trips_are_below_a_centimetre(lon, lat):
    for fwd, inv in ((wgs84_to_gcj02, gcj02_to_wgs84), (wgs84_to_bd09, bd09_to_wgs84)):
        back = inv(*fwd(lon, lat))
        assert metres(float(back[0]), float(back[1]), lon, lat) < 0.01


def test_vectorised():
    lons, lats = np.array([116.404, 122.07, 2.35]), np.array([39.915, 41.12, 48.85])
    glon, glat = wgs84_to_gcj02(lons, lats)
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    assert np.allclose(wlon, lons, atol=1e-9) and np.allclose(wlat, lats, atol=1e-9)


def test_projected_cgcs2000_zone():
    # CGCS2000 / 3-degree Gauss-Kruger CM 123E (EPSG:4550), false easting 500 km: a point on
    # the central meridian has easting exactly 500,000 m.
    lon, lat = to_wgs84(500000.0, 4553000.0, normalise_crs("EPSG:4550"))
    assert float(lon) == pytest.approx(123.0, abs=1e-9) and 41.0 < float(lat) < 41.2


@pytest.mark.parametrize(("raw", "canon"), [(None, "wgs84"), ("WGS-84", "wgs84"), ("GCJ02", "gcj02"),
                                             ("bd-09", "bd09"), ("CGCS2000", "cgcs2000"), ("epsg:4549", "EPSG:4549")])
def test_normalise_crs(raw, canon):
    assert normalise_crs(raw) == canon


@pytest.mark.parametrize("bad", ["mercator", "EPSG:99999", "EPSG:abc"])
def test_unknown_crs(bad):
    with pytest.raises(InvalidInput) as err:
        normalise_crs(bad)
    assert err.value.details["field"] == "crs"
