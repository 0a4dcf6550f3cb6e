"""The bulletin's periods, its numbers against GET /api/v1/stats on hand-placed reports, its
daily trends, the Gi* grids that became or stopped being hot spots, and the rendered page."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import lxml.html
import numpy as np
import pandas as pd
import pytest

from geo.access.privacy import public_cells
from geo.analytics.bulletin import (
    Period,
    build_bulletin,
    change_percent,
    change_points,
    check_end,
    hotspot_changes,
    period_windows,
)
from geo.cityconfig import load_city_config
from geo.errors import InvalidInput
from geo.matching.cells import cell_of_point
from geo.models import AreaLevel, Report, ReportSource, ReportStatus
from geo.readmodels import HotspotAnalysis
from maps.bulletin import pct, render_bulletin
from maps.settings import MapSettings
from tests.tiny_city import COMMUNITY, GRIDS

SH = ZoneInfo("Asia/Shanghai")
G1, G2, G3, G4 = GRIDS
END = date(2024, 3, 10)  # a Sunday; the week is 4–10 March, the one before 26 Feb – 3 Mar (2024 is a leap year)


def local(y, m, d, hh=0, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


def centre(grid: str) -> tuple[float, float]:
    minlon, minlat, maxlon, maxlat = GRIDS[grid]
    return (minlon + maxlon) / 2, (minlat + maxlat) / 2


def put(db, gen: int, grid: str, at: datetime, *, category: str = "30", status=ReportStatus.registered,
        dispatched: bool = False, close_after_h: float | None = None, rating: int | None = None,
        due_at: datetime | None = None, lonlat: tuple[float, float] | None = None) -> Report:
    """A report stored as intake stores it (cell, public cell), with its life set by hand."""
    lon, lat = lonlat or centre(grid)
    r = Report(
        id=uuid.uuid4(), category=category, source=ReportSource.citizen, description="",
        location=f"SRID=4326;POINT({lon} {lat})", h3_cell=cell_of_point(lon, lat),
        public_cell=public_cells([lon], [lat], [category])[0], reported_at=at, status=status,
        grid_code=grid, generation_id=gen, due_at=due_at,
        dispatched_at=at + timedelta(minutes=10) if dispatched else None,
        closed_at=at + timedelta(hours=close_after_h) if close_after_h is not None else None,
        resolved_at=at + timedelta(hours=close_after_h) if close_after_h is not None else None, rating=rating,
    )
    db.add(r)
    return r


@pytest.fixture()
def placed(db, tiny):
    """Seven reports around the week of 4–10 March 2024 (known answers in the tests)."""
    g = tiny.generation
    # This week: 4 matched reports (one rejected), one just after it.
    put(db, g, G1, local(2024, 3, 5, 10), status=ReportStatus.closed, dispatched=True, close_after_h=5, rating=5)
    put(db, g, G2, local(2024, 3, 6, 9), category="20", status=ReportStatus.in_progress, dispatched=True,
        due_at=local(2024, 3, 6, 12))  # overdue ever since
    put(db, g, G3, local(2024, 3, 10, 23, 59), category="10")  # the week's last minute
    put(db, g, G1, local(2024, 3, 4, 0, 0), status=ReportStatus.rejected)  # its first instant
    put(db, g, G4, local(2024, 3, 11, 0, 0))  # the next week
    # The week before: 2 reports.
    put(db, g, G1, local(2024, 3, 1, 8), status=ReportStatus.closed, dispatched=True, close_after_h=10, rating=2)
    put(db, g, G2, local(2024, 3, 3, 23, 59), category="60")
    db.flush()
    return tiny


def bulletin_of(db, tiny, *, period=Period.week, end=END):
    return build_bulletin(db, period=period, end=end, config=load_city_config(), generation=tiny.generation,
                          now=datetime.now(UTC), public=False)


def test_periods_are_whole_local_days_against_as_many_before():
    week, before = period_windows(Period.week, end=END, tz=SH)
    assert (week.first, week.last, week.days) == (date(2024, 3, 4), END, 7)
    assert (week.since, week.until) == (local(2024, 3, 4), local(2024, 3, 11))
    assert (before.first, before.last) == (date(2024, 2, 26), date(2024, 3, 3)) and before.until == week.since
    fortnight, before = period_windows(Period.fortnight, end=END, tz=SH)
    assert (fortnight.first, fortnight.days, before.first) == (date(2024, 2, 26), 14, date(2024, 2, 12))
    month, before = period_windows(Period.month, end=date(2026, 11, 30), tz=SH)
    assert (month.first, month.days, before.first, before.last) == (date(2026, 11, 1), 30, date(2026, 10, 2),
                                                                    date(2026, 10, 31))
    month, _ = period_windows(Period.month, end=date(2026, 11, 15), tz=SH)
    assert (month.first, month.days) == (date(2026, 10, 16), 31)
    month, _ = period_windows(Period.month, end=date(2026, 3, 30), tz=SH)  # 31 Feb does not exist
    assert month.first == date(2026, 2, 28)


def test_the_end_must_be_a_past_day():
    assert check_end(date(2026, 11, 30), today=date(2026, 12, 1)) == date(2026, 11, 30)
    for bad in (date(2026, 12, 1), date(2027, 1, 1), date(1, 1, 1)):
        with pytest.raises(InvalidInput) as exc:
            check_end(bad, today=date(2026, 12, 1))
        assert exc.value.details["field"] == "end"


def test_changes_are_points_for_rates_and_percent_for_counts():
    assert change_points(0.95, 0.90) == 5.0 and change_points(None, 0.9) is None
    assert change_percent(25, 20) == 25.0 and change_percent(3, 0) is None and change_percent(0, 4) == -100.0


STAT_FIELDS = ("total", "response_rate", "solved_rate", "satisfaction_rate", "overdue", "median_hours_to_close")


def api_stats(client, tokens, level: str, since: str, until: str, code: str) -> dict:
    r = client.get("/api/v1/stats", params={"level": level, "since": since, "until": until},
                   headers={"Authorization": tokens["admin"]})
    assert r.status_code == 200, r.text
    return next(a for a in r.json()["areas"] if a["code"] == code)


def test_numbers_equal_the_stats_api(db, client, tokens, placed):
    b = bulletin_of(db, placed)
    district = next(d for d in b.districts if d.code == "110101")
    street = next(s for s in b.streets if s.code == "110101001")
    for area, level in ((district, "district"), (street, "street")):
        now = api_stats(client, tokens, level, "2024-03-04", "2024-03-11", area.code)
        before = api_stats(client, tokens, level, "2024-02-26", "2024-03-04", area.code)
        for f in STAT_FIELDS:
            assert area.value(f) == now[f], (level, f)
            assert area.value(f, "before") == before[f], (level, f)
    # The known answers: 4 this week (one rejected), 2 the week before.
    assert [district.value(f) for f in STAT_FIELDS] == [4, 0.5, 0.3333, 1.0, 1, 5.0]
    assert [district.value(f, "before") for f in STAT_FIELDS] == [2, 0.5, 0.5, 0.0, 0, 10.0]
    assert district.change("total") == 100.0 and district.change("response_rate") == 0.0
    assert district.change("solved_rate") == -16.7 and district.change("satisfaction_rate") == 100.0
    assert b.totals.value("total") >= 4  # the city: every district's (the session may hold others)

    # The page shows the same figures in the district's row.
    page = render_bulletin(b, settings=MapSettings()).html
    row = lxml.html.fromstring(page).xpath('//table[contains(@class,"gm-areas")]//tr[@data-code="110101"]')[0]
    cell = {c: row.xpath(f'.//td[contains(@class,"gm-{c}")]')[0].text_content().strip()
            for c in ("n", "response_rate", "solved_rate", "satisfaction_rate", "overdue", "median")}
    assert cell == {"n": "4", "response_rate": pct(0.5), "solved_rate": "33.3%", "satisfaction_rate": "100.0%",
                    "overdue": "1", "median": "5.0"}


def test_daily_trends_per_group_in_local_days(db, placed):
    b = bulletin_of(db, placed)
    trends = {t.group: (t.now, t.before) for t in b.trends}
    assert list(trends) == ["disputes", "safety", "urban", "other"]
    assert trends["urban"] == ([1, 1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1, 0, 0])  # 4 and 5 March; 1 March
    assert trends["safety"][0] == [0, 0, 1, 0, 0, 0, 0]
    assert trends["disputes"][0] == [0, 0, 0, 0, 0, 0, 1]  # 23:59 on the 10th is still the 10th
    assert trends["other"][1] == [0, 0, 0, 0, 0, 0, 1]
    # Per day they add up to the matched reports that area_stats counts.
    assert sum(sum(t.now) for t in b.trends) == next(d for d in b.districts if d.code == "110101").value("total")


def analysis(klass: dict[str, int], n: dict[str, int] | None = None) -> HotspotAnalysis:
    codes = sorted(klass)
    n = n or {}
    areas = pd.DataFrame({"code": codes, "n": [n.get(c, 0) for c in codes],
                          "z": [float(klass[c]) for c in codes], "p": 0.5,
                          "klass": np.array([klass[c] for c in codes], dtype=np.int8),
                          "name": [f"grid {c}" for c in codes]})
    return HotspotAnalysis(label="all", since=local(2024, 3, 4), until=local(2024, 3, 11), resolution=9,
                           level=AreaLevel.grid, total=0, bounds=(0, 0, 1, 1), outline=None, hexes=pd.DataFrame(),
                           areas=areas)


def test_hotspot_changes_sort_grids_into_became_stopped_and_still():
    now = analysis({"a": 3, "b": 0, "c": 1, "d": -2, "e": 2}, {"a": 9})
    before = analysis({"a": 0, "b": 2, "c": 2, "d": 0, "e": -1})
    became, stopped, still = hotspot_changes(now, before)
    assert [(h.code, h.klass_before, h.klass_now, h.n_now) for h in became] == [("a", 0, 3, 9), ("e", -1, 2, 0)]
    assert [h.code for h in stopped] == ["b"] and [h.code for h in still] == ["c"]  # a cold spot is no hot spot


def test_a_cluster_becomes_a_hot_spot_grid(db):
    """Gi* for real on a 5 × 5 city: a cluster of reports in one corner this week, spread
    evenly the week before: the corner's grids became hot spots."""
    from geo.boundaries.generations import activate_generation, create_generation, rebuild_pieces
    from tests.tiny_city import add_area

    gen = create_generation(db, description="5x5").id
    frame = (120.0, 30.0, 120.05, 30.05)
    for code, level, parent in (("330100", AreaLevel.city, None), ("330101", AreaLevel.district, "330100"),
                                ("330101001", AreaLevel.street, "330101"),
                                ("330101001001", AreaLevel.community, "330101001")):
        add_area(db, gen=gen, code=code, level=level, parent=parent, bounds=frame)
    cells = {}
    for i in range(5):
        for j in range(5):
            code = f"330101001001{i * 5 + j + 1:03d}"
            cells[code] = (120.0 + 0.01 * j, 30.04 - 0.01 * i, 120.01 + 0.01 * j, 30.05 - 0.01 * i)
            add_area(db, gen=gen, code=code, level=AreaLevel.grid, parent="330101001001", bounds=cells[code])
    db.flush()
    rebuild_pieces(db, generation=gen)
    activate_generation(db, generation=gen)
    corner = [c for c in cells if c.endswith(("001", "002", "006", "007"))]
    for code, (x0, y0, x1, y1) in cells.items():
        mid = ((x0 + x1) / 2, (y0 + y1) / 2)
        put(db, gen, code, local(2024, 2, 28, 9), lonlat=mid)  # one each, the week before
        for k in range(30 if code in corner else 0):
            put(db, gen, code, local(2024, 3, 5, 9) + timedelta(minutes=k), lonlat=mid)
    db.flush()
    b = build_bulletin(db, period=Period.week, end=END, config=load_city_config(), generation=gen,
                       now=datetime.now(UTC), public=False)
    became = {h.code for h in b.became_hot}
    assert became and became <= set(corner), became
    assert not b.stopped_hot and not b.still_hot
    assert all(h.klass_now > 0 and h.klass_before <= 0 and h.n_now == 30 for h in b.became_hot)
    page = lxml.html.fromstring(render_bulletin(b, settings=MapSettings()).html)
    assert {tr.get("data-code") for tr in page.xpath('//table[contains(@class,"gm-became")]//tr[@data-code]')} == became
    assert COMMUNITY not in {h.code for h in b.became_hot}


