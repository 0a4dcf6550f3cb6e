"""check_hierarchy finds gaps, overlaps and overhangs on hand-made faults, and nothing on the tiny city."""

from __future__ import annotations

import sqlalchemy as sa

from geo.boundaries.topology import check_hierarchy
from geo.models import Area
from tests.tiny_city import COMMUNITY, build_tiny_city, ewkt


def set_geom(db, code, bounds):
    db.execute(sa.update(Area).where(Area.code == code).values(geom=ewkt(bounds)))


def test_tiny_city_is_clean(db):
    gen = build_tiny_city(db)
    report = check_hierarchy(db, generation=gen)
    assert report.ok, report.problems
    assert report.counts == {"city": 1, "district": 1, "street": 1, "community": 1, "grid": 4}


def test_overlap_and_overhang_are_found(db):
    gen = build_tiny_city(db)
    # Grid 001 grows 0.001° east (≈ 85 m × 1.1 km into 002) and 0.001° north, out of its community.
    set_geom(db, f"{COMMUNITY}001", (116.40, 39.91, 116.411, 39.921))
    problems = check_hierarchy(db, generation=gen).problems
    assert any(f"grids {COMMUNITY}001 and {COMMUNITY}002 overlap" in p for p in problems), problems
    assert any(f"grid {COMMUNITY}001 lies" in p and "outside its parent" in p for p in problems), problems
    assert any("grid union differs" in p for p in problems), problems


def test_gap_is_found(db):
    gen = build_tiny_city(db)
    set_geom(db, f"{COMMUNITY}004", (116.411, 39.90, 116.42, 39.91))  # leaves a strip uncovered
    problems = check_hierarchy(db, generation=gen).problems
    # 0.001° of a 0.02° square: 2.5 % of the district (to the spheroid's rounding).
    assert len(problems) == 1 and problems[0].startswith("grid union differs from the districts' union by 2.50")
