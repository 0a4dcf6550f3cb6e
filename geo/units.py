"""Degrees and metres, written once: the approximations every planar shortcut in gridmap uses.

WGS-84 degrees are not metres; where a fast planar estimate is enough (raster cells, search
boxes, area checks, the demo generator) these are the factors. Exact distances use PostGIS
geography or the haversine on its mean sphere (``geo.reports.store``).
"""

from __future__ import annotations

M_PER_DEG_LAT = 110_574.0  # metres per degree of latitude (WGS-84, mid-latitudes)
M_PER_DEG_LON_EQ = 111_320.0  # metres per degree of longitude at the equator; × cos(latitude) elsewhere
