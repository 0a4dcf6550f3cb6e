"""`make fuzz`: a bounded schemathesis run over the published OpenAPI document.

Makes a throwaway database (next to GRIDMAP_DATABASE_URL's), loads the one-district test
city, serves the app on a free port and runs the schemathesis CLI twice against it, as the
public and with an admin token. Fails on any 5xx, an undocumented status code or content
type, or a response that breaks its documented schema. Prints what it ran; exits non-zero
when schemathesis found anything.

    .venv/bin/python scripts/fuzz.py [--examples N] [--max-time SECONDS]
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.serving import free_port, wait_healthy  # noqa: E402
from geo.migrate import upgrade  # noqa: E402
from geo.settings import DatabaseSettings  # noqa: E402

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=int(os.environ.get("GRIDMAP_FUZZ_EXAMPLES", "30")))
    ap.add_argument("--max-time", type=int, default=int(os.environ.get("GRIDMAP_FUZZ_MAX_TIME", "480")))
    args = ap.parse_args()

    base = make_url(DatabaseSettings().url)
    name = f"gridmap_fuzz_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        template = conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = 'gridmap_template'"))
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"' + (' TEMPLATE "gridmap_template"' if template else ""))
    url = base.set(database=name).render_as_string(hide_password=False)
    server = None
    try:
        upgrade(url=url)
        from fixtures.city import SMALL_CITY
        from fixtures.load import load_demo

        engine = sa.create_engine(url)
        load_demo(engine, spec=SMALL_CITY,
                  n_reports=3000)
        engine.dispose()
        token = "fuzz-" + secrets.token_urlsafe(16)
        port = free_port()
        env = {**os.environ, "GRIDMAP_DATABASE_URL": url, "GRIDMAP_STAFF_TOKENS": token,
               "GRIDMAP_RATE_ENABLED": "false", "GRIDMAP_ESCALATION_INTERVAL_S": "0",
               "GRIDMAP_MEDIA_DIR": tempfile.mkdtemp(prefix="gridmap-fuzz-media-")}
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning"], cwd=ROOT, env=env)
        root = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(root, 60, alive=lambda: server.poll() is None)
        except RuntimeError as exc:
            print(exc, file=sys.stderr)
            return 2
        st = str(Path(sys.executable).with_name("schemathesis"))
        failed = 0
        # From a scratch directory: schemathesis keeps a .schemathesis/ cache in its working
        # directory, which must not land in the repository.
        with tempfile.TemporaryDirectory(prefix="gridmap-fuzz-") as scratch:
            # The main document, then the OGC API – Features one (/ogc/api, OpenAPI 3.0), each
            # as the public and as an admin; the OGC routes are few and get a quarter of the time.
            runs = [(doc, who, headers, budget)
                    for doc, budget in (("openapi.json", args.max_time // 2), ("ogc/api", args.max_time // 4))
                    for who, headers in (("the public", []), ("an admin", ["-H", f"Authorization: Bearer {token}"]))]
            for doc, who, headers, budget in runs:
                # One worker: schemathesis' generator compiles code, and CPython 3.11's compiler
                # is not safe to call from two threads at once ("AST constructor recursion depth").
                cmd = [st, "run", f"{root}/{doc}", "--checks", CHECKS, "--max-examples", str(args.examples),
                       "--seed", "20261201", "--max-time", str(budget), "--workers", "1",
                       "--phases", "examples,coverage,fuzzing", "--suppress-health-check", "all", *headers]
                print(f"== fuzzing /{doc} as {who}: {args.examples} examples per operation", flush=True)
                rc = subprocess.call(cmd, cwd=scratch, env={**os.environ, "NO_COLOR": "1"})
                failed += rc != 0
        print("fuzz: " + ("FAILED" if failed else "no 5xx, every answer as documented"))
        return 1 if failed else 0
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
