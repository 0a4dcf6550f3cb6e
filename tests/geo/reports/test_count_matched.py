"""The listings' count stops at its cap, so a page costs the same however much history is kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from geo.models import Report
from geo.reports.queries import ReportFilter, count_matched, list_reports
from tests.tile_helpers import add_report
from tests.tiny_city import COMMUNITY

AT = datetime(2001, 5, 4, 12, tzinfo=UTC)  # this file's reports, apart from the demo's and other tests'


def test_the_count_is_exact_up_to_its_cap_and_none_past_it(db, tiny):
    for i in range(5):
        add_report(db, lon=116.401, lat=39.901, grid=f"{COMMUNITY}001", generation=tiny.generation,
                   reported_at=AT + timedelta(minutes=i))
    mine = [Report.reported_at >= AT, Report.reported_at < AT + timedelta(hours=1)]
    assert count_matched(db, mine) == 5
    assert count_matched(db, mine, cap=5) == 5
    assert count_matched(db, mine, cap=4) is None
    assert count_matched(db, [*mine, Report.category == "99"]) == 0
    rows, total = list_reports(db, filters=ReportFilter(since=AT, until=AT + timedelta(hours=1)), now=AT, limit=2)
    assert total == 5 and [r.reported_at for r in rows] == [AT + timedelta(minutes=4), AT + timedelta(minutes=3)]
