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
from typing import Generic, NamedTuple, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from geo.boundaries.generations import NO_ACTIVE_MESSAGE
from geo.errors import GenerationNotFound, NoActiveGeneration
from geo.models import Generation, GenerationStatus

T = TypeVar("T")


class Fingerprint(NamedTuple):
    """What a per-generation value was built from: the database, the generation and the
    generation row's (created_at, areas_revision, xmin)."""

    database: str
    generation: int
    created_at: object
    areas_revision: int
    xmin: str


def generation_fingerprint(session: Session, *, generation: int | None = None) -> Fingerprint:
    """The fingerprint of ``generation``, or of the active generation when ``None``: one
    primary-key (or status) lookup, which also tells callers which generation is active.
    Raises GenerationNotFound for an unknown id, NoActiveGeneration when none is active."""
    where = Generation.id == generation if generation is not None else Generation.status == GenerationStatus.active
    row = session.connection().execute(
        sa.select(Generation.id, Generation.created_at, Generation.areas_revision,
                  sa.literal_column("generations.xmin::text")).where(where)
    ).first()
    if row is None and generation is None:
        raise NoActiveGeneration(NO_ACTIVE_MESSAGE)
    if row is None:
        raise GenerationNotFound(f"no boundary generation {generation}", generation=generation)
    bind = session.get_bind()
    url = getattr(bind, "engine", bind).url.render_as_string(hide_password=True)
    return Fingerprint(url, *row)


class GenerationCache(Generic[T]):
    """A bounded LRU of values built from one generation's areas (see the module docstring)."""

    def __init__(self, size: int = 32) -> None:
        self._size = size
        self._values: OrderedDict[tuple, T] = OrderedDict()
        self._lock = threading.Lock()
        self._building = threading.Lock()  # one build at a time: a matcher costs seconds and memory

    def get(self, session: Session, *, generation: int, build: Callable[[], T], key: Hashable = (),
            fingerprint: Fingerprint | None = None) -> T:
        """The value for ``generation`` (and ``key``), built by ``build()`` when its areas
        changed since, or on first use; a thread asking meanwhile waits for that build.
        ``fingerprint``: one the caller read in this transaction (several caches, one read)."""
        if fingerprint is None:
            fingerprint = generation_fingerprint(session, generation=generation)
        elif fingerprint.generation != generation:
            raise ValueError(f"fingerprint of generation {fingerprint.generation}, not {generation}")
        full = (fingerprint, key)
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
