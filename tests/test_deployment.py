"""What users with Docker and newcomers with make read: the compose file, the image and the
Makefile's help say and do what the README says (there is no Docker engine here to run them)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_the_database_is_healthy_only_when_it_takes_connections():
    db = compose()["services"]["db"]
    # Over TCP: the image's first-init server listens on its socket only.
    assert " -h " in db["healthcheck"]["test"][-1]
    assert db["image"].endswith("postgis/postgis:15-3.4}") and "GRIDMAP_POSTGIS_IMAGE" in db["image"]


def test_app_and_demo_share_one_image_and_the_app_restarts():
    services = compose()["services"]
    app, demo = services["app"], services["demo"]
    assert app["image"] == demo["image"] and app["build"] == demo["build"] == "."
    assert app["restart"] in ("unless-stopped", "always", "on-failure")
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert "gridmap db migrate" in app["command"][-1] and "gridmap demo load" in demo["command"][-1]


def test_the_readme_names_the_published_database_port():
    port = re.search(r"127\.0\.0\.1:\$\{GRIDMAP_DB_PORT:-(\d+)\}:5432", str(compose()["services"]["db"]["ports"]))
    readme = (REPO / "README.md").read_text()
    assert port and f"postgresql+psycopg://gridmap:gridmap@127.0.0.1:{port.group(1)}/gridmap" in readme
    assert "imresamu/postgis" in readme and "amd64" in readme


def test_the_image_points_the_app_at_its_assets_and_leaves_media_out():
    dockerfile = (REPO / "Dockerfile").read_text()
    workdir = re.findall(r"^WORKDIR (\S+)", dockerfile, flags=re.M)[-1]
    assert re.search(r"^COPY --from=assets /src/node_modules node_modules$", dockerfile, flags=re.M)
    assert f"GRIDMAP_MAP_ASSETS_DIR={workdir}/node_modules" in dockerfile
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {"media", ".venv", "node_modules", ".git"} <= set(ignored)


def test_make_help_lists_every_target():
    makefile = (REPO / "Makefile").read_text()
    targets = re.search(r"^\.PHONY: (.*)$", makefile, flags=re.M).group(1).split()
    shown = subprocess.run(["make", "-s", "help"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    listed = set(re.findall(r"^\s+make (\S+)", shown, flags=re.M))
    assert set(targets) - {"help"} <= listed, f"make help leaves out {set(targets) - {'help'} - listed}"
    assert "ruff" in shown and "Chromium" in shown and "delete .venv, node_modules" in shown


def memory_plan(ram_mb: int, cpus: int, ssd: int, connections: int = 100) -> dict[str, str]:
    """scripts/lib.sh's pg_memory_plan for a machine of these figures, as {setting: value}."""
    shown = subprocess.run(
        ["bash", "-c", f'. scripts/lib.sh && pg_memory_plan {ram_mb} {cpus} {ssd} {connections}'],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout
    return dict(line.split(" = ", 1) for line in shown.splitlines())


def test_postgres_memory_is_sized_from_the_machine():
    plan = memory_plan(24 * 1024, 2, 0)
    assert plan["shared_buffers"] == "6GB" and plan["effective_cache_size"] == "17203MB"
    assert plan["work_mem"] == "61MB" and plan["maintenance_work_mem"] == "1536MB"
    assert plan["max_wal_size"] == "4GB" and plan["wal_compression"] == "pglz"
    assert plan["max_parallel_workers_per_gather"] == "1" and plan["random_page_cost"] == "4"
    big = memory_plan(256 * 1024, 32, 1)
    # Capped: past 8 GB of shared buffers the kernel's page cache does as well.
    assert big["shared_buffers"] == "8GB" and big["maintenance_work_mem"] == "2GB"
    assert big["work_mem"] == "64MB" and big["max_parallel_workers_per_gather"] == "4"
    assert big["random_page_cost"] == "1.1" and big["effective_io_concurrency"] == "200"
    small = memory_plan(1024, 1, 1)
    assert small["shared_buffers"] == "256MB" and small["work_mem"] == "4MB"
    assert small["max_parallel_workers_per_gather"] == "0" and small["max_wal_size"] == "1GB"


def test_only_a_cluster_the_setup_created_is_tuned_and_restarted():
    script = (REPO / "scripts" / "pg-memory.sh").read_text()
    setup = (REPO / "scripts" / "ensure-postgis.sh").read_text()
    assert "tune_postgres_memory" in setup and "created=1" in setup
    # Ownership is the marker file's first line; a restart only for a cluster the script created.
    assert "# gridmap-owner: %s" in script and 'if [ "$owner" = created ]' in script
    assert 'restart' in script.split('if [ "$owner" = created ]')[1].split("else")[0]
