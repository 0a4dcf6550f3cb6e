"""Reading a planner's file: every format, the field mapping, and bad input named by feature
and field (pure: no database)."""

from __future__ import annotations

import zipfile

import geopandas as gpd
import pytest
from shapely.geometry import LineString, MultiPolygon, box

from geo.boundaries.reading import MAX_FILE_BYTES, BoundaryFileError, FieldMap, read_boundaries
from geo.errors import InvalidInput

CODE = "110101001001001"


def frame(**columns):
    return gpd.GeoDataFrame({"code": [CODE, CODE[:-1] + "2"], **columns}, crs=4326, geometry=[
        MultiPolygon([box(116.40, 39.91, 116.41, 39.92)]), MultiPolygon([box(116.41, 39.91, 116.42, 39.92)])])


def problems(path, **kw) -> str:
    with pytest.raises(BoundaryFileError) as err:
        read_boundaries(path, **kw)
    return "\n".join(err.value.problems)


@pytest.mark.parametrize("suffix", ["gpkg", "geojson", "parquet", "shp.zip", "shp"])
def test_every_format_reads_the_same(tmp_path, suffix):
    f = frame(households=[10, 20])
    path = tmp_path / f"grids.{suffix}"
    if suffix == "parquet":
        f.to_parquet(path)
    elif suffix.startswith("shp"):
        f.to_file(tmp_path / "grids.shp", engine="pyogrio")
        if suffix == "shp.zip":
            with zipfile.ZipFile(path, "w") as z:
                for part in tmp_path.glob("grids.*"):
                    if part.suffix != ".zip":
                        z.write(part, part.name)
    else:
        f.to_file(path, engine="pyogrio")
    got = read_boundaries(path)
    assert list(got["code"]) == [CODE, CODE[:-1] + "2"] and list(got["households"]) == [10, 20]
    assert got.geometry.iloc[0].equals(f.geometry.iloc[0])


def test_field_mapping_and_missing_fields(tmp_path):
    path = tmp_path / "g.geojson"
    frame().rename(columns={"code": "WGBM"}).to_file(path, engine="pyogrio")
    assert "no field 'code' for the code in the file; its fields are WGBM" in problems(path)
    assert list(read_boundaries(path, fields=FieldMap.parse(["code=WGBM"]))["code"]) == [CODE, CODE[:-1] + "2"]
    assert "no field 'HH' for the households" in problems(path, fields=FieldMap.parse(["code=WGBM", "households=HH"]))
    with pytest.raises(InvalidInput, match="unknown target 'colour'"):
        FieldMap.parse(["colour=red"])


def test_bad_features_are_each_named(tmp_path):
    f = gpd.GeoDataFrame({"code": [CODE, "12", CODE, None], "households": ["ten", 5, -1, 3], "kind": ["x", None, None, None]},
                         crs=4326, geometry=[LineString([(116.4, 39.9), (116.5, 39.9)]), box(116.4, 39.9, 116.41, 39.91),
                                             box(116.41, 39.9, 116.42, 39.91), box(116.42, 39.9, 116.43, 39.91)])
    path = tmp_path / "bad.gpkg"
    f.to_file(path, engine="pyogrio")
    text = problems(path)
    assert f"feature {CODE}: geometry is a LineString, not a polygon" in text
    assert "feature 12: code '12' must be 15 digits for a grid" in text
    assert f"feature {CODE}: code {CODE} appears twice (rows 1 and 3)" in text
    assert f"feature {CODE}: households 'ten' is not a whole number >= 0" in text
    assert f"feature {CODE}: households '-1' is not a whole number >= 0" in text
    assert "row 4" not in text
    assert f"feature {CODE}: kind 'x' is not one of urban, rural, dedicated" in text


def test_unreadable_files_and_crs(tmp_path):
    (tmp_path / "junk.gpkg").write_bytes(b"not a database")
    assert "is not a file GDAL can read" in problems(tmp_path / "junk.gpkg")
    (tmp_path / "empty.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    text = problems(tmp_path / "empty.zip")
    assert "empty.zip" in text
    path = tmp_path / "g.geojson"
    frame().to_file(path, engine="pyogrio")
    with pytest.raises(Exception, match="unknown crs 'mars'"):
        read_boundaries(path, crs="mars")
    assert "no such file" in problems(tmp_path / "missing.gpkg")


def test_an_oversized_file_is_refused_before_reading(tmp_path):
    path = tmp_path / "big.geojson"
    with open(path, "wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)
    assert "the limit is 200 MiB" in problems(path)


@pytest.mark.filterwarnings("ignore:'crs' was not provided")  # the naive file is meant to have none
def test_a_projected_file_is_converted_once(tmp_path):
    f = frame()
    path = tmp_path / "utm.gpkg"
    f.to_crs(32650).to_file(path, engine="pyogrio")  # UTM 50N, as a surveyor's file would be
    got = read_boundaries(path)
    assert got.geometry.iloc[0].bounds == pytest.approx(f.geometry.iloc[0].bounds, abs=1e-6)
    naive = tmp_path / "naive.geojson"
    f.to_crs(32650).set_crs(None, allow_override=True).to_file(naive, engine="pyogrio")
    assert read_boundaries(naive, crs="EPSG:32650").geometry.iloc[1].bounds == pytest.approx(
        f.geometry.iloc[1].bounds, abs=1e-6)
