"""The layers stay layered: geo/ (domain and data) imports no web, map or CLI code, maps/
(map builders) no web code and nothing that queries, so importing maps loads no SQLAlchemy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FORBIDDEN = {"geo": ("api", "maps", "cli"), "maps": ("api", "cli"), "api": ("cli",)}


def imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_lower_layer_imports_a_higher_one():
    wrong = []
    for package, higher in FORBIDDEN.items():
        for path in (REPO / package).rglob("*.py"):
            wrong += [f"{path.relative_to(REPO)} imports {name}" for name in imported(path)
                      if name.split(".")[0] in higher]
    assert not wrong, wrong


def test_importing_maps_loads_no_sql():
    code = ("import importlib, pkgutil, sys, maps\n"
            "for m in pkgutil.iter_modules(maps.__path__): importlib.import_module('maps.' + m.name)\n"
            "print(sorted(k for k in sys.modules if k.split('.')[0] in ('sqlalchemy', 'geoalchemy2', 'psycopg')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
