"""gridmap backup and restore: a round trip of a tiny city with a photo into a fresh database
(from gridmap_template), counts and `demo verify` equal; what is refused, and why."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cli.main import app
from geo.backup import table_counts
from tests.conftest import TEMPLATE_DB, _admin_engine


@pytest.fixture()
def empty_database(database_url) -> Iterator[str]:
    """A new database from gridmap_template (PostGIS, no tables), dropped afterwards."""
    name = f"gridmap_test_restore_{uuid.uuid4().hex[:8]}"
    admin = _admin_engine(database_url)
    with admin.connect() as conn:
        quote = conn.dialect.identifier_preparer.quote
        conn.exec_driver_sql(f"CREATE DATABASE {quote(name)} TEMPLATE {quote(TEMPLATE_DB)}")
    try:
        yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {conn.dialect.identifier_preparer.quote(name)} WITH (FORCE)")
        admin.dispose()


@pytest.fixture()
def source(scratch_database, tmp_path, monkeypatch):
    """The scratch database holding the tiny city, two reports and a photo file."""
    from datetime import UTC, datetime

    from geo.cityconfig import load_city_config
    from geo.models import ReportSource
    from geo.reports.intake import ReportInput
    from geo.reports.registration import submit_report
    from geo.settings import CitySettings
    from tests.tiny_city import add_workers, build_tiny_city

    engine = sa.create_engine(scratch_database)
    config = load_city_config(CitySettings().config)
    with Session(engine) as session:
        build_tiny_city(session)
        add_workers(session)
        ids = []
        for i in range(2):
            item = ReportInput(id=uuid.uuid4(), category="30", subcategory="3001", description=f"垃圾 {i}",
                               source=ReportSource.citizen, x=116.405, y=39.915, accuracy_m=5,
                               reported_at=datetime.now(UTC))
            ids.append(submit_report(session, item=item, config=config, now=datetime.now(UTC)).report_id)
        session.commit()
    engine.dispose()
    media = tmp_path / "media"
    (media / str(ids[0])).mkdir(parents=True)
    (media / str(ids[0]) / "photo-1.jpg").write_bytes(b"\xff\xd8 not really a jpeg " * 100)
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", scratch_database)
    return scratch_database, media


def run(*args, env: dict | None = None):
    return CliRunner().invoke(app, list(args), env=env)


def said(r) -> str:
    """The output as one line (rich wraps at the terminal's width)."""
    return " ".join(r.output.split())


def counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return table_counts(conn)
    finally:
        engine.dispose()


def test_backup_and_restore_round_trip(source, empty_database, tmp_path):
    url, media = source
    out = tmp_path / "backup"
    r = run("backup", "--out", str(out), "--media-dir", str(media))
    assert r.exit_code == 0, r.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tables"] == counts(url)
    assert manifest["tables"]["reports"] == 2 and manifest["tables"]["areas"] > 0
    assert manifest["alembic_revision"] is not None
    photo = next(media.rglob("*.jpg"))
    assert manifest["media"] == [{"path": photo.relative_to(media).as_posix(), "bytes": photo.stat().st_size,
                                  "sha256": hashlib.sha256(photo.read_bytes()).hexdigest()}]
    assert make_url(manifest["source"]).password in (None, "***")  # never the password

    restored_media = tmp_path / "restored-media"
    r = run("restore", str(out), "--database-url", empty_database, "--media-dir", str(restored_media))
    assert r.exit_code == 0, r.output
    assert "every table's row count and the revision equal" in said(r)
    assert counts(empty_database) == counts(url)
    assert (restored_media / photo.relative_to(media)).read_bytes() == photo.read_bytes()
    verify = [run("demo", "verify", env={"GRIDMAP_DATABASE_URL": u}) for u in (url, empty_database)]
    assert verify[0].exit_code == verify[1].exit_code == 0
    assert verify[0].output == verify[1].output and "4 grid" in verify[0].output

    # The target now has tables, and the media folder files: refused without --force.
    again = run("restore", str(out), "--database-url", empty_database, "--media-dir", str(tmp_path / "m2"))
    assert again.exit_code == 1 and "not empty" in said(again)
    again = run("restore", str(out), "--database-url", empty_database, "--media-dir", str(restored_media), "--force")
    assert again.exit_code == 0, again.output
    assert counts(empty_database) == counts(url)


def test_refusals(source, empty_database, tmp_path):
    url, media = source
    used = tmp_path / "used"
    used.mkdir()
    (used / "something").write_text("x")
    r = run("backup", "--out", str(used), "--media-dir", str(media))
    assert r.exit_code == 1 and "not an empty folder" in said(r)
    r = run("restore", str(tmp_path), "--database-url", empty_database)
    assert r.exit_code == 1 and "manifest.json" in said(r)
    r = run("restore", str(tmp_path), "--database-url", "mysql://x@y/z")
    assert r.exit_code == 1 and "postgresql://" in said(r)
    with pytest.MonkeyPatch.context() as mp:  # a pg_dump that fails: nothing half-written stays
        mp.setattr("geo.backup.pg_tool", lambda name, server_major: "/bin/false")
        r = run("backup", "--out", str(tmp_path / "failed"), "--media-dir", str(media))
    assert r.exit_code == 1 and "pg_dump failed" in said(r)
    assert list((tmp_path / "failed").iterdir()) == []

    out = tmp_path / "backup"
    assert run("backup", "--out", str(out), "--media-dir", str(media)).exit_code == 0
    next((out / "media").rglob("*.jpg")).write_bytes(b"changed")
    r = run("restore", str(out), "--database-url", empty_database, "--media-dir", str(tmp_path / "m"))
    assert r.exit_code == 1 and "damaged" in said(r)
    assert counts(empty_database) == {}  # nothing was restored

    os.unlink(out / "manifest.json")
    r = run("restore", str(out), "--database-url", url)
    assert r.exit_code == 1 and "not a finished backup" in said(r)
