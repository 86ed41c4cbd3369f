"""Meta-tests: every built-in check kind is documented in docs/checks.md and exercised by a test."""

from pathlib import Path

import pytest

from checks.registry import get_registry

ROOT = Path(__file__).resolve().parents[2]
KINDS = sorted(get_registry(load_plugins=False).kinds)


@pytest.mark.parametrize("kind", KINDS)
def test_kind_is_documented(kind):
    doc = (ROOT / "docs" / "checks.md").read_text()
    assert f"## `{kind}`" in doc, f"docs/checks.md has no section for kind {kind!r}"


@pytest.mark.parametrize("kind", KINDS)
def test_kind_has_a_docstring(kind):
    assert len(get_registry(load_plugins=False).kinds[kind].doc) > 40


@pytest.mark.parametrize("kind", KINDS)
def test_kind_is_tested(kind):
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    assert f'kind="{kind}"' in tests or f"kind = \"{kind}\"" in tests or f"test_{kind}_kind" in tests \
        or f"checks.builtin.{kind} import" in tests, f"no test names kind {kind!r}"
