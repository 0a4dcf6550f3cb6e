"""Values computed from one boundary generation's areas, kept in-process and never stale.

Every per-generation cache (the grid matcher, outlines, adjacency, neighbours, the city
outline) goes through ``GenerationCache``: its key is (database, generation, the
generation's creation time, its ``areas_revision`` and the row's xmin, a caller's own key).
The revision is bumped by a database trigger whenever an area of the generation changes, in
place included (migration 0011), so a planner's edit of a draft is seen by the next read; the
creation time tells a reloaded database's generation 1 from the old one; the xmin tells
apart two transactions that reached the same revision, one of which rolled back. Reading the
fingerprint is one primary-key lookup.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.errors import GenerationNotFound
from geo.models import Generation

T = TypeVar("T")


def generation_fingerprint(session: Session, *, generation: int) -> tuple:
    """(database, generation, created_at, areas_revision, xmin) of ``generation``.
    Raises GenerationNotFound when there is no such generation."""
    row = session.execute(
        sa.select(Generation.created_at, Generation.areas_revision, sa.literal_column("generations.xmin::text"))
        .where(Generation.id == generation)
    ).first()
    if row is None:
        raise GenerationNotFound(f"no boundary generation {generation}", generation=generation)
    bind = session.get_bind()
    url = getattr(bind, "engine", bind).url.render_as_string(hide_password=True)
    return (url, generation, *row)


class GenerationCache(Generic[T]):
    """A bounded LRU of values built from one generation's areas (see the module docstring)."""

    def __init__(self, size: int = 32) -> None:
        self._size = size
        self._values: OrderedDict[tuple, T] = OrderedDict()
        self._lock = threading.Lock()
        self._building = threading.Lock()  # one build at a time: a matcher costs seconds and memory

    def get(self, session: Session, *, generation: int, build: Callable[[], T], key: Hashable = ()) -> T:
        """The value for ``generation`` (and ``key``), built by ``build()`` when its areas
        changed since, or on first use; a thread asking meanwhile waits for that build."""
        full = (generation_fingerprint(session, generation=generation), key)
        if (hit := self._lookup(full)) is not None:
            return hit[0]
        with self._building:
            if (hit := self._lookup(full)) is not None:
                return hit[0]
            value = build()
            with self._lock:
                self._values[full] = value
                while len(self._values) > self._size:
                    self._values.popitem(last=False)
        return value

    def _lookup(self, full: tuple) -> tuple[T] | None:
        with self._lock:
            if full in self._values:
                self._values.move_to_end(full)
                return (self._values[full],)
        return None

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
