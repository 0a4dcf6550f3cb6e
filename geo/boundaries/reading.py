"""Reading a planner's boundary file: GeoPackage, GeoJSON, Shapefile (plain or zipped),
GeoParquet; field mapping; any crs the intake accepts (``gcj02``/``bd09`` by the iterative
inverse, vertex by vertex). Pure: no database.

Every problem names the feature (its code, else its 1-based row) and the field, and all of a
file's problems are reported together (``BoundaryFileError.problems``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geo.boundaries.coverage import as_multipolygon, to_precision
from geo.boundaries.hierarchy import CODE_LENGTH, AreaLevel
from geo.errors import InvalidInput
from geo.matching.coords import check_lon_lat, normalise_crs, to_wgs84

MAX_FILE_BYTES = 200 * 1024 * 1024
PARQUET_SUFFIXES = (".parquet", ".geoparquet")
KINDS = ("urban", "rural", "dedicated")
TARGETS = ("code", "name", "households", "population", "kind")


class BoundaryFileError(InvalidInput):
    """The file cannot be imported; ``problems`` lists every reason (feature, field, why)."""

    def __init__(self, problems: list[str], *, field: str = "file") -> None:
        head = problems[0] if len(problems) == 1 else f"{len(problems)} problems, first: {problems[0]}"
        super().__init__(head, field=field, problems=problems)
        self.problems = problems


@dataclass(frozen=True)
class FieldMap:
    """Which of the file's fields hold each attribute (``code`` required; the others optional:
    None means the file has none). By default the names ``gridmap grids export`` writes."""

    code: str = "code"
    name: str | None = "name"
    households: str | None = "households"
    population: str | None = "population"
    kind: str | None = "kind"
    explicit: frozenset[str] = field(default_factory=frozenset)  # targets the user named

    @classmethod
    def parse(cls, pairs: list[str]) -> FieldMap:
        """From ``target=field`` pairs (``--field code=WGBM``); unknown targets are refused."""
        given: dict[str, str] = {}
        for pair in pairs:
            target, sep, name = pair.partition("=")
            target = target.strip().lower()
            if not sep or not name.strip():
                raise InvalidInput(f"field mapping {pair!r} is not target=field (e.g. code=WGBM)", field="field")
            if target not in TARGETS:
                raise InvalidInput(f"field mapping {pair!r}: unknown target {target!r}; use one of {', '.join(TARGETS)}",
                                   field="field")
            given[target] = name.strip()
        return cls(**given, explicit=frozenset(given))


def read_layer(path: Path, *, layer: str | None = None) -> gpd.GeoDataFrame:
    """The features of ``path`` (one layer: ``layer``, else the only one). Raises
    BoundaryFileError for a missing, oversized or unreadable file, or an ambiguous layer."""
    path = Path(path)
    if not path.is_file():
        raise BoundaryFileError([f"{path}: no such file"])
    if path.stat().st_size > MAX_FILE_BYTES:
        raise BoundaryFileError([f"{path.name} is {path.stat().st_size / 2**20:.0f} MiB; the limit is "
                                 f"{MAX_FILE_BYTES // 2**20} MiB: import it district by district"])
    if path.suffix.lower() in PARQUET_SUFFIXES:
        try:
            return gpd.read_parquet(path)
        except Exception as exc:  # noqa: BLE001 - any parser failure is the file's fault
            raise BoundaryFileError([f"{path.name} is not readable GeoParquet ({type(exc).__name__})"]) from None
    try:
        layers = [str(n) for n, _ in pyogrio.list_layers(path)]
    except Exception:  # noqa: BLE001
        raise BoundaryFileError([f"{path.name} is not a file GDAL can read (GeoPackage, GeoJSON, Shapefile, "
                                 "zipped Shapefile, GeoParquet)"]) from None
    if not layers:
        raise BoundaryFileError([f"{path.name} holds no layer" + (" (no .shp inside the zip?)"
                                                                   if path.suffix.lower() == ".zip" else "")])
    if layer is None and len(layers) > 1:
        raise BoundaryFileError([f"{path.name} holds {len(layers)} layers ({', '.join(layers)}): pass --layer"],
                                field="layer")
    if layer is not None and layer not in layers:
        raise BoundaryFileError([f"{path.name} has no layer {layer!r}; it has {', '.join(layers)}"], field="layer")
    try:
        return gpd.read_file(path, layer=layer or layers[0], engine="pyogrio")
    except Exception as exc:  # noqa: BLE001
        raise BoundaryFileError([f"{path.name}: cannot read layer {layer or layers[0]!r} ({type(exc).__name__})"]) from None


def feature_label(code: str | None, row: int) -> str:
    """How a problem names a feature: by its code, else its 1-based row in the file."""
    return f"feature {code}" if code else f"row {row}"


def _reproject(geoms: np.ndarray, crs: str) -> np.ndarray:
    """Every vertex from ``crs`` to WGS-84 (GCJ-02/BD-09 by the iterative inverse per vertex)."""
    if crs in ("wgs84", "cgcs2000"):
        return geoms
    return shapely.transform(geoms, lambda xy: np.column_stack(to_wgs84(xy[:, 0], xy[:, 1], crs)))


def _mapped_columns(frame: gpd.GeoDataFrame, fields: FieldMap) -> tuple[dict[str, str | None], list[str]]:
    names = [c for c in frame.columns if c != frame.geometry.name]
    lower = {c.lower(): c for c in names}
    problems, mapped = [], {}
    for target in TARGETS:
        wanted = getattr(fields, target)
        found = wanted if wanted in names else lower.get(wanted.lower()) if wanted else None
        if found is None and wanted and (target == "code" or target in fields.explicit):
            problems.append(f"no field {wanted!r} for the {target} in the file; its fields are "
                            f"{', '.join(names) or '(none)'}: pass --field {target}=<field>")
        mapped[target] = found
    return mapped, problems


def _crs_of(frame: gpd.GeoDataFrame, crs: str | None) -> str:
    """The crs to read the coordinates in: ``crs`` when given (wins: Amap/Baidu exports
    usually claim EPSG:4326), else the file's own, else WGS-84."""
    if crs is not None:
        return normalise_crs(crs)
    if frame.crs is None:
        return "wgs84"
    epsg = frame.crs.to_epsg()
    if epsg is None:
        raise BoundaryFileError([f"the file's crs ({frame.crs.name}) has no EPSG code: pass --crs"], field="crs")
    return normalise_crs(f"EPSG:{epsg}")


