"""gridmap tokens issue|list|revoke and gridmap audit, on the session's database (committed)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cli.main import app
from geo.access.tokens import ISSUED_MARK, principal_for
from geo.models import ApiToken, AuditEvent, ServerSecret


@pytest.fixture()
def cli_env(monkeypatch, database_url, small_city, engine):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "250")  # rich tables would otherwise elide columns
    yield
    with engine.begin() as conn:  # other tests (the browser's open demo server) expect no tokens
        conn.execute(sa.delete(ApiToken))
        conn.execute(sa.delete(ServerSecret).where(ServerSecret.name == ISSUED_MARK))


def run(*args):
    return CliRunner().invoke(app, list(args))


def test_issue_list_revoke_and_audit(cli_env, engine):
    from datetime import UTC, datetime

    from sqlalchemy.orm import Session

    r = run("tokens", "issue", "--role", "dispatcher", "--name", "王芳 (dispatch desk)")
    assert r.exit_code == 0, r.output
    token = re.search(r"^(gm_\S+)$", r.output, re.M).group(1)
    token_id = int(re.search(r"token (\d+) for", r.output).group(1))
    with Session(engine) as s:
        row = s.get(ApiToken, token_id)
        assert row.token_sha256 != token and token not in (row.prefix * 10)  # only the hash is kept
        p = principal_for(s, token=token, now=datetime.now(UTC))
        assert p is not None and p.role.value == "dispatcher" and "王芳" in p.holder
    listed = run("tokens", "list")
    assert listed.exit_code == 0 and "王芳" in listed.output and token not in listed.output
    assert run("tokens", "revoke", str(token_id)).exit_code == 0
    with Session(engine) as s:
        assert principal_for(s, token=token, now=datetime.now(UTC)) is None
    assert "王芳" not in run("tokens", "list").output and "王芳" in run("tokens", "list", "--all").output
    audit = run("audit", "--limit", "5")
    assert audit.exit_code == 0 and "token.revoke" in audit.output and "token.issue" in audit.output
    with Session(engine) as s:
        holders = s.scalars(sa.select(AuditEvent.holder).where(AuditEvent.subject_id == str(token_id),
                                                         AuditEvent.subject_type == "token")).all()
        assert holders and all(h.startswith("cli:") for h in holders)


def test_worker_and_system_tokens_name_their_holder(cli_env, engine):
    from geo.models import Worker

    with engine.connect() as conn:
        staff_no = conn.scalar(sa.select(Worker.staff_no).limit(1))
    assert run("tokens", "issue", "--role", "worker", "--name", "x").exit_code == 1  # no worker named
    r = run("tokens", "issue", "--role", "worker", "--name", "grid worker", "--worker", staff_no)
    assert r.exit_code == 0, r.output
    assert run("tokens", "issue", "--role", "system", "--name", "12345 hotline").exit_code == 1  # no system named
    r = run("tokens", "issue", "--role", "system", "--name", "12345 hotline", "--system", "hotline-12345",
            "--expires-days", "30")
    assert r.exit_code == 0 and "expires" in r.output
    r = run("tokens", "issue", "--role", "public", "--name", "x")
    assert r.exit_code == 1 and "use one of" in r.output
    assert run("tokens", "revoke", "999999").exit_code == 1


def test_a_system_key_may_send_gcj02(cli_env, engine):
    from sqlalchemy.orm import Session

    r = run("tokens", "issue", "--role", "system", "--name", "12345 hotline (Amap)", "--system", "hotline-amap",
            "--crs", "GCJ-02")
    assert r.exit_code == 0, r.output
    assert "positions in GCJ-02" in r.output
    token_id = int(re.search(r"token (\d+) for", r.output).group(1))
    with Session(engine) as s:
        assert s.get(ApiToken, token_id).crs == "gcj02"
    assert "gcj02" in run("tokens", "list").output
    for args in (("--role", "dispatcher", "--name", "desk", "--crs", "gcj02"),
                 ("--role", "system", "--name", "survey", "--system", "survey", "--crs", "EPSG:4547"),
                 ("--role", "system", "--name", "odd", "--system", "odd", "--crs", "mars")):
        bad = run("tokens", "issue", *args)
        assert bad.exit_code != 0 and "crs" in bad.output, bad.output
