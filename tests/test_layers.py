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


PACKAGES = ("geo", "api", "maps", "cli", "fixtures")
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in (REPO / package).rglob("*.py")
            if "versions" not in p.parts}


def import_time_imports(path: Path, known: set[str]) -> set[str]:
    """The project modules a module imports when it is imported: module scope only (an import
    inside a function runs later, one under ``if TYPE_CHECKING`` never)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()

    def visit(body):
        for node in body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.update(f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                             for a in node.names)
            elif isinstance(node, (ast.If, ast.Try, ast.With)):
                for field in ("body", "orelse", "finalbody", "handlers"):
                    for child in getattr(node, field, []):
                        visit(child.body if isinstance(child, ast.ExceptHandler) else [child])

    visit(tree.body)
    return {name for name in found if name in known}


def test_no_module_imports_itself_through_a_loop():
    known = modules()
    graph = {name: import_time_imports(path, set(known)) - {name} for name, path in known.items()}
    # Tarjan's strongly connected components: any component of two or more is a loop.
    index, low, stack, on_stack, loops = {}, {}, [], set(), []

    def strongconnect(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                loops.append(sorted(component))

    for v in graph:
        if v not in index:
            strongconnect(v)
    assert not loops, loops


def test_the_loop_finder_sees_a_loop(tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("import b\n")
    b.write_text("from a import x\n")
    assert import_time_imports(a, {"a", "b"}) == {"b"}
    assert import_time_imports(b, {"a", "b"}) == {"a"}


def test_no_module_is_over_the_size_that_asks_to_be_split():
    long = {name: n for name, path in modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, long
