"""Third-party check kinds through the ``readiness.checks`` entry-point group.

The test lays out real distributions (a module plus a ``*.dist-info`` with ``entry_points.txt``) in a
directory and puts it on ``sys.path``, so importlib.metadata discovers them as it would an installed wheel.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from checks.core.registry import get_registry
from checks.core.runner import run_checks
from checks.core.status import Status
from tests.checks.helpers import check_block, make_manifest

GOOD = '''
from pydantic import BaseModel, ConfigDict
from checks.core.hookspecs import check_kind
from checks.core.result import Result

class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    greeting: str

@check_kind("hello", params=Params)
async def hello(params, ctx):
    """Says hello back: passes when the greeting is polite."""
    if params.greeting == "hello":
        return Result.passed("polite")
    return Result.failed(f"impolite greeting {params.greeting!r}")
'''


def make_dist(root: Path, dist: str, module: str, source: str, entry: str) -> None:
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"  # wheel naming: no dash in the name part
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[readiness.checks]\n{entry}\n")
    (info / "RECORD").write_text("")


@pytest.fixture
def plugin_path(tmp_path, monkeypatch):
    make_dist(tmp_path, "readiness-hello", "readiness_hello", GOOD, "hello = readiness_hello")
    make_dist(
        tmp_path,
        "readiness-broken",
        "readiness_broken",
        "raise ImportError('needs libfoo')\n",
        "broken = readiness_broken",
    )
    make_dist(tmp_path, "readiness-empty", "readiness_empty", "X = 1\n", "empty = readiness_empty")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("readiness_hello", "readiness_broken", "readiness_empty"):
        sys.modules.pop(name, None)


def test_entry_point_kind_is_discovered_and_runs(plugin_path):
    reg = get_registry()
    assert "hello" in reg.kinds
    assert reg.kinds["hello"].source == "entry point hello (readiness-hello)"
    assert reg.kinds["hello"].doc.startswith("Says hello back")
    m = make_manifest(
        check_block("greet", kind="hello", greeting="hello"), check_block("rude", kind="hello", greeting="oi")
    )
    results = {r.id: r for r in asyncio.run(run_checks(m, registry=reg))}
    assert results["greet"].status is Status.PASS
    assert results["rude"].status is Status.FAIL


def test_broken_plugins_are_reported_not_fatal(plugin_path):
    reg = get_registry()
    failures = {f.name: f for f in reg.failures}
    assert "ImportError: needs libfoo" in failures["broken"].error
    assert failures["broken"].distribution == "readiness-broken"
    assert "defines no function marked" in failures["empty"].error
    assert {"env", "http", "manual", "hello"} <= set(reg.kinds)


def test_plugin_params_are_validated_with_field_path(plugin_path):
    from checks.core.errors import ManifestError

    m = make_manifest(check_block("greet", kind="hello", greting="typo"))
    with pytest.raises(ManifestError) as exc:
        get_registry().validate(m)
    text = str(exc.value)
    assert "checks[0].params.greting: unknown key" in text
    assert "checks[0].params.greeting: required field is missing" in text


def test_unknown_kind_names_the_field():
    from checks.core.errors import ManifestError

    m = make_manifest(check_block("x", kind="nope"))
    with pytest.raises(ManifestError, match=r"checks\[0\]\.kind: unknown check kind 'nope'"):
        get_registry(load_plugins=False).validate(m)


def test_readiness_plugins_command_lists_sources_and_failures(plugin_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_path), os.getcwd()]), "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-m", "checks.shell.cli", "plugins"], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert "hello" in proc.stdout and "entry point hello (readiness-hello)" in proc.stdout
    assert "builtin" in proc.stdout
    assert "failed broken" in proc.stdout and "needs libfoo" in proc.stdout


def test_importing_checks_builds_no_registry():
    code = (
        "import sys, checks, checks.core.hookspecs, checks.core.manifest, checks.core.registry; "
        "print(any(m.startswith('checks.builtin.') for m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "False", proc.stderr


def test_a_manifest_of_built_in_kinds_never_imports_a_plugin(plugin_path):
    """A plugin is imported when a check needs its kind (or `readiness plugins` lists them all), so a broken or
    slow plugin installed beside Readiness does not touch a manifest that does not use it."""
    reg = get_registry()
    m = make_manifest(check_block("x", kind="manual", pass_on=["approved"]))
    assert set(reg.validate(m)) == {"x"}
    assert reg.get("env").source == "builtin"
    assert not {"readiness_hello", "readiness_broken"} & set(sys.modules)

    greet = make_manifest(check_block("greet", kind="hello", greeting="hello"))
    assert set(reg.validate(greet)) == {"greet"}  # an unknown name reads the entry points, once
    assert "readiness_hello" in sys.modules
    assert reg.get("hello").source == "entry point hello (readiness-hello)"
    assert {f.name for f in reg.failures} == {"broken", "empty"}
