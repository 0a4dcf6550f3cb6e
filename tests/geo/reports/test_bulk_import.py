"""The bulk import (geo.reports.bulk) stores exactly what intake's submit_batch stores for the
same input, adds nothing the second time, and rejects a reused id with another body."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from geo.cityconfig import load_city_config
from geo.matching.coords import wgs84_to_gcj02
from geo.models import Report, ReportEvent, ReportSource
from geo.reports.bulk import import_slice, reason
from geo.reports.registration import REUSED_ID
from geo.reports.intake import ReportInput
from geo.reports.registration import submit_batch

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)

# (lon, lat, category, subcategory, crs): inside grid 001 (on duty), inside 002 (off duty:
# its backup), on the 001/002 edge, snapped from 4 m west of the city, unassigned far east,
# a GCJ-02 point, a sensitive case (public cell).
POINTS = [
    (116.405, 39.915, "30", "3001", "wgs84"),
    (116.415, 39.915, "20", None, "wgs84"),
    (116.41, 39.915, "30", None, "wgs84"),
    (116.39995, 39.905, "60", None, "wgs84"),
    (116.50, 39.95, "30", None, "wgs84"),
    (*(float(v) for v in wgs84_to_gcj02(116.415, 39.905)), "70", None, "gcj02"),
    (116.405, 39.905, "10", None, "wgs84"),
]


def _items(tag: str, ids) -> list[tuple[int, ReportInput]]:
    return [(i, ReportInput(id=rid, category=c, subcategory=s, description=f"{tag} {i}", source=ReportSource.citizen,
                            x=x, y=y, crs=crs, reported_at=NOW - timedelta(hours=1), reporter_phone="13800000000"))
            for i, ((x, y, c, s, crs), rid) in enumerate(zip(POINTS, ids))]


def _stored(db, ids) -> list[tuple]:
    """Every stored column but the id, and the trail without the ids, of the reports ``ids``."""
    table = Report.__table__
    cols = [c for c in table.c if c.name not in ("id", "location", "change_seq")]
    out = []
    for rid in ids:
        row = db.execute(sa.select(*cols, sa.func.ST_AsText(table.c.location), table.c.id)
                         .where(table.c.id == rid)).one()
        trail = db.execute(sa.select(ReportEvent.action, ReportEvent.actor, ReportEvent.from_status,
                                     ReportEvent.to_status, ReportEvent.data, ReportEvent.at)
                           .where(ReportEvent.report_id == row[-1]).order_by(ReportEvent.id)).all()
        out.append((*row[:-1], [tuple(t) for t in trail]))
    return out


def test_import_stores_what_submit_batch_stores(db, tiny):
    config = load_city_config()
    ids_a, ids_b = [uuid.uuid4() for _ in POINTS], [uuid.uuid4() for _ in POINTS]
    batch = submit_batch(db, items=_items("same", ids_a), config=config, now=NOW, duplicates=False)
    assert all(o.error is None for o in batch)
    result = import_slice(db, items=_items("same", ids_b), config=config, now=NOW)
    assert (result.created, result.replayed, result.rejected) == (len(POINTS), 0, {})
    a, b = _stored(db, ids_a), _stored(db, ids_b)
    assert a == b
    # The cases themselves cover every kind of match and routing.
    kinds = db.scalars(sa.select(Report.match_kind).where(Report.id.in_(ids_b))).all()
    assert {k.value for k in kinds} == {"inside", "edge", "snapped", "unassigned"}
    assert {e[0] for r in b for e in r[-1]} == {"register", "dispatch", "escalate"}


def test_second_import_adds_nothing_and_a_reused_id_is_a_conflict(db, tiny):
    config = load_city_config()
    ids = [uuid.uuid4() for _ in POINTS]
    first = import_slice(db, items=_items("twice", ids), config=config, now=NOW)
    assert first.created == len(POINTS)
    again = import_slice(db, items=_items("twice", ids), config=config, now=NOW + timedelta(minutes=1))
    assert (again.created, again.replayed, again.rejected) == (0, len(POINTS), {})
    # Another body under a stored id, and an id repeated inside the slice with another body.
    other = _items("other", ids[:1]) + [(1, _items("twice", ids)[0][1]), (2, _items("inner", ids[1:2])[0][1])]
    mixed = import_slice(db, items=other, config=config, now=NOW)
    assert mixed.rejected == {0: REUSED_ID, 2: REUSED_ID} and mixed.replayed == 1 and mixed.created == 0
    assert db.scalar(sa.select(sa.func.count()).select_from(Report)
                     .where(Report.description.startswith("twice "))) == len(POINTS)


BAD = [
    dict(category="99"),
    dict(subcategory="2001"),
    dict(reported_at=NOW + timedelta(hours=1)),
    dict(reported_at=datetime(1999, 1, 1, tzinfo=UTC)),
    dict(description="x" * 2001),
    dict(description="bad\x00text"),
    dict(crs="EPSG:1"),
    dict(crs="mars"),
    dict(x=39.915, y=116.405),
    dict(x=float("nan")),
    dict(crs="EPSG:3857", y=1e18),
    dict(reporter_phone="1" * 40),
    dict(),  # and a good one among them
]


def test_rejections_agree_with_submit_batch_row_by_row(db, tiny):
    config = load_city_config()
    base = dict(category="30", subcategory="3001", description="ok", source=ReportSource.citizen, x=116.405,
                y=39.915, reported_at=NOW - timedelta(hours=1))

    def items(tag):
        return [(i, ReportInput(**{**base, "description": f"{tag} {i}", **bad, "id": uuid.uuid4()}))
                for i, bad in enumerate(BAD)]

    expected = {o.index: reason(o.error) for o in submit_batch(db, items=items("v1"), config=config, now=NOW,
                                                               duplicates=False) if o.error is not None}
    got = import_slice(db, items=items("v2"), config=config, now=NOW).rejected
    assert len(expected) == len(BAD) - 1 and got == expected


def test_a_slice_the_database_refuses_is_written_row_isolated(db, tiny, monkeypatch):
    import psycopg

    from geo.reports import bulk

    def refuse(*_a, **_k):
        raise psycopg.errors.DataError("refused")

    monkeypatch.setattr(bulk, "_copy", refuse)
    ids = [uuid.uuid4() for _ in POINTS]
    result = import_slice(db, items=_items("isolated", ids), config=load_city_config(), now=NOW)
    assert (result.created, result.rejected) == (len(POINTS), {})
    assert db.scalar(sa.select(sa.func.count()).select_from(ReportEvent).where(ReportEvent.report_id.in_(ids))) \
        >= len(POINTS)
