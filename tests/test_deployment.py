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
