"""The house's rules, checked on the import graph: CI fails when an arrow goes the wrong way.

The layers, the vault's independence and what only the shell may compose are import-linter contracts in
pyproject.toml (``lint-imports`` runs them here). What import-linter does not say is checked directly on
the same graph (grimp): no import cycle between any two modules, no module importing its own package's
``__init__``, and what importing the engine's core actually loads. docs/architecture.md draws the rules.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("checks", "vault", "dashboard")


def ignored_imports() -> list[tuple[str, str]]:
    """The imports the layers contract excuses, each with its reason in pyproject.toml (one list, not two)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in config["contracts"] if c["id"] == "checks-layers")
    return [tuple(part.strip() for part in line.split("->")) for line in layers.get("ignore_imports", [])]


@cache
def graph() -> grimp.ImportGraph:
    # TYPE_CHECKING imports are annotations only: they never run, so they cannot make a cycle at import time.
    g = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True, cache_dir=None)
    for importer, imported in ignored_imports():
        g.remove_import(importer=importer, imported=imported)
    return g


def cycles(g: grimp.ImportGraph) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan, iteratively)."""
    modules = sorted(g.modules)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in modules:
        if start in index:
            continue
        work = [(start, iter(sorted(g.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in g.modules:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(g.find_modules_directly_imported_by(child)))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_the_import_contracts_hold():
    """lint-imports: layers in checks/, the vault standing alone, only the shell composing, a light core.

    In its own process: import-linter configures logging (``dictConfig``), which would switch off the loggers
    other tests read."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from importlinter.cli import lint_imports_command; lint_imports_command()",
            "--config",
            str(ROOT / "pyproject.toml"),
            "--no-cache",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_no_import_cycles_between_modules():
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    """The check above can fail: a graph with a two-module cycle and a self-standing module."""
    g = grimp.ImportGraph()
    for name in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        g.add_module(name)
    g.add_import(importer="pkg.a", imported="pkg.b")
    g.add_import(importer="pkg.b", imported="pkg.a")
    g.add_import(importer="pkg.c", imported="pkg.a")
    assert cycles(g) == [["pkg.a", "pkg.b"]]


def test_no_module_imports_from_its_own_package_init():
    g = graph()
    offenders = []
    for module in sorted(g.modules):
        parent = module.rpartition(".")[0]
        while parent:
            if g.direct_import_exists(importer=module, imported=parent):
                offenders.append(f"{module} -> {parent}")
            parent = parent.rpartition(".")[0]
    assert offenders == []


@pytest.mark.parametrize(
    ("statement", "absent"),
    [
        (
            "import checks.core.runner, checks.core.verdict, checks.core.registry",
            ("vault.store", "sqlalchemy", "pandas"),
        ),
        ("import checks", ("vault.store", "sqlalchemy", "pandas", "streamlit", "plotly")),
        ("import vault.errors, vault.redact", ("vault.store", "sqlalchemy")),
        # What every `readiness` call pays before its command runs (issue 13: start-up).
        (
            "import checks.shell.cli",
            ("vault.store", "sqlalchemy", "alembic", "pandas", "pyarrow", "plotly", "streamlit", "httpx", "pydantic"),
        ),
    ],
)
def test_importing_the_engine_loads_no_storage(statement, absent):
    """What a plugin or a notebook pays for importing the engine: no vault storage, no ORM, no pandas."""
    loaded = f"sorted(m for m in sys.modules if m.split('.')[0] in {absent!r} or m in {absent!r})"
    code = f"import sys; {statement}; print({loaded})"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"{statement} loaded {done.stdout.strip()}"


def test_no_module_grows_past_about_500_lines():
    """Small modules with one concept each: a file past this has two concepts in it; split it on the seam."""
    limit = 520
    long = {
        str(path.relative_to(ROOT)): n
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "versions" not in path.parts and (n := len(path.read_text().splitlines())) > limit
    }
    assert long == {}