def read_boundaries(path: Path, *, level: AreaLevel = AreaLevel.grid, layer: str | None = None,
                    fields: FieldMap | None = None, crs: str | None = None) -> gpd.GeoDataFrame:
    """The areas of ``level`` in a planner's file, checked one by one: columns ``row`` (1-based),
    ``code`` (None: to be numbered), ``name``, ``households``, ``population``, ``kind`` (None
    where the file has no value), ``geometry`` (valid MultiPolygons, WGS-84, on the 1e-7° grid).

    Raises BoundaryFileError with every problem: unreadable file or layer, unknown fields or
    crs, non-polygon, empty or self-intersecting geometry, a code of the wrong length or not
    digits, a code twice, counts that are not whole numbers ≥ 0, an unknown kind.
    """
    fields = fields or FieldMap()
    frame = read_layer(path, layer=layer)
    mapped, problems = _mapped_columns(frame, fields)
    if problems:
        raise BoundaryFileError(problems, field="field")
    source_crs = _crs_of(frame, crs)  # every vertex is converted from it below (_reproject)
    if frame.empty:
        raise BoundaryFileError([f"{Path(path).name} holds no features"])
    want_len = CODE_LENGTH[level]
    out = pd.DataFrame({"row": np.arange(1, len(frame) + 1)})
    codes = [None if pd.isna(v) or str(v).strip() == "" else str(v).strip().removesuffix(".0")
             for v in (frame[mapped["code"]] if mapped["code"] else [None] * len(frame))]
    texts = {}
    for target in ("name", "kind"):
        col = mapped[target]
        texts[target] = [None if col is None or pd.isna(v) or str(v).strip() == "" else str(v).strip()
                         for v in (frame[col] if col else [None] * len(frame))]
        out[target] = pd.Series(texts[target], dtype=object)
    for target in ("households", "population"):
        col = mapped[target]
        values = pd.to_numeric(frame[col], errors="coerce") if col else pd.Series([np.nan] * len(frame))
        raw = frame[col] if col else values
        for i, (v, r) in enumerate(zip(values, raw)):
            bad_number = not pd.isna(v) and (not np.isfinite(v) or v < 0 or v != int(v) or v > 2**31 - 1)
            if (pd.isna(v) and not pd.isna(r) and str(r).strip() != "") or bad_number:
                problems.append(f"{feature_label(codes[i], i + 1)}: {target} {r!r} is not a whole number >= 0")
        out[target] = [None if pd.isna(v) or not np.isfinite(v) else int(v) for v in values]

    seen: dict[str, int] = {}
    for i, code in enumerate(codes):
        where = feature_label(code, i + 1)
        if code is not None and (not code.isdigit() or len(code) != want_len):
            problems.append(f"{where}: code {code!r} must be {want_len} digits for a {level.value}")
        elif code is not None and code in seen:
            problems.append(f"{where}: code {code} appears twice (rows {seen[code]} and {i + 1})")
        elif code is not None:
            seen[code] = i + 1
        kind = texts["kind"][i]
        if kind is not None and kind not in KINDS:
            problems.append(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")

    geoms = frame.geometry.to_numpy()
    types = shapely.get_type_id(geoms)
    polygonal = np.isin(types, (3, 6))  # Polygon, MultiPolygon
    for i in np.flatnonzero(~polygonal):
        kind = "missing" if geoms[i] is None else f"a {geoms[i].geom_type}"
        problems.append(f"{feature_label(codes[i], i + 1)}: geometry is {kind}, not a polygon")
    try:
        lonlat = to_precision(_reproject(np.where(polygonal, geoms, None), source_crs))
    except InvalidInput as exc:
        raise BoundaryFileError([exc.message], field="crs") from None
    for i in np.flatnonzero(polygonal):
        where, g = feature_label(codes[i], i + 1), lonlat[i]
        if g.is_empty:
            problems.append(f"{where}: geometry is empty")
            continue
        minx, miny, maxx, maxy = g.bounds
        try:
            check_lon_lat(minx, miny)
            check_lon_lat(maxx, maxy)
        except InvalidInput as exc:
            problems.append(f"{where}: geometry {exc.details.get('field', 'lon')} {exc.message} (is the crs right?)")
            continue
        if not g.is_valid:
            problems.append(f"{where}: geometry is invalid ({shapely.is_valid_reason(g)})")
    if problems:
        raise BoundaryFileError(problems)
    out["code"] = pd.Series(codes, dtype=object)
    for target in ("name", "kind", "households", "population"):  # None, never NaN, where the file has no value
        out[target] = pd.Series(out[target].tolist(), dtype=object).where(out[target].notna(), None)
    return gpd.GeoDataFrame(out, geometry=[as_multipolygon(g) for g in lonlat], crs=4326)
