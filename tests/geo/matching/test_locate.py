"""Point-in-grid on the hand-built tiny city: inside, shared edge, shared vertex, outside."""

from __future__ import annotations

import pytest
from pyproj import Geod

from geo.errors import GenerationNotFound, NoActiveGeneration, OutsideJurisdiction
from geo.matching.rule import locate, match_location
from tests.tiny_city import COMMUNITY, build_tiny_city

G1, G2, G3, G4 = (f"{COMMUNITY}00{i}" for i in range(1, 5))



KNOWN = pytest.mark.parametrize(
    ("lon", "lat", "code", "kind"),
    [
        (116.405, 39.915, G1, "inside"),
        (116.415, 39.915, G2, "inside"),
        (116.405, 39.905, G3, "inside"),
        (116.415, 39.905, G4, "inside"),
        (116.41, 39.915, G1, "edge"),  # G1 | G2
        (116.415, 39.91, G2, "edge"),  # G2 | G4
        (116.41, 39.905, G3, "edge"),  # G3 | G4
        (116.41, 39.91, G1, "edge"),  # all four meet
        (116.40, 39.92, G1, "inside"),  # outer corner: boundary still counts (covers)
        (116.42, 39.90, G4, "inside"),
    ],
)


@KNOWN
def test_locate_known_answers(db, tiny, lon, lat, code, kind):
    match = locate(db, lon=lon, lat=lat)
    assert (match.grid_code, match.kind, match.generation) == (code, kind, tiny.generation)


@KNOWN
def test_the_postgis_spelling_of_the_rule_gives_the_same_answers(db, tiny, lon, lat, code, kind):
    # The fallback for points the matcher misses is the same rule in SQL: it must agree.
    match = match_location(db, lon=lon, lat=lat, generation=tiny.generation, snap_tolerance_m=0.0)
    assert (match.grid_code, match.kind) == (code, kind)


def test_vertex_lists_every_covering_grid(db, tiny):
    assert locate(db, lon=116.41, lat=39.91).covering_codes == (G1, G2, G3, G4)


def test_outside_reports_nearest_grid_and_geodesic_distance(db, tiny):
    with pytest.raises(OutsideJurisdiction) as err:
        locate(db, lon=116.43, lat=39.915)
    expected = Geod(ellps="WGS84").inv(116.43, 39.915, 116.42, 39.915)[2]
    assert err.value.details["nearest_grid"] == G2
    assert err.value.details["distance_m"] == pytest.approx(expected, abs=0.5)


def test_unknown_generation(db, tiny):
    with pytest.raises(GenerationNotFound):
        locate(db, lon=116.405, lat=39.915, generation=tiny.generation + 1000)


def test_no_active_generation(db):
    build_tiny_city(db, activate=False)
    from geo.models import Generation, GenerationStatus

    db.query(Generation).filter(Generation.status == GenerationStatus.active).update({"status": "retired"})
    with pytest.raises(NoActiveGeneration):
        locate(db, lon=116.405, lat=39.915)
