"""The columnar exports: GeoParquet (streamed) and GeoPackage (a file), from Arrow record
batches that Arrow's C++ CSV reader parses out of the export's ``COPY`` stream, so no row is
ever a Python object. Each batch gains a ``geometry`` column (WKB points, WGS-84) built from
``lon``/``lat``, which stay as plain columns for tools that read no geometry."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from geo.reports.export import Column, Export, columns, copy_csv, joined

ARROW_TYPES = {"text": pa.string(), "time": pa.timestamp("us", tz="UTC"), "float": pa.float64(),
               "int": pa.int64(), "bool": pa.bool_()}
GEOMETRY = "geometry"
ROW_GROUP_ROWS = 32_768  # rows per Parquet row group (about 10 MB of this table in memory)
CSV_BLOCK_BYTES = 1 << 20
# GeoParquet 1.1: WKB points; no "crs" means OGC:CRS84 (lon/lat WGS-84), which these are.
GEO_METADATA = {"version": "1.1.0", "primary_column": GEOMETRY,
                "columns": {GEOMETRY: {"encoding": "WKB", "geometry_types": ["Point"]}}}
DICTIONARY_COLUMNS = ("category", "subcategory", "status", "source", "escalated_to", "grid_code", "generation",
                      "match", "worker_id", "worker", "escalation_level", "orig_crs")
_WKB_POINT = np.dtype([("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])  # packed: 21 bytes


def arrow_schema(cols: list[Column], *, geo: bool = True) -> pa.Schema:
    """The Arrow schema of an export with ``cols`` (plus the geometry, with GeoParquet metadata)."""
    fields = [pa.field(c.name, ARROW_TYPES[c.kind]) for c in cols]
    if not geo:
        return pa.schema(fields)
    return pa.schema([*fields, pa.field(GEOMETRY, pa.binary())], metadata={"geo": json.dumps(GEO_METADATA)})


def wkb_points(lon, lat) -> pa.Array:
    """Little-endian WKB points of the (lon, lat) arrays (no nulls), built without a loop."""
    n = len(lon)
    buf = np.empty(n, dtype=_WKB_POINT)
    buf["order"], buf["type"], buf["x"], buf["y"] = 1, 1, lon, lat
    offsets = np.arange(0, _WKB_POINT.itemsize * (n + 1), _WKB_POINT.itemsize, dtype=np.int32)
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(buf)])


class PiecesReader(io.RawIOBase):
    """A readable file over an iterator of byte pieces (the COPY rows), for Arrow's reader."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces, self._left = pieces, memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self._left:
            piece = next(self._pieces, None)
            if piece is None:
                return 0
            self._left = memoryview(piece)
        n = min(len(b), len(self._left))
        b[:n] = self._left[:n]
        self._left = self._left[n:]
        return n


def record_batches(session: Session, *, export: Export,
                   times_as_text: bool = False) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The export's schema and its rows as record batches (about CSV_BLOCK_BYTES of CSV each).
    ``times_as_text``: times stay PostgreSQL's text (``2026-11-01 08:00:00+00``)."""
    cols = columns(export.viewer, now=export.now)
    if times_as_text:
        cols = [Column(c.name, c.expr, "text", c.free_text) if c.kind == "time" else c for c in cols]
    schema = arrow_schema(cols)

    def batches() -> Iterator[pa.RecordBatch]:
        source = io.BufferedReader(PiecesReader(joined(copy_csv(session, export=export, cols=cols))), 1 << 20)
        reader = pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
            # A description may hold line breaks (inside quotes).
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            # PostgreSQL writes NULL as an empty unquoted field and an empty text as "": only
            # the first is null (a description "NA" is a text, not Arrow's default null).
            convert_options=pacsv.ConvertOptions(
                column_types={c.name: ARROW_TYPES[c.kind] for c in cols}, null_values=[""],
                strings_can_be_null=True, quoted_strings_can_be_null=False,
                true_values=["true"], false_values=["false"]),
        )
        for batch in reader:
            lon = batch.column("lon").to_numpy(zero_copy_only=False)
            lat = batch.column("lat").to_numpy(zero_copy_only=False)
            yield pa.RecordBatch.from_arrays([*batch.columns, wkb_points(lon, lat)], schema=schema)

    return schema, batches()


