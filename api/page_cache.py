"""A small in-process TTL cache for built map pages.

The hot-spot page and the public embed aggregate a whole window of reports; analysts re-open
the same view and an embed on a busy portal is requested constantly, so a built page is kept
for ``ttl_s`` seconds (GRIDMAP_MAP_CACHE_TTL_S; 0 disables). Keys include every parameter and
the active generation. Per process: with several workers each keeps its own.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

T = TypeVar("T")


class PageCache:
    def __init__(self, ttl_s: float, max_entries: int = 256) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._items: OrderedDict[Hashable, tuple[float, object]] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_build(self, key: Hashable, build: Callable[[], T]) -> tuple[T, bool]:
        """(value, hit). Builds outside the lock; two concurrent misses may both build."""
        if self.ttl_s <= 0:
            return build(), False
        now = time.monotonic()
        with self._lock:
            item = self._items.get(key)
            if item is not None and item[0] > now:
                self._items.move_to_end(key)
                return item[1], True  # type: ignore[return-value]
        value = build()
        with self._lock:
            self._items[key] = (now + self.ttl_s, value)
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)
        return value, False
