"""Process-level tuning shared by the server, the CLI and the benchmarks."""

from __future__ import annotations

import gc


def settle_heap() -> None:
    """Move every object alive now (imported modules, caches built at start-up, the grid
    matcher) out of the cyclic garbage collector's sight.

    A full collection otherwise walks them all: 150-250 ms with the GIL held in a process that
    has imported geopandas, folium and SQLAlchemy. In the server that stalled every request in
    flight (it was the whole p99 of intake) and landed at random inside map builds. Call it
    once start-up work is done; calling it again later is harmless.
    """
    gc.collect()
    gc.freeze()
