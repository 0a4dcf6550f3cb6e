"""The migrated schema matches the models and enforces the hierarchy's invariants itself."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from geoalchemy2 import alembic_helpers

from geo.boundaries.generations import activate_generation, create_generation
from geo.models import Area, AreaLevel, Base, Generation, GenerationStatus
from tests.tiny_city import add_area, build_tiny_city


def test_migrations_match_models(db):
    ctx = MigrationContext.configure(
        db.connection(), opts={"include_object": alembic_helpers.include_object, "compare_type": True}
    )
    assert compare_metadata(ctx, Base.metadata) == []


def test_code_length_must_match_level(db):
    gen = create_generation(db).id
    add_area(db, gen=gen, code="1101010", level=AreaLevel.street, parent="110101", bounds=(0, 0, 1, 1))
    with pytest.raises(sa.exc.IntegrityError, match="ck_areas_code_length"):
        db.flush()


def test_invalid_geometry_rejected(db):
    gen = create_generation(db).id
    db.add(Area(code="110101", level=AreaLevel.district, name="bow-tie", households=0, population=0,
                geom="SRID=4326;MULTIPOLYGON(((0 0,1 1,1 0,0 1,0 0)))", generation_low=gen, generation_high=gen))
    with pytest.raises(sa.exc.IntegrityError, match="ck_areas_geom_valid"):
        db.flush()


def test_one_version_of_a_code_per_generation(db):
    gen = build_tiny_city(db)
    # A second row for grid 001 whose range also covers `gen` would make lookups ambiguous.
    add_area(db, gen=gen, code="110101001001001", level=AreaLevel.grid, parent="110101001001", bounds=(0, 0, 1, 1))
    with pytest.raises(sa.exc.IntegrityError, match="ex_areas_code_generations"):
        db.flush()


def test_only_one_active_generation(db):
    a = create_generation(db).id
    activate_generation(db, generation=a)
    b = create_generation(db).id
    activate_generation(db, generation=b)
    statuses = dict(db.execute(sa.select(Generation.id, Generation.status).where(Generation.id.in_([a, b]))).all())
    assert statuses == {a: GenerationStatus.retired, b: GenerationStatus.active}
    db.add(Generation(status=GenerationStatus.active))
    with pytest.raises(sa.exc.IntegrityError, match="uq_generations_one_active"):
        db.flush()


def test_at_most_one_draft(db):
    create_generation(db)
    db.add(Generation(status=GenerationStatus.draft))
    with pytest.raises(sa.exc.IntegrityError, match="uq_generations_one_draft"):
        db.flush()


def test_only_a_draft_can_be_activated(db):
    from geo.errors import InvalidState

    gen = build_tiny_city(db)
    with pytest.raises(InvalidState):
        activate_generation(db, generation=gen)


def test_migration_0007_indexes_existing_reports(db):
    """Reports stored before the column existed get their H3 cell from the backfill."""
    import uuid

    import h3
    from alembic import command

    from geo.migrate import alembic_config, upgrade

    conn = db.connection()
    command.downgrade(alembic_config(connection=conn), "0006")
    ids = [uuid.uuid4(), uuid.uuid4()]
    points = [(122.07, 41.12), (116.41, 39.915)]
    reports = sa.table("reports", sa.column("id"), sa.column("category"), sa.column("source"), sa.column("status"),
                       sa.column("reported_at"), sa.column("location"), sa.column("description"))
    conn.execute(reports.insert().values([
        {"id": rid, "category": "10", "source": "citizen", "status": "registered", "reported_at": sa.func.now(),
         "location": sa.func.ST_SetSRID(sa.func.ST_MakePoint(lon, lat), 4326), "description": ""}
        for rid, (lon, lat) in zip(ids, points)
    ]))
    upgrade(connection=conn)
    got = dict(conn.execute(sa.text("SELECT id, h3_cell FROM reports WHERE id = ANY(:ids)"), {"ids": ids}).all())
    assert [format(got[rid], "x") for rid in ids] == [h3.latlng_to_cell(lat, lon, 10) for lon, lat in points]


def test_migration_0008_repairs_unreadable_times(db, tiny):
    """A reported_at stored before the rules (1 BC in UTC) is set to the registration time,
    the old value kept in a `repair` entry of the trail; then the constraint holds."""
    import uuid
    from datetime import UTC, datetime

    from alembic import command

    from geo.cityconfig import load_city_config
    from geo.migrate import alembic_config, upgrade
    from geo.models import ReportSource
    from geo.reports.intake import ReportInput
    from geo.reports.registration import submit_report

    rid = uuid.uuid4()
    submit_report(db, item=ReportInput(id=rid, category="30", description="old", source=ReportSource.citizen,
                                       x=116.405, y=39.915, reported_at=datetime.now(UTC)),
                  config=load_city_config(), now=datetime.now(UTC))
    conn = db.connection()
    command.downgrade(alembic_config(connection=conn), "0007")
    conn.execute(sa.text("UPDATE reports SET reported_at = '0001-01-01 00:00:00+14' WHERE id = :id"), {"id": rid})
    upgrade(connection=conn)
    at, created = conn.execute(sa.text("SELECT reported_at, created_at FROM reports WHERE id = :id"), {"id": rid}).one()
    assert at == created
    repair = conn.execute(sa.text("SELECT data->>'reported_at_was' FROM report_events WHERE report_id = :id "
                                  "AND action = 'repair'"), {"id": rid}).scalar_one()
    assert "BC" in repair


def test_migration_0009_and_the_loader_store_public_cells(db, small_city):
    """Sensitive reports get the H3 cell of their public location, the others none: from the
    demo loader, from intake, and from the migration for reports stored before it."""
    import uuid

    import h3
    from alembic import command

    from geo.access.privacy import coarse_point
    from geo.migrate import alembic_config, upgrade

    conn = db.connection()
    loaded = conn.execute(sa.text(
        "SELECT category, ST_X(location), ST_Y(location), public_cell FROM reports "
        "WHERE category IN ('10', '30') ORDER BY id LIMIT 200")).all()
    for category, lon, lat, public in loaded:
        if category == "10":
            c = coarse_point(lon, lat)
            assert format(public, "x") == h3.latlng_to_cell(c[1], c[0], 10)
        else:
            assert public is None
    command.downgrade(alembic_config(connection=conn), "0008")
    rid = uuid.uuid4()
    conn.execute(sa.text(
        "INSERT INTO reports (id, category, source, status, reported_at, location, h3_cell, description) VALUES "
        "(:id, '40', 'citizen', 'registered', now(), ST_SetSRID(ST_MakePoint(122.0733, 41.1207), 4326), "
        "CAST(x'08a2a1072b59ffff' AS bigint), '')"), {"id": rid})
    upgrade(connection=conn)
    public = conn.scalar(sa.text("SELECT public_cell FROM reports WHERE id = :id"), {"id": rid})
    c = coarse_point(122.0733, 41.1207)
    assert format(public, "x") == h3.latlng_to_cell(c[1], c[0], 10)


def test_sensitive_constraint_lists_the_sensitive_categories():
    """The CHECK spells the categories out (DDL); it must name exactly the ones geo.access.privacy hides."""
    import re

    from geo.models import Report
    from geo.reports.categories import SENSITIVE_CATEGORIES

    ck = next(c for c in Report.__table__.constraints if c.name == "ck_reports_sensitive_has_public_cell")
    assert set(re.findall(r"'(\d+)'", str(ck.sqltext))) == SENSITIVE_CATEGORIES