def test_departments_equal_the_stats_api(db, client, tokens, tiny):
    """Transfers in this week and the one before (the tiny city's two departments): the
    bulletin's department figures are GET /api/v1/stats?level=department's for each window."""
    from geo.reports.intake import ReportInput
    from geo.reports.registration import submit_report
    from geo.reports.workflow import apply_transition, rate
    from tests.tiny_city import ROADS, SANITATION, add_department_staff, tiny_config

    add_department_staff(db)
    config = tiny_config()
    client.app.state.city_config = config
    h = timedelta(hours=1)

    def case(at: datetime):
        item = ReportInput(category="30", subcategory="3001", description="垃圾", source=ReportSource.citizen,
                           x=116.405, y=39.915, reported_at=at - timedelta(minutes=5))
        return submit_report(db, item=item, config=config, now=at).report_id

    def move(rid, action, at, **kw):
        apply_transition(db, report_id=rid, action=action, config=config, now=at, actor="调度台", **kw)

    t = local(2024, 3, 5, 9)
    a = case(t)  # this week: sanitation accepts and solves; rated 5
    for action, k, kw in (("transfer", 0, {"department": SANITATION, "note": "环卫"}), ("accept", 1, {}),
                          ("resolve", 2, {}), ("close", 3, {})):
        move(a, action, t + k * h, **kw)
    rate(db, report_id=a, rating=5, comment=None, now=t + 4 * h)
    b = case(t)  # this week: roads returns it
    move(b, "transfer", t, department=ROADS, note="道路")
    move(b, "return", t + h, note="不属本部门")
    t0 = local(2024, 2, 28, 9)
    c = case(t0)  # the week before: roads twice returns, sanitation holds it (overdue now)
    move(c, "transfer", t0, department=ROADS, note="道路")
    move(c, "return", t0 + h, note="不属本部门")
    move(c, "transfer", t0 + 2 * h, department=SANITATION, note="环卫")
    db.flush()

    bul = build_bulletin(db, period=Period.week, end=END, config=config, generation=tiny.generation,
                         now=datetime.now(UTC), public=False)
    assert [d.now.code for d in bul.departments] == [SANITATION, ROADS]
    fields = ("received", "accepted", "returned", "solved", "overdue", "median_hours_to_close", "satisfaction_rate")
    for which, since, until in (("now", "2024-03-04", "2024-03-11"), ("before", "2024-02-26", "2024-03-04")):
        r = client.get("/api/v1/stats", params={"level": "department", "since": since, "until": until},
                       headers={"Authorization": tokens["admin"]})
        assert r.status_code == 200, r.text
        api = {d["code"]: d for d in r.json()["departments"]}
        for d in bul.departments:
            mine = getattr(d, which)
            assert {f: getattr(mine, f) for f in fields} == {f: api[mine.code][f] for f in fields}, (which, mine.code)
    s, r = (d.now for d in bul.departments)
    assert (s.received, s.accepted, s.solved, s.satisfaction_rate, r.received, r.returned) == (1, 1, 1, 1.0, 1, 1)
    assert bul.departments[1].before.returned == 1 and bul.departments[0].before.received == 1

    page = lxml.html.fromstring(render_bulletin(bul, settings=MapSettings()).html)
    row = page.xpath(f'//table[contains(@class,"gm-departments")]//tr[@data-code="{ROADS}"]')[0]
    assert row.xpath('.//td[contains(@class,"gm-returned")]')[0].text_content() == "1"
    assert "道路处" in row.text_content()
