"""The reports archive: the right months, rows and columns; re-runs rewrite only what changed
(status moves, new reports, deletions, a changed reported_at); the watermark never passes
over a report an open transaction is writing."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime

import h3
import pytest
import sqlalchemy as sa

from geo.archive.layout import COLUMNS, GEOMETRY, months, read_meta, read_month
from geo.archive.writer import archive_reports, month_bounds
from geo.cityconfig import load_city_config
from geo.errors import Busy, InvalidState
from geo.models import Report, ReportSource
from geo.reports.intake import ReportInput
from geo.reports.maintenance import purge_reports
from geo.reports.registration import submit_report
from geo.reports.workflow import apply_transition
from tests.tiny_city import COMMUNITY

CONFIG = load_city_config()  # Asia/Shanghai


def _report(db, lon: float, lat: float, at: datetime) -> uuid.UUID:
    item = ReportInput(category="30", subcategory="3001", description="heap", source=ReportSource.citizen,
                       x=lon, y=lat, reported_at=at, reporter_name="王五", reporter_phone="13800000009")
    return submit_report(db, item=item, config=CONFIG, now=datetime.now(UTC)).report_id


def _row(root, month: str, rid: uuid.UUID):
    frame = read_month(root, month)
    rows = frame[frame["id"] == str(rid)]
    assert len(rows) == 1, f"{rid} is {len(rows)} time(s) in {month}"
    return rows.iloc[0]


def test_first_run_then_only_what_changed(db, tiny, tmp_path):
    # 20:00 UTC on 30 April is 04:00 on 1 May in Shanghai: the city's month, not UTC's.
    may = _report(db, 116.405, 39.915, datetime(2026, 4, 30, 20, 0, tzinfo=UTC))
    march = _report(db, 116.415, 39.905, datetime(2026, 3, 10, 3, 0, tzinfo=UTC))
    conn = db.connection()

    first = archive_reports(conn, out=tmp_path, config=CONFIG)
    assert {"2026-03", "2026-05"} <= set(first.written) == set(months(tmp_path))
    assert first.unchanged == 0 and first.watermark_before == 0 and first.watermark_after > 0
    frame = read_month(tmp_path, "2026-05")
    assert list(frame.columns) == [*COLUMNS, GEOMETRY] and "reporter_name" not in frame
    assert frame.crs.to_epsg() == 4326
    row = _row(tmp_path, "2026-05", may)
    assert (row["grid_code"], row["generation_id"], row["match_kind"]) == (f"{COMMUNITY}001", tiny.generation, "inside")
    assert (row[GEOMETRY].x, row[GEOMETRY].y) == (116.405, 39.915)
    assert row["h3_cell"] == int(h3.latlng_to_cell(39.915, 116.405, 10), 16)
    assert row["reported_at"] == datetime(2026, 4, 30, 20, 0, tzinfo=UTC) and row["status"] == "dispatched"
    assert _row(tmp_path, "2026-03", march)["grid_code"] == f"{COMMUNITY}004"
    meta = read_meta(tmp_path)
    assert meta.watermark == first.watermark_after and meta.city == CONFIG.name
    assert sum(meta.months.values()) == first.rows == sum(len(read_month(tmp_path, m)) for m in months(tmp_path))

    again = archive_reports(conn, out=tmp_path, config=CONFIG)
    assert again.written == [] and again.rows == 0 and again.unchanged == len(months(tmp_path))
    assert again.watermark_before == first.watermark_after

    now = datetime.now(UTC)
    for action in ("start", "resolve", "close"):  # the real workflow; no code path knows the archive
        apply_transition(db, report_id=march, action=action, actor="t", config=CONFIG, now=now)
    closed = archive_reports(conn, out=tmp_path, config=CONFIG)
    assert closed.written == ["2026-03"] and closed.unchanged == len(months(tmp_path)) - 1
    row = _row(tmp_path, "2026-03", march)
    assert row["status"] == "closed" and row["closed_at"] == now

    july = _report(db, 116.415, 39.915, datetime(2026, 7, 2, tzinfo=UTC))
    added = archive_reports(conn, out=tmp_path, config=CONFIG)
    assert added.written == ["2026-07"] and _row(tmp_path, "2026-07", july)["grid_code"] == f"{COMMUNITY}002"


def test_deleted_and_moved_reports_leave_their_month(db, tiny, tmp_path):
    gone = _report(db, 116.405, 39.905, datetime(1999, 12, 31, 17, tzinfo=UTC))  # 1 Jan 2000, Shanghai
    moving = _report(db, 116.405, 39.905, datetime(2000, 2, 10, tzinfo=UTC))
    conn = db.connection()
    archive_reports(conn, out=tmp_path, config=CONFIG)
    assert {"2000-01", "2000-02"} <= set(months(tmp_path))  # nothing else reported then

    purge_reports(conn, where=Report.id == gone)
    conn.execute(sa.update(Report).where(Report.id == moving).values(reported_at=datetime(2000, 3, 5, tzinfo=UTC)))
    run = archive_reports(conn, out=tmp_path, config=CONFIG)
    assert sorted(run.written) == ["2000-01", "2000-02", "2000-03"] and sorted(run.removed) == ["2000-01", "2000-02"]
    assert "2000-01" not in months(tmp_path) and "2000-02" not in read_meta(tmp_path).months
    assert _row(tmp_path, "2000-03", moving)["reported_at"] == datetime(2000, 3, 5, tzinfo=UTC)


def test_refuses_another_city_or_folder_and_a_database_behind_it(db, tiny, tmp_path):
    conn = db.connection()
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InvalidState, match="not an archive and not empty"):
        archive_reports(conn, out=tmp_path, config=CONFIG)
    out = tmp_path / "archive"
    archive_reports(conn, out=out, config=CONFIG)
    with pytest.raises(InvalidState, match=f"archive of {CONFIG.name} in Asia/Shanghai"):
        archive_reports(conn, out=out, config=CONFIG.model_copy(update={"timezone": "Europe/Berlin"}))
    meta = read_meta(out)
    (out / "archive.json").write_text((out / "archive.json").read_text().replace(
        f'"watermark": {meta.watermark}', f'"watermark": {meta.watermark + 10**12}'))
    with pytest.raises(InvalidState, match="another database"):
        archive_reports(conn, out=out, config=CONFIG)
    assert archive_reports(conn, out=out, config=CONFIG, full=True).written == months(out)
    # Numbers of another database (restored with pg_restore, or the sequence made anew): refused too.
    assert read_meta(out).source.startswith("gridmap_test_")
    (out / "archive.json").write_text((out / "archive.json").read_text().replace('"source": "', '"source": "x'))
    with pytest.raises(InvalidState, match="archived from another database"):
        archive_reports(conn, out=out, config=CONFIG)
    archive_reports(conn, out=out, config=CONFIG, full=True)
    assert archive_reports(conn, out=out, config=CONFIG).written == []


def test_month_bounds_follow_the_city_clock():
    assert month_bounds("2026-12", CONFIG.tz) == (datetime(2026, 11, 30, 16, tzinfo=UTC),
                                                  datetime(2026, 12, 31, 16, tzinfo=UTC))


def _insert_committed_later(engine, committed_reports, at: datetime):
    """A report inserted on a connection of its own, in a transaction left open."""
    rid = uuid.uuid4()
    committed_reports.append(rid)
    conn = engine.connect()
    conn.execute(sa.insert(Report).values(
        id=rid, category="30", description="", source="citizen", status="registered", reported_at=at,
        location=sa.func.ST_SetSRID(sa.func.ST_MakePoint(116.405, 39.905), 4326),
        h3_cell=int(h3.latlng_to_cell(39.905, 116.405, 10), 16)))
    return rid, conn


def _months_holding(root, rid) -> list[str]:
    return [m for m in months(root) if (read_month(root, m)["id"] == str(rid)).any()]


def test_an_open_writer_is_waited_for_or_never_passed(engine, committed_reports, tmp_path):
    at = datetime(2001, 6, 15, tzinfo=UTC)
    first = archive_reports(engine, out=tmp_path, config=CONFIG)
    # Still open when the archive runs: it gives up without moving its watermark ...
    rid, writer = _insert_committed_later(engine, committed_reports, at)
    try:
        with pytest.raises(Busy, match="being written"):
            archive_reports(engine, out=tmp_path, config=CONFIG, lock_timeout_s=0.2)
        assert read_meta(tmp_path).watermark == first.watermark_after
        # ... or waits for it: the row it commits meanwhile is archived by this very run.
        runs = []
        worker = threading.Thread(target=lambda: runs.append(
            archive_reports(engine, out=tmp_path, config=CONFIG, lock_timeout_s=20)))
        worker.start()
        time.sleep(0.5)
        assert worker.is_alive()  # waiting for the writer
        writer.commit()
    finally:
        writer.close()
    worker.join(30)
    assert runs and "2001-06" in runs[0].written and _months_holding(tmp_path, rid) == ["2001-06"]
    assert archive_reports(engine, out=tmp_path, config=CONFIG).written == []


def test_a_row_committed_after_the_watermark_is_caught_next_time(engine, committed_reports, tmp_path):
    """A writer that draws its change_seq just after the watermark was read and commits while
    the months are being written is not lost: the next run archives it."""
    archive_reports(engine, out=tmp_path, config=CONFIG)
    state = {}

    def step(done, total, month):
        if done == 0 and "writer" not in state:  # the watermark is read; the months not yet written
            state["rid"], state["writer"] = _insert_committed_later(engine, committed_reports,
                                                                   datetime(2001, 8, 1, tzinfo=UTC))

    run = archive_reports(engine, out=tmp_path, config=CONFIG, progress=step)
    assert "2001-08" not in run.written
    state["writer"].commit()
    state["writer"].close()
    nxt = archive_reports(engine, out=tmp_path, config=CONFIG)
    assert nxt.written == ["2001-08"] and _months_holding(tmp_path, state["rid"]) == ["2001-08"]
