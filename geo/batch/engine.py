"""Where batch work runs: a Dask cluster (a real one at an address, else a LocalCluster on
this machine), the archive's parts as tasks, and the matcher shipped once per worker.

The matcher goes to each worker once, as a file each worker process loads on its first task
(``ship``). Workers never see the database: they read GeoParquet parts and compute; whatever needs
PostgreSQL (the matching rule's fallback, the rematch hand-over, writing back) runs on the
client. Pure of web imports.
"""

from __future__ import annotations

import pickle
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import shapely
from distributed import Client, LocalCluster

from geo.archive.layout import GEOMETRY, month_paths, read_meta

DEFAULT_MEMORY_LIMIT = "2GiB"  # per worker: the province's matcher is ~0.5 GB, a 1 M-row part ~0.3 GB


class ArchiveMissing(ValueError):
    """The directory holds no reports archive (no archive.json, or no month yet)."""


@contextmanager
def batch_client(*, scheduler: str | None = None, workers: int = 2, memory_limit: str | int = DEFAULT_MEMORY_LIMIT,
                 processes: bool = True) -> Iterator[Client]:
    """A client on the scheduler at ``scheduler`` (``tcp://host:8786``: a cluster started with
    ``dask scheduler`` / ``dask worker``), else on a LocalCluster of ``workers`` processes with
    one thread each (matching is CPU-bound numpy/GEOS: processes, not threads, scale) and
    ``memory_limit`` each (0: none). ``processes=False``: threads in this process (tests; give
    ``memory_limit=0`` there: a thread worker measures the whole process, whose memory is not
    its own, and pauses itself above 80 % of its limit)."""
    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, memory_limit=memory_limit, processes=processes,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


def archive_parts(root: Path) -> list[Path]:
    """The archive's part files (one a month, in month order). Raises ArchiveMissing."""
    root = Path(root)
    if read_meta(root) is None:
        raise ArchiveMissing(f"{root} holds no reports archive (no archive.json)")
    parts = month_paths(root)
    if not parts:
        raise ArchiveMissing(f"the archive at {root} holds no month yet")
    return parts


def archive_zone(root: Path) -> str:
    """The city time zone the archive was written in (its months and the weekly counts follow it)."""
    meta = read_meta(Path(root))
    if meta is None:
        raise ArchiveMissing(f"{root} holds no reports archive (no archive.json)")
    return meta.timezone


def month_of(part: Path) -> str:
    """``YYYY-MM`` of a part file (its hive directory ``month=YYYY-MM``)."""
    return part.parent.name.split("=", 1)[1]


def read_archive(root: Path, columns: list[str] | None = None):
    """The whole archive as a dask_geopandas GeoDataFrame, one partition per month (lazy)."""
    import dask_geopandas

    return dask_geopandas.read_parquet([str(p) for p in archive_parts(root)], columns=columns)


def read_points(part: Path, columns: list[str]):
    """(pyarrow table of ``columns`` plus the WKB geometry, lon, lat) of one part: WGS-84
    degrees, NaN for a missing or empty point."""
    table = pq.read_table(part, columns=[*columns, GEOMETRY])
    column = table.column(GEOMETRY).combine_chunks()
    fast = _wkb_points(column)
    if fast is not None:
        return table, *fast
    geoms = shapely.from_wkb(column.to_numpy(zero_copy_only=False))
    return table, np.asarray(shapely.get_x(geoms), dtype=np.float64), np.asarray(shapely.get_y(geoms), dtype=np.float64)


_POINT_WKB = 21  # byte order (1), type (4), x and y (8 each)


def _wkb_points(column) -> tuple[np.ndarray, np.ndarray] | None:
    """lon/lat straight from a WKB column of little-endian 2-D points (what the archive holds:
    ~100× faster than shapely.from_wkb, which builds a GEOS object per point); None when any
    value is something else (null, big-endian, another type), for shapely to decode.
    An empty point's WKB holds NaN coordinates, as shapely gives."""
    if column.null_count or not len(column):
        return None
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int32, count=len(column) + 1, offset=column.offset * 4)
    starts = offsets[:-1]
    if not (np.diff(offsets) == _POINT_WKB).all():
        return None
    data = np.frombuffer(column.buffers()[2], dtype=np.uint8)
    head = data[starts[:, None] + np.arange(5)]
    if not ((head[:, 0] == 1) & (head[:, 1] == 1) & (head[:, 2:] == 0).all(axis=1)).all():
        return None
    xy = data[starts[:, None] + np.arange(5, _POINT_WKB)].copy().view("<f8")
    return xy[:, 0].astype(np.float64), xy[:, 1].astype(np.float64)


@dataclass(frozen=True)
class Shipped:
    """A matcher written once to ``path`` for the workers; ``get()`` loads it once per worker
    process and hands every later task the same copy. Small to send with each task."""

    path: str

    def get(self):
        if self.path not in _LOADED:
            _LOADED.clear()  # one run's matcher at a time in a worker
            with open(self.path, "rb") as f:
                _LOADED[self.path] = ready(pickle.load(f))
        return _LOADED[self.path]


_LOADED: dict[str, object] = {}


def forget(path: str) -> None:
    """Drop a worker's copy of the matcher at ``path`` (run on every worker after a run)."""
    _LOADED.pop(path, None)


@contextmanager
def ship(matcher, directory: Path | None = None) -> Iterator[Shipped]:
    """``matcher`` pickled to a file in ``directory`` (default: a private temporary folder;
    workers on other machines need a folder they all read at the same path), removed after.

    Why a file, not ``client.scatter(..., broadcast=True)``: scattering the province's
    matcher (0.6 GB pickled) peaked at 3.3 GiB per worker (the frames received, the copies
    replicated to the next worker and the object itself), loading it from a file at 0.85 GiB."""
    folder = Path(tempfile.mkdtemp(prefix="gridmap-batch-", dir=directory))
    path = folder / f"matcher-{uuid.uuid4().hex}.pickle"
    try:
        with open(path, "wb") as f:
            pickle.dump(matcher, f, protocol=pickle.HIGHEST_PROTOCOL)
        yield Shipped(str(path))
    finally:
        path.unlink(missing_ok=True)
        folder.rmdir()


def ready(matcher):
    """The matcher as shipped, with its geometries prepared again (pickling drops GEOS's
    prepared state, which makes the exact tests ~10× slower). Done in place, once per worker."""
    for value in vars(matcher).values():
        if (isinstance(value, np.ndarray) and value.dtype == object and value.size
                and isinstance(value.flat[0], shapely.Geometry) and not shapely.is_prepared(value.flat[0])):
            shapely.prepare(value)
    return matcher


def peak_memory(client: Client) -> dict[str, int]:
    """Peak resident memory of each worker process so far, in bytes: VmHWM of
    /proc/self/status (Linux). Not getrusage's maxrss, which keeps the peak of the process
    image a worker was forked from before its exec (the client's, with its matcher)."""
    def hwm() -> int:
        with open("/proc/self/status", encoding="ascii") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))

    return client.run(hwm)
