"""Meta-tests: every built-in check kind is documented in docs/checks.md and exercised by a test."""

import ast
from pathlib import Path

import pytest

from checks.core.registry import get_registry

ROOT = Path(__file__).resolve().parents[2]
KINDS = sorted(get_registry(load_plugins=False).kinds)


@pytest.mark.parametrize("kind", KINDS)
def test_kind_is_documented(kind):
    doc = (ROOT / "docs" / "checks.md").read_text()
    assert f"## `{kind}`" in doc, f"docs/checks.md has no section for kind {kind!r}"


@pytest.mark.parametrize("kind", KINDS)
def test_kind_has_a_docstring(kind):
    assert len(get_registry(load_plugins=False).kinds[kind].doc) > 40


def _calls(tree: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name for n in ast.walk(tree))


@pytest.mark.parametrize("kind", KINDS)
def test_kind_is_tested(kind):
    """tests/checks/test_<kind>_kind.py exists, imports the kind's function from its module, calls it, and
    holds tests: deleting the kind's tests, or leaving a module that never runs it, fails here."""
    run = get_registry(load_plugins=False).kinds[kind].run
    path = ROOT / "tests" / "checks" / f"test_{kind}_kind.py"
    assert path.is_file(), f"no {path.relative_to(ROOT)}: add one that runs kind {kind!r} against its stand-ins"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = {
        alias.name
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and n.module == run.__module__
        for alias in n.names
    }
    assert run.__name__ in imported, f"{path.name} does not import {run.__name__} from {run.__module__}"
    assert _calls(tree, run.__name__), f"{path.name} never calls {run.__name__}(params, ctx)"
    tests = [n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]
    assert tests, f"{path.name} holds no test"
