"""Per-generation caches never serve a draft's old boundaries after its areas change in place."""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa

from geo.analytics.mapdata import area_adjacency, area_outlines
from geo.boundaries.areas import area_index
from geo.matching.matcher import GridMatcher
from geo.models import Area, AreaLevel, Generation
from tests.tiny_city import COMMUNITY, build_tiny_city, ewkt

G1, G2 = f"{COMMUNITY}001", f"{COMMUNITY}002"


def test_an_in_place_edit_of_a_draft_is_seen_by_the_next_read(db):
    draft = build_tiny_city(db, activate=False)
    point = (np.array([116.412]), np.array([39.915]))  # in G2 as drawn
    before = GridMatcher.from_session(db, generation=draft)
    assert before.match(*point)[0] == G2
    assert GridMatcher.from_session(db, generation=draft) is before  # cached while nothing changes
    outlines = area_outlines(db, generation=draft, level=AreaLevel.grid)

    # The planner moves the G1|G2 edge east, in place: G1 now reaches 116.415.
    db.execute(sa.update(Area).where(Area.code == G1, Area.generation_low == draft)
               .values(geom=ewkt((116.40, 39.91, 116.415, 39.92))))
    db.execute(sa.update(Area).where(Area.code == G2, Area.generation_low == draft)
               .values(geom=ewkt((116.415, 39.91, 116.42, 39.92))))
    after = GridMatcher.from_session(db, generation=draft)
    assert after is not before and after.match(*point)[0] == G1
    assert area_outlines(db, generation=draft, level=AreaLevel.grid) != outlines


def test_the_revision_follows_inserts_updates_and_deletes_of_its_areas(db):
    other = build_tiny_city(db)  # at most one draft: the other one is active
    gen = build_tiny_city(db, activate=False)
    revision = lambda g: db.scalar(sa.select(Generation.areas_revision).where(Generation.id == g))  # noqa: E731
    start, untouched = revision(gen), revision(other)
    db.execute(sa.update(Area).where(Area.code == G1, Area.generation_low == gen).values(name="renamed"))
    assert revision(gen) == start + 1
    db.execute(sa.delete(Area).where(Area.code == G2, Area.generation_low == gen))
    assert revision(gen) == start + 2 and revision(other) == untouched
    assert G2 not in area_adjacency(db, generation=gen, level=AreaLevel.grid)


def test_the_area_index_of_a_draft_follows_a_rename_and_a_moved_edge(db):
    draft = build_tiny_city(db, activate=False)
    index = area_index(db, generation=draft)
    assert area_index(db, generation=draft) is index  # cached while nothing changes
    assert [a.code for a in index.path(G1)][-1] == G1 and index.path(G1)[0].level == AreaLevel.city
    db.execute(sa.update(Area).where(Area.code == G1, Area.generation_low == draft)
               .values(name="改名网格", geom=ewkt((116.40, 39.91, 116.415, 39.92))))
    fresh = area_index(db, generation=draft)
    assert fresh.area(G1).name == "改名网格"
    assert "116.415" in fresh.area(G1).geometry_json and "116.415" not in index.area(G1).geometry_json
