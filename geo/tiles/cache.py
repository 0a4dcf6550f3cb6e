"""An in-process LRU of built tiles, bounded by the bytes it holds, with a strong ETag per tile.

The key says everything a tile's bytes depend on: the layer, the generation's fingerprint
(geo.boundaries.cache: database, generation, creation time, ``areas_revision``, xmin, so an
edit of the areas or a reloaded database is a new key), z/x/y, the audience (public counts
or exact ones: never served to each other) and the minute the counts were taken at. The
ETag is a hash of the key and the bytes, the same in every process that built the same tile.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from geo.tiles.hexagons import WindowCache

ENTRY_OVERHEAD = 256  # bytes of bookkeeping per entry (key, tuple, dict slot), roughly


@dataclass(frozen=True, slots=True)
class CachedTile:
    body: bytes
    etag: str


def strong_etag(key: Hashable, body: bytes) -> str:
    """A strong ETag (quoted) of ``key`` and ``body``."""
    h = hashlib.sha256(repr(key).encode())
    h.update(body)
    return '"' + h.hexdigest()[:32] + '"'


class TileCache:
    """LRU of :class:`CachedTile` holding at most ``max_bytes`` (0 disables it). Two concurrent
    misses of one key may both build; the second result replaces the first (same bytes)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[Hashable, CachedTile] = OrderedDict()
        self._lock = threading.Lock()
        # The hexagon layer's per-minute aggregates, which its tiles are cut from.
        self.windows = WindowCache()
        # generation asked for (None: the active one) -> (its fingerprint, when it was read).
        self._fingerprints: dict[int | None, tuple[object, float]] = {}

    def remember_fingerprint(self, generation: int | None, fingerprint: object) -> None:
        """Note ``fingerprint`` as just read for ``generation`` (None: the active one)."""
        self._fingerprints[generation] = (fingerprint, time.monotonic())

    def recent_fingerprint(self, generation: int | None, max_age_s: float) -> object | None:
        """The fingerprint read for ``generation`` at most ``max_age_s`` seconds ago, or None."""
        seen = self._fingerprints.get(generation)
        return seen[0] if seen is not None and time.monotonic() - seen[1] <= max_age_s else None

    def peek(self, key: Hashable) -> CachedTile | None:
        """The cached tile of ``key``, or None (nothing is built)."""
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def __len__(self) -> int:
        return len(self._items)

    def get_or_build(self, key: Hashable, build: Callable[[], bytes]) -> tuple[CachedTile, bool]:
        """(tile, hit): the cached tile of ``key``, or ``build()``'s bytes, cached."""
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
                return item, True
        body = build()
        item = CachedTile(body, strong_etag(key, body))
        size = len(body) + ENTRY_OVERHEAD
        if size > self.max_bytes:
            return item, False
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.bytes -= len(old.body) + ENTRY_OVERHEAD
            self._items[key] = item
            self.bytes += size
            while self.bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self.bytes -= len(dropped.body) + ENTRY_OVERHEAD
        return item, False

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.bytes = 0
