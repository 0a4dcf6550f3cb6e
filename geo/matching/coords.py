"""Coordinate systems phones and surveys report in China, and conversion to WGS-84.

- ``wgs84``: GPS, iOS, Tianditu. ``cgcs2000`` (EPSG:4490) is within centimetres of it and is
  taken as identical.
- ``gcj02``: Amap, Tencent, WeChat. WGS-84 shifted by the published obfuscation formula
  (Krasovsky ellipsoid) inside mainland China only; 300–700 m in Panjin, i.e. several grids.
- ``bd09``: Baidu, a further rotation of GCJ-02.
- ``EPSG:n``: any CRS pyproj knows, e.g. CGCS2000 Gauss-Krüger zones EPSG:4491–4554 (metres).

The inverses of GCJ-02 and BD-09 are iterated to < 1e-9° (≈ 0.1 mm); the common one-step
inverse is off by up to ~4.6 m. Every function is vectorised over numpy arrays; lon/lat are
degrees, projected coordinates are in the CRS's own units.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from geo.errors import InvalidInput

_A = 6378245.0  # Krasovsky 1940 semi-major axis, as the GCJ-02 formula uses it
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0
_TOLERANCE_DEG = 1e-10
_MAX_ITERATIONS = 30

NAMED_CRS = ("wgs84", "cgcs2000", "gcj02", "bd09")
_EPSG = re.compile(r"^EPSG:(\d{4,6})$", re.IGNORECASE)


def in_mainland_china(lon, lat):
    """The rectangle where GCJ-02 shifts apply (the formula's own test, as every SDK uses)."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    return (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)


def _delta(lon, lat):
    x, y = lon - 105.0, lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x + common
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x + common
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon, lat):
    """WGS-84 → GCJ-02 (degrees). Points outside mainland China are returned unchanged."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    dlon, dlat = _delta(lon, lat)
    inside = in_mainland_china(lon, lat)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def gcj02_to_bd09(lon, lat):
    """GCJ-02 → BD-09 (degrees)."""
    x, y = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd09_to_gcj02_approx(lon, lat):
    x, y = np.asarray(lon, dtype=float) - 0.0065, np.asarray(lat, dtype=float) - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _invert(forward, lon, lat, start):
    """Solve forward(w) = (lon, lat) by fixed-point iteration from ``start``.

    The forward maps are the identity plus a smooth shift whose derivative is tiny, so
    w ← w − (forward(w) − target) converges geometrically (≈ 1e-5 per step).
    """
    tx, ty = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    wx, wy = start(tx, ty)
    for _ in range(_MAX_ITERATIONS):
        fx, fy = forward(wx, wy)
        ex, ey = fx - tx, fy - ty
        wx, wy = wx - ex, wy - ey
        if np.all(np.abs(ex) < _TOLERANCE_DEG) and np.all(np.abs(ey) < _TOLERANCE_DEG):
            break
    return wx, wy


def gcj02_to_wgs84(lon, lat):
    """GCJ-02 → WGS-84 (degrees), iterated to < 1e-10°; unchanged outside mainland China."""
    return _invert(wgs84_to_gcj02, lon, lat, start=lambda x, y: (x, y))


def bd09_to_gcj02(lon, lat):
    """BD-09 → GCJ-02 (degrees), iterated from the usual closed-form approximation."""
    return _invert(gcj02_to_bd09, lon, lat, start=_bd09_to_gcj02_approx)


def bd09_to_wgs84(lon, lat):
    """BD-09 → WGS-84 (degrees)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def wgs84_to_bd09(lon, lat):
    """WGS-84 → BD-09 (degrees)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def check_lon_lat(lon: float, lat: float, *, prefix: str = "") -> None:
    """Finite, in range, and a hint when the two look swapped (a common client bug)."""
    for name, value in (("lon", lon), ("lat", lat)):
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidInput("must be a finite number", field=f"{prefix}{name}")
    if not -90 <= lat <= 90:
        hint = "; lon and lat look swapped" if -90 <= lon <= 90 else ""
        raise InvalidInput(f"must be within [-90, 90], got {lat}{hint}", field=f"{prefix}lat")
    if not -180 <= lon <= 180:
        raise InvalidInput(f"must be within [-180, 180], got {lon}", field=f"{prefix}lon")


def normalise_crs(crs: str | None) -> str:
    """Canonical spelling of a crs name (``wgs84``, ``gcj02``, ``bd09``, ``cgcs2000``, ``EPSG:n``).

    Raises InvalidInput (field ``crs``) for anything else or an EPSG code pyproj does not know.
    """
    if crs is None or crs == "":
        return "wgs84"
    low = crs.strip().lower().replace("-", "").replace("_", "")
    aliases = {"wgs84": "wgs84", "epsg4326": "wgs84", "gcj02": "gcj02", "bd09": "bd09", "bd09ll": "bd09",
               "cgcs2000": "cgcs2000", "epsg4490": "cgcs2000"}
    if low in aliases:
        return aliases[low]
    m = _EPSG.match(crs.strip())
    if not m:
        raise InvalidInput(
            f"unknown crs {crs!r}: use wgs84, cgcs2000, gcj02, bd09 or EPSG:<code>", field="crs"
        )
    _transformer(int(m.group(1)))  # validates the code
    return f"EPSG:{int(m.group(1))}"


@lru_cache(maxsize=64)
def _transformer(epsg: int) -> Transformer:
    try:
        return Transformer.from_crs(CRS.from_epsg(epsg), CRS.from_epsg(4326), always_xy=True)
    except CRSError:
        raise InvalidInput(f"EPSG:{epsg} is not a coordinate system pyproj knows", field="crs") from None


@lru_cache(maxsize=64)
def _inverse(epsg: int) -> tuple[Transformer, float]:
    """WGS-84 → ``epsg``, and how far (in its units) a round trip may land from the input."""
    crs = CRS.from_epsg(epsg)
    return Transformer.from_crs(CRS.from_epsg(4326), crs, always_xy=True), (1e-7 if crs.is_geographic else 0.01)


def unprojectable(x, y, lon, lat, crs: str) -> np.ndarray:
    """Per point: True where (x, y) in the EPSG ``crs`` has no WGS-84 position of its own.

    PROJ clamps what lies beyond a projection's domain (EPSG:3857 y = 1e18 becomes lat 90),
    so a range check of the result is not enough: the result must map back onto the input.
    """
    fwd, tol = _inverse(int(crs.split(":", 1)[1]))
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    with np.errstate(invalid="ignore"):
        bx, by = (np.asarray(v) for v in fwd.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)))
        err = np.hypot(bx - x, by - y)
        return ~(np.isfinite(err) & (err <= tol * np.maximum(1.0, np.hypot(x, y) * 1e-9)))


def to_wgs84(x, y, crs: str):
    """Convert coordinates in ``crs`` (as returned by ``normalise_crs``) to WGS-84 lon/lat."""
    if crs in ("wgs84", "cgcs2000"):
        return np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if crs == "gcj02":
        return gcj02_to_wgs84(x, y)
    if crs == "bd09":
        return bd09_to_wgs84(x, y)
    lon, lat = _transformer(int(crs.split(":", 1)[1])).transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    return np.asarray(lon), np.asarray(lat)


def point_to_wgs84(x: float, y: float, crs: str | None, *, prefix: str = "") -> tuple[float, float]:
    """One point in ``crs`` (any spelling ``normalise_crs`` accepts) as checked WGS-84 lon/lat.

    Geographic input is range-checked before conversion (so swapped lon/lat is named as
    such), projected input after. Raises InvalidInput naming ``{prefix}lon``/``lat`` or ``crs``.
    """
    crs = normalise_crs(crs)
    if not crs.startswith("EPSG:"):
        check_lon_lat(x, y, prefix=prefix)
    lon, lat = (float(v) for v in to_wgs84(x, y, crs))
    check_lon_lat(lon, lat, prefix=prefix)
    if crs.startswith("EPSG:") and unprojectable(x, y, lon, lat, crs).any():
        raise InvalidInput(f"({x}, {y}) lies outside what {crs} can express", field=f"{prefix}lon")
    return lon, lat
