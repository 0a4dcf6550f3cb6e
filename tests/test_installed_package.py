"""gridmap as the Docker image runs it: installed from its wheel (not the source tree), in a
working directory that holds npm's node_modules. The package must find its map assets, its
migrations and its data there, and a missing asset folder is a message, not a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The wheel built from this tree, installed (without dependencies: the test venv has them)
    into a folder of its own; returns that folder."""
    root = tmp_path_factory.mktemp("wheel")
    # Built from a copy: setuptools writes build/ and *.egg-info into the tree it builds.
    tree = root / "src"
    shutil.copytree(REPO, tree, symlinks=True, ignore=shutil.ignore_patterns(
        ".venv", "node_modules", ".git", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis",
        "media", "out", "tests", "bench"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(root / "dist"), str(tree)], check=True, cwd=root)
    (wheel,) = (root / "dist").glob("gridmap-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(root / "site"),
                    str(wheel)], check=True)
    return root / "site"


def gridmap(site: Path, cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    code = ("import sys, api, cli, geo, maps\n"
            f"assert all(m.__file__.startswith({str(site)!r}) for m in (api, cli, geo, maps)), 'not the wheel'\n"
            "from cli.main import main\nsys.argv[0] = 'gridmap'\nmain()")
    # PYTHONPATH comes before site-packages, and the editable install's finder comes last.
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(site), "COLUMNS": "200", **(env or {})})


def test_the_installed_package_finds_its_assets_in_the_working_directory(installed, tmp_path, database_url,
                                                                       small_city):
    app = tmp_path / "app"  # the image: WORKDIR /app, node_modules copied there
    app.mkdir()
    (app / "node_modules").symlink_to(REPO / "node_modules")
    env = {"GRIDMAP_DATABASE_URL": database_url}
    migrated = gridmap(installed, app, "db", "migrate", env=env)  # migrations ship inside the wheel
    assert migrated.returncode == 0, migrated.stderr
    r = gridmap(installed, app, "map", "command-center", "--out", "out/wall.html", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (app / "out" / "wall_files" / "leaflet" / "dist" / "leaflet.js").is_file()
    assert "leaflet.js" in (app / "out" / "wall.html").read_text()


def test_the_installed_app_serves_the_assets(installed, tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    (app / "node_modules").symlink_to(REPO / "node_modules")
    code = ("from maps.settings import MapSettings, missing_assets\n"
            "s = MapSettings()\nprint(s.assets_dir)\nassert missing_assets(s.assets_dir) is None\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=app, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(installed)})
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()) == app / "node_modules"


def test_missing_assets_are_a_message_not_a_traceback(installed, tmp_path, database_url, small_city):
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    r = gridmap(installed, empty, "map", "command-center", "--out", "wall.html",
                env={"GRIDMAP_DATABASE_URL": database_url})
    assert r.returncode == 1
    assert "Traceback" not in r.stderr + r.stdout
    assert "map assets" in r.stderr and "npm ci" in r.stderr and "GRIDMAP_MAP_ASSETS_DIR" in r.stderr
