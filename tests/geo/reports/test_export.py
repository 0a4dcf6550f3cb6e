"""Bulk exports on the tiny city: each viewer's rows are what the report view shows them,
filters hold (the public bbox on the public location), every format reads back the same rows."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest
import shapely
import sqlalchemy as sa

from api.report_views import report_view
from geo.access.privacy import coarse_point
from geo.access.roles import PUBLIC, Principal, Role
from geo.boundaries.areas import BBox
from geo.cityconfig import load_city_config
from geo.errors import InvalidInput
from geo.models import AuditEvent, Report, ReportSource, ReportStatus
from geo.reports.export import Export, stream
from geo.reports.export_arrow import write_gpkg
from geo.reports.intake import ReportInput
from geo.reports.queries import ReportFilter
from geo.reports.registration import submit_report
from tests.tiny_city import COMMUNITY

G1, G4 = f"{COMMUNITY}001", f"{COMMUNITY}004"
NOW = datetime.now(UTC)
T0 = NOW - timedelta(days=3)  # this file's reports, apart from any other test's
WINDOW = {"since": T0 - timedelta(hours=1), "until": T0 + timedelta(hours=1)}
TRICKY = '=HYPERLINK("x"), 垃圾,\n"堆积" \\ NA'
DISPUTE_AT = (116.4072, 39.9188)  # its public cell's centre is (116.405, 39.92)


@pytest.fixture()
def cases(db, tiny):
    """Four reports: urban in grid 001 (tricky text), a dispute (sensitive) in grid 001,
    urban in grid 004 (then rejected), and one no grid covers."""
    config = load_city_config()

    def report(category, lon, lat, description, minutes):
        item = ReportInput(category=category, description=description, source=ReportSource.citizen, x=lon, y=lat,
                           reported_at=T0 + timedelta(minutes=minutes), reporter_name="王小明",
                           reporter_phone="13912345678")
        return submit_report(db, item=item, config=config, now=NOW).report_id

    ids = {"urban": report("30", 116.4051234, 39.9154321, TRICKY, 1),
           "dispute": report("10", *DISPUTE_AT, "邻居吵架", 2),
           "g4": report("30", 116.415, 39.905, "井盖缺失", 3),
           "outside": report("30", 116.60, 39.99, "城外", 4)}
    db.execute(sa.update(Report).where(Report.id == ids["g4"]).values(status=ReportStatus.rejected))
    db.flush()
    return {k: str(v) for k, v in ids.items()}


def run(db, viewer, fmt="csv", *, now=NOW, **filters) -> tuple[list[dict], Export]:
    export = Export(viewer=viewer, fmt=fmt, now=now, filters=ReportFilter(**{**WINDOW, **filters}))
    data = b"".join(stream(db, export=export))
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
    elif fmt == "parquet":
        rows = pq.read_table(io.BytesIO(data)).to_pylist()
    else:
        texts = data.decode().split("\x1e")
        assert texts[0] == "" and all(t.endswith("\n") and t.count("\n") == 1 for t in texts[1:])
        rows = [json.loads(t) for t in texts[1:]]
    assert len(rows) == export.rows
    return rows, export


def by_id(rows):
    return {str(r["id"]): r for r in rows}


def view(db, rid, viewer):
    return report_view(db, db.get(Report, rid), viewer=viewer, now=NOW)


def test_admin_gets_full_records(db, cases):
    rows, _ = run(db, Principal(Role.admin))
    rows.sort(key=lambda r: r["reported_at"])
    assert [r["id"] for r in rows] == [cases[k] for k in ("urban", "dispute", "g4", "outside")]
    urban, dispute = rows[0], rows[1]
    assert urban["description"] == TRICKY and urban["reporter_name"] == "王小明"
    assert (float(urban["lon"]), float(urban["lat"])) == (116.4051234, 39.9154321)
    assert (dispute["grid_code"], float(dispute["lon"]), dispute["description"]) == (G1, DISPUTE_AT[0], "邻居吵架")
    assert urban["worker"] == view(db, cases["urban"], Principal(Role.admin)).assigned_worker.public_name
    assert rows[3]["grid_code"] == "" and rows[3]["match"] == "unassigned"  # CSV: NULL is an empty field


@pytest.mark.parametrize("fmt", ["csv", "geojsonseq", "parquet"])
def test_public_rows_are_the_public_report_view(db, cases, fmt):
    rows, _ = run(db, PUBLIC, fmt)
    assert len(rows) == 4
    for rid, row in by_id(rows).items():
        props = row["properties"] if fmt == "geojsonseq" else row
        lon, lat = row["geometry"]["coordinates"] if fmt == "geojsonseq" else (props["lon"], props["lat"])
        v = view(db, rid, PUBLIC)
        assert (float(lon), float(lat)) == (v.lon, v.lat)
        text = (lambda x: x or None) if fmt == "csv" else (lambda x: x)  # CSV cannot tell NULL from ""
        assert text(props["grid_code"]) == v.grid_code and text(props["description"]) == v.description
        assert text(props["match"]) == v.match
        assert not {"reporter_name", "reporter_phone", "orig_x"} & set(props)
    dispute = by_id(rows)[cases["dispute"]]
    props = dispute["properties"] if fmt == "geojsonseq" else dispute
    assert props["grid_code"] == COMMUNITY and int(props["location_precision_m"]) == 400
    point = dispute["geometry"]["coordinates"] if fmt == "geojsonseq" else (props["lon"], props["lat"])
    assert tuple(map(float, point)) == coarse_point(*DISPUTE_AT)


def test_a_worker_reads_personal_data_of_their_own_cases_only(db, cases, tiny):
    worker = Principal(Role.worker, worker_id=tiny.workers[G1].id)
    rows = by_id(run(db, worker)[0])
    for rid, row in rows.items():
        v = view(db, rid, worker)
        assert (row["reporter_name"] or None) == (v.reporter or {}).get("name")
        assert (float(row["lon"]), row["grid_code"] or None) == (v.lon, v.grid_code)
    assert rows[cases["dispute"]]["description"] == "邻居吵架"  # theirs: in full
    assert rows[cases["g4"]]["reporter_name"] == ""  # grid 004's


def test_filters_are_the_listings(db, cases):
    admin = Principal(Role.admin)
    ids = lambda viewer, **f: {r["id"] for r in run(db, viewer, **f)[0]}  # noqa: E731
    assert ids(admin, categories=("10",)) == {cases["dispute"]}
    assert ids(admin, status=ReportStatus.rejected) == {cases["g4"]}
    assert ids(admin, unassigned=True) == {cases["outside"]}
    assert ids(admin, area_prefix=G1, exact=True) == {cases["urban"], cases["dispute"]}
    assert ids(PUBLIC, area_prefix=G1) == {cases["urban"]}  # a sensitive case's public area is its community
    assert ids(admin, overdue=True) == set()
    later = NOW + timedelta(days=60)
    # Every open case (the rejected one is not), the one no grid covers too.
    assert {r["id"] for r in run(db, admin, now=later, overdue=True)[0]} == {cases["urban"], cases["dispute"],
                                                                           cases["outside"]}
    assert ids(admin, since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=4)) == {cases["dispute"],
                                                                                         cases["g4"]}


def test_the_public_bbox_tests_the_public_location(db, cases):
    around_point = BBox(116.406, 39.918, 116.408, 39.9195)
    around_cell = BBox(116.404, 39.9195, 116.406, 39.9205)
    ids = lambda viewer, box, exact: {r["id"] for r in run(db, viewer, bbox=box, exact=exact)[0]}  # noqa: E731
    assert ids(PUBLIC, around_point, False) == set()
    assert ids(PUBLIC, around_cell, False) == {cases["dispute"]}
    assert ids(Principal(Role.admin), around_point, True) == {cases["dispute"]}


def test_parquet_is_geoparquet_with_the_same_rows(db, cases):
    export = Export(viewer=Principal(Role.admin), fmt="parquet", now=NOW, filters=ReportFilter(**WINDOW))
    table = pq.read_table(io.BytesIO(b"".join(stream(db, export=export))))
    geo = json.loads(table.schema.metadata[b"geo"])
    assert geo["primary_column"] == "geometry" and geo["columns"]["geometry"]["encoding"] == "WKB"
    points = shapely.from_wkb(table.column("geometry").to_pylist())
    assert [(p.x, p.y) for p in points] == list(zip(table.column("lon").to_pylist(), table.column("lat").to_pylist()))
    assert str(table.schema.field("reported_at").type) == "timestamp[us, tz=UTC]"
    assert table.column("overdue").to_pylist() == [False] * 4
    assert min(table.column("reported_at").to_pylist()) == T0 + timedelta(minutes=1)


def test_gpkg_reads_back_with_the_same_rows(db, cases, tmp_path):
    import pyogrio

    path = tmp_path / "reports.gpkg"
    export = Export(viewer=PUBLIC, fmt="gpkg", now=NOW, filters=ReportFilter(**WINDOW))
    assert write_gpkg(db, export=export, path=path) == 4
    frame = pyogrio.read_dataframe(path, layer="reports")
    assert sorted(frame["id"]) == sorted(cases.values())
    dispute = frame.set_index("id").loc[cases["dispute"]]
    assert (dispute.geometry.x, dispute.geometry.y) == coarse_point(*DISPUTE_AT)
    assert dispute.isna()["description"] and frame.crs.to_epsg() == 4326


def test_excel_csv_has_a_bom_and_no_formulas(db, cases):
    export = Export(viewer=PUBLIC, fmt="csv", now=NOW, excel=True, filters=ReportFilter(**WINDOW))
    data = b"".join(stream(db, export=export))
    assert data.startswith(b"\xef\xbb\xbfid,")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert "'" + TRICKY in [r["description"] for r in rows]


def test_personal_exports_are_audited(db, cases):
    def exports():
        return db.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                         .where(AuditEvent.action == "personal.export"))

    from geo.reports.export import audit_export

    before = exports()
    audit_export(db, export=Export(viewer=PUBLIC, fmt="csv", now=NOW, filters=ReportFilter()))
    assert exports() == before
    audit_export(db, export=Export(viewer=Principal(Role.dispatcher, holder="d"), fmt="csv", now=NOW,
                                   filters=ReportFilter(categories=("10",))))
    assert exports() == before + 1


def test_bad_formats_name_their_field():
    with pytest.raises(InvalidInput) as exc:
        Export(viewer=PUBLIC, fmt="xlsx", now=NOW, filters=ReportFilter())
    assert exc.value.details["field"] == "format"
    with pytest.raises(InvalidInput) as exc:
        Export(viewer=PUBLIC, fmt="parquet", now=NOW, excel=True, filters=ReportFilter())
    assert exc.value.details["field"] == "excel"