class _Sink(io.RawIOBase):
    """A writable file keeping what is written until drained (the streamed pieces)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._pos = 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self._parts.append(bytes(b))
        self._pos += len(b)
        return len(b)

    def tell(self) -> int:
        return self._pos

    def drain(self) -> bytes:
        out, self._parts = b"".join(self._parts), []
        return out


def parquet_stream(session: Session, *, export: Export,
                   progress: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """The export as GeoParquet, yielded a row group at a time (ROW_GROUP_ROWS rows); the
    footer, which readers need, comes last. ``progress`` gets the rows written so far."""
    schema, batches = record_batches(session, export=export)
    sink = _Sink()
    # Dictionaries for the columns of few values only: ids, times, points and text would fill
    # a dictionary page per row group and then fall back to plain, at twice the cost.
    writer = pq.ParquetWriter(sink, schema, use_dictionary=[c for c in DICTIONARY_COLUMNS if c in schema.names])
    pending, held = [], 0
    rows = 0
    for batch in batches:
        pending.append(batch)
        held += batch.num_rows
        if held >= ROW_GROUP_ROWS:
            writer.write_table(pa.Table.from_batches(pending, schema=schema), row_group_size=held)
            rows += held
            pending, held = [], 0
            yield sink.drain()
            if progress:
                progress(rows)
    if pending:
        writer.write_table(pa.Table.from_batches(pending, schema=schema), row_group_size=held)
        rows += held
    writer.close()
    export.rows = rows
    yield sink.drain()
    if progress:
        progress(rows)


def write_gpkg(session: Session, *, export: Export, path: Path,
               progress: Callable[[int], None] | None = None) -> int:
    """Write the export to a new GeoPackage at ``path`` (layer ``reports``, points in
    EPSG:4326), streaming the batches into GDAL in one pass. Returns the rows written."""
    import pyogrio

    schema, batches = record_batches(session, export=export)
    plain = pa.schema([f for f in schema])  # GDAL reads the geometry by name, not by GeoParquet metadata

    written = 0

    def counted() -> Iterator[pa.RecordBatch]:
        nonlocal written
        for batch in batches:
            written += batch.num_rows
            yield pa.RecordBatch.from_arrays(batch.columns, schema=plain)
            if progress:
                progress(written)

    pyogrio.write_arrow(pa.RecordBatchReader.from_batches(plain, counted()), str(path), layer="reports",
                        driver="GPKG", geometry_name=GEOMETRY, geometry_type="Point", crs="EPSG:4326")
    export.rows = written
    return written


def _json_text(arr: pa.Array, *, free_text: bool) -> pa.Array:
    """JSON string literals of a text array (nulls stay null). Text people typed has its
    quotes, backslashes and the control characters JSON forbids raw escaped; the other text
    columns hold codes, ids and states, which need none."""
    if free_text:
        arr = pc.replace_substring(arr, "\\", "\\\\")
        arr = pc.replace_substring(arr, '"', '\\"')
        if pc.any(pc.match_substring_regex(arr, "[\\x00-\\x1f]")).as_py():
            for code in range(0x20):
                arr = pc.replace_substring(arr, chr(code), f"\\u{code:04x}")
    return pc.binary_join_element_wise('"', arr, '"', "")


def _json_time(arr: pa.Array) -> pa.Array:
    """RFC 3339 from PostgreSQL's UTC text: ``2026-11-01 08:00:00+00`` → ``"2026-11-01T08:00:00Z"``
    (plain substring kernels: a regex costs five times as much)."""
    iso = pc.utf8_slice_codeunits(pc.replace_substring(arr, " ", "T", max_replacements=1), 0, -3)
    return pc.binary_join_element_wise('"', iso, 'Z"', "")


def _json_values(batch: pa.RecordBatch, cols: list[Column]) -> dict[str, pa.Array]:
    out = {}
    for c in cols:
        arr = batch.column(c.name)
        if c.kind == "time":
            arr = _json_time(arr)
        elif c.kind == "text":
            arr = _json_text(arr, free_text=c.free_text)
        else:
            arr = pc.cast(arr, pa.string())
        out[c.name] = pc.fill_null(arr, "null")
    return out


def geojsonseq_stream(session: Session, *, export: Export,
                      progress: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """The export as a GeoJSON text sequence (RFC 8142): per row a record separator, one
    Feature (id, Point geometry, the other columns as properties), a line feed. The texts
    are assembled column-wise in Arrow, a batch at a time."""
    cols = [c for c in columns(export.viewer, now=export.now)]
    _, batches = record_batches(session, export=export, times_as_text=True)
    props = [c for c in cols if c.name not in ("id", "lon", "lat")]
    rows = 0
    for batch in batches:
        v = _json_values(batch, cols)
        parts = ['\x1e{"type":"Feature","id":', v["id"], ',"geometry":{"type":"Point","coordinates":[',
                 v["lon"], ",", v["lat"], ']},"properties":{']
        for i, c in enumerate(props):
            parts += [("," if i else "") + json.dumps(c.name) + ":", v[c.name]]
        parts.append("}}\n")
        texts = pc.binary_join_element_wise(*parts, "")
        rows += batch.num_rows
        yield _joined_bytes(texts)
        if progress:
            progress(rows)
    export.rows = rows


def _joined_bytes(texts: pa.Array) -> bytes:
    """The values of a string array without nulls, end to end (its data buffer's used span)."""
    offsets = np.frombuffer(texts.buffers()[1], dtype=np.int32, count=len(texts) + 1, offset=texts.offset * 4)
    return texts.buffers()[2].to_pybytes()[offsets[0]:offsets[-1]]
