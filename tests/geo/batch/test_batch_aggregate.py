"""batch aggregate on Dask equals the PostGIS GROUP BY; batch rematch plans what plan_rematch plans."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
import sqlalchemy as sa

from geo.analytics.weeks import week_bin, week_number, week_numbers
from geo.batch.aggregate import aggregate_archive, postgis_counts
from geo.batch.engine import archive_parts
from geo.batch.rematch import batch_plans, open_matches
from geo.boundaries.generations import activate_generation, carry_forward, create_generation, rebuild_pieces
from geo.cityconfig import load_city_config
from geo.matching.matcher import GridMatcher
from geo.models import AreaLevel, Report, ReportSource, ReportStatus
from geo.reports.intake import ReportInput
from geo.reports.registration import submit_report
from geo.reports.rematch import plan_rematch
from tests.batch_archive import archive_from_database
from tests.tiny_city import COMMUNITY, add_area

G1, G2 = f"{COMMUNITY}001", f"{COMMUNITY}002"
# Sunday 23:59 and Monday 00:00 in Shanghai, a Berlin Monday across the autumn change, a week's gap.
INSTANTS = [datetime(2026, 11, 15, 15, 59, tzinfo=UTC), datetime(2026, 11, 15, 16, 0, tzinfo=UTC),
            datetime(2026, 10, 25, 23, 0, tzinfo=UTC), datetime(2026, 10, 25, 22, 59, tzinfo=UTC),
            datetime(2026, 11, 2, 9, 0, tzinfo=UTC), datetime(2026, 11, 9, 9, 0, tzinfo=UTC)]
POINTS = [(116.405, 39.915), (116.41, 39.915), (116.412, 39.915), (116.415, 39.905), (116.4202, 39.915), (116.43, 39.915)]
CATEGORIES = [("30", "3001"), ("10", "1001"), ("20", "2001"), ("60", "6001")]


def close(db, report_id):
    db.execute(sa.update(Report).where(Report.id == report_id).values(status=ReportStatus.closed))


def _reports(db, config, now):
    ids = []
    for k, at in enumerate(INSTANTS * 2):
        lon, lat = POINTS[k % len(POINTS)]
        cat, sub = CATEGORIES[k % len(CATEGORIES)]
        item = ReportInput(category=cat, subcategory=sub, description="", source=ReportSource.citizen, x=lon, y=lat,
                           reported_at=at)
        ids.append(submit_report(db, item=item, config=config, now=now).report_id)
    return ids


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Berlin"])
def test_week_numbers_equal_the_sql_weeks(db, tiny, zone):
    ids = _reports(db, load_city_config(), datetime(2026, 11, 20, tzinfo=UTC))
    rows = db.execute(sa.select(Report.reported_at, week_number(week_bin(zone), zone)).where(Report.id.in_(ids))).all()
    assert week_numbers(pd.Series([r[0] for r in rows]), zone).tolist() == [r[1] for r in rows]


@pytest.mark.parametrize(("zone", "res"), [("Asia/Shanghai", None), ("Europe/Berlin", None), ("Asia/Shanghai", 7)])
def test_batch_aggregate_equals_the_postgis_group_by(db, tiny, tmp_path, dask_client, zone, res):
    ids = _reports(db, load_city_config(), datetime(2026, 11, 20, tzinfo=UTC))
    archive_from_database(db, tmp_path, zone=zone, ids=ids)
    batch = aggregate_archive(dask_client, parts=archive_parts(tmp_path), zone=zone, res=res)
    expected = postgis_counts(db, zone=zone, res=res, conditions=[Report.id.in_(ids)])
    pd.testing.assert_frame_equal(batch, expected)
    assert batch["n"].sum() == len(ids)
    if res is None:  # unassigned and uncatalogued reports are counted too, under missing keys
        assert batch["grid_code"].isna().any()


def test_batch_rematch_plans_what_plan_rematch_plans(db, tiny, tmp_path, dask_client):
    db.execute(sa.update(Report).values(status=ReportStatus.closed))  # only this test's cases are open
    config, now = load_city_config(), datetime.now(UTC)
    ids = _reports(db, config, now)
    close(db, ids[1])  # a closed case keeps its grid
    archive_from_database(db, tmp_path, zone=config.timezone, ids=ids)
    # Moved since archiving: closed now, so left out although the archive says open.
    close(db, ids[5])

    new = create_generation(db).id
    carry_forward(db, from_generation=tiny.generation, to_generation=new,
                  codes=["110100", "110101", "110101001", COMMUNITY, f"{COMMUNITY}003", f"{COMMUNITY}004"])
    add_area(db, gen=new, code=G1, level=AreaLevel.grid, parent=COMMUNITY, bounds=(116.40, 39.91, 116.415, 39.92))
    add_area(db, gen=new, code=G2, level=AreaLevel.grid, parent=COMMUNITY, bounds=(116.415, 39.91, 116.42, 39.92))
    db.flush()
    rebuild_pieces(db, generation=new)
    activate_generation(db, generation=new)
    matcher = GridMatcher.from_session(db, generation=new)

    expected = plan_rematch(db, matcher=matcher, generation=new, config=config)
    matches = open_matches(dask_client, db, parts=archive_parts(tmp_path), matcher=matcher, generation=new,
                           snap_tolerance_m=config.snap_tolerance_m, work_dir=tmp_path / "work")
    got = [r for plan in batch_plans(db, matches=matches, generation=new, chunk=4) for r in plan.reports]
    assert got == expected.reports
    assert {ids[1], ids[5]}.isdisjoint(r.report_id for r in got) and len(got) == len(ids) - 2
    assert any(r.moved and r.worker_id for r in got)
