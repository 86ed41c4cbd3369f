"""Bad manifests get a clear error, never a crash: exit 2, one line naming the file, one indented line per
problem naming the field, no traceback, never exit 1 (NO-GO's code), and fast.

The named cases are the ones issue #9 found (a 4,301-digit integer, 500+ levels of nesting, a 2 MB string,
``schema = 999``, ``timeout_s = inf``); the property test mutates the default manifest at random.
"""

from __future__ import annotations

import copy
import hashlib
import re
import subprocess
import sys
import time
import tomllib
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from checks.core.errors import ManifestError
from checks.core.manifest_load import load_manifest, parse_manifest
from checks.shell.cli import app
from tests.checks.test_manifest import dump

ROOT = Path(__file__).resolve().parents[2]
TEXT = (ROOT / "readiness.toml").read_text(encoding="utf-8")
DATA = tomllib.loads(TEXT)
SLOW = 5.0
"""Seconds a refusal may take in-process (on a loaded shared machine; typically milliseconds to 0.4 s)."""


def refused(text: str) -> ManifestError:
    started = time.perf_counter()
    with pytest.raises(ManifestError) as info:
        parse_manifest(text, source="bad.toml")
    assert time.perf_counter() - started < SLOW
    return info.value


def with_setting(line: str) -> str:
    return TEXT.replace("timeout_s = 10.0", line, 1)


# --- the cases issue #9 names ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "field", "says"),
    [
        (with_setting("timeout_s = " + "9" * 4301), "settings.timeout_s", "thousands of digits"),
        (with_setting("timeout_s = " + "9" * 30), "settings.timeout_s", "must fit in 64 bits"),
        (with_setting("timeout_s = " + "[" * 600 + "]" * 600), "line ", "nested more than 16 levels"),
        (with_setting("timeout_s = " + "{a=" * 600 + "1" + "}" * 600), "line ", "nested more than 16 levels"),
        (with_setting("x" + ".x" * 100_000 + " = 1"), "line ", "dotted key of more than 16 parts"),
        (with_setting("timeout_s = [" + "1," * 200_000 + "]"), "line ", "more than the 1000 entries"),
        (TEXT.replace('story = "', 'story = "' + "x" * 20_000, 1), "release.story", "more than the 10000"),
        (TEXT + '\n[x]\ny = "' + "x" * 2_000_000 + '"\n', "", "larger than 1024 KiB"),
        (TEXT.replace("schema = 1", "schema = 999", 1), "schema", "this readiness reads schema 1"),
        (TEXT.replace("schema = 1", 'schema = "1"', 1), "schema", "this readiness reads schema 1"),
        (with_setting("timeout_s = inf"), "settings.timeout_s", "not a finite number"),
        (with_setting("timeout_s = nan"), "settings.timeout_s", "not a finite number"),
        (with_setting("timeout_s = 1e9"), "settings.timeout_s", "less than or equal to 300"),
        (with_setting("timeout_s = 0"), "settings.timeout_s", "greater than 0"),
        (TEXT.replace('kind = "manual"', 'kind = "manual"\ntimeout_s = inf', 1), "checks[0].timeout_s", "finite"),
        (TEXT.replace('kind = "manual"', 'kind = "manual"\ntimeout_s = 301', 1), "checks[0].timeout_s", "300"),
        ("[[a]]\n" * 30_000, "line 20001", "more than the 20000 keys"),
    ],
    ids=[
        "int-4301-digits",
        "int-30-digits",
        "arrays-600-deep",
        "inline-tables-600-deep",
        "dotted-key-100k-parts",
        "array-200k-entries",
        "string-20k",
        "file-2MB",
        "schema-999",
        "schema-string",
        "timeout-inf",
        "timeout-nan",
        "timeout-1e9",
        "timeout-0",
        "check-timeout-inf",
        "check-timeout-301",
        "30k-tables",
    ],
)
def test_hostile_manifest_is_refused_fast_naming_the_field(text, field, says):
    err = refused(text)
    rendered = str(err)
    assert rendered.startswith("bad.toml: invalid manifest")
    assert any(f.startswith(field) and says in m for f, m in err.problems), err.problems
    assert len(rendered) < 2_000


def test_a_file_over_the_cap_is_not_even_read_whole(tmp_path):
    big = tmp_path / "big.toml"
    with big.open("wb") as f:
        f.truncate(64 * 1024 * 1024)  # sparse: 64 MiB of zeros
    started = time.perf_counter()
    with pytest.raises(ManifestError, match="larger than 1024 KiB"):
        load_manifest(big)
    assert time.perf_counter() - started < SLOW


def test_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(TEXT.replace('story = "', 'story = "caf\xe9 ', 1).encode("latin-1"))
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    ((field, message),) = info.value.problems
    assert field.startswith("line ") and "not UTF-8" in message


def test_control_characters_cannot_forge_lines_or_escape_sequences():
    text = TEXT.replace("[settings]", '[settings]\n"evil\\n  forged: ok\\u001b[31m" = 1', 1)
    rendered = str(refused(text))
    assert rendered.count("\n") == 1 and "\x1b" not in rendered
    assert "evil\\n  forged: ok\\x1b[31m" in rendered


def test_the_default_manifest_is_within_every_limit():
    m = parse_manifest(TEXT)  # refused (ManifestError) if any limit were below what it holds
    assert m.digest == "sha256:" + hashlib.sha256(TEXT.encode()).hexdigest()
    assert [c.id for c in m.checks] == [c["id"] for c in DATA["checks"]], "every check kept, none cut"
    assert [e.name for e in m.env] == [e["name"] for e in DATA["env"]]


# --- the property: any mutation of the default manifest is accepted or refused cleanly -------------

KEYS = st.text(min_size=1, max_size=12)
LEAF = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=40),
    st.builds(str.__mul__, st.sampled_from(["x", "\u00e9", "\U0001f600", "\\", '"', "\n"]), st.integers(5_000, 12_000)),
    st.dates(min_value=date(1, 1, 1)),
)


def _nested(depth: int, inner: Any, as_table: bool) -> Any:
    for _ in range(depth):
        inner = {"k": inner} if as_table else [inner]
    return inner


VALUES = st.one_of(
    LEAF,
    st.lists(LEAF, max_size=4),
    st.dictionaries(KEYS, LEAF, max_size=3),
    st.builds(_nested, st.integers(1, 300), LEAF, st.booleans()),
    st.builds(lambda n: list(range(n)), st.integers(900, 1_500)),
)


def _containers(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    node = doc
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(v, dict | list):
                out += _containers(v, (*path, k))
    elif isinstance(node, list):
        for n, v in enumerate(node):
            if isinstance(v, dict | list):
                out += _containers(v, (*path, n))
    return out


CONTAINERS = _containers(DATA)


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """The default manifest with one to three mutations, as TOML text (sometimes cut short or garbled)."""
    doc = copy.deepcopy(DATA)
    for _ in range(draw(st.integers(1, 3))):
        try:
            parent = _at(doc, draw(st.sampled_from(CONTAINERS)))
        except (KeyError, IndexError, TypeError):  # an earlier mutation removed or replaced it
            continue
        if not isinstance(parent, dict | list):
            continue
        keys = list(parent) if isinstance(parent, dict) else list(range(len(parent)))
        if not keys:
            continue
        key = draw(st.sampled_from(keys))
        action = draw(st.sampled_from(["delete", "replace", "replace", "add"]))
        if action == "delete":
            del parent[key]
        elif action == "replace":
            parent[key] = draw(VALUES)
        elif isinstance(parent, dict):
            parent[draw(KEYS)] = draw(VALUES)
        else:
            parent.append(draw(VALUES))
    text = dump(doc)
    garble = draw(st.sampled_from(["none", "none", "truncate", "insert", "bigint"]))
    numbers = [m.start(1) for m in re.finditer(r"= (\d+)\b", text)]
    if garble == "bigint" and numbers:  # built as text: repr() itself refuses ints over 4,300 digits
        at = draw(st.sampled_from(numbers))
        text = text[:at] + "9" * draw(st.integers(4_000, 5_000)) + text[at:]
    elif garble == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
    elif garble == "insert":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.text(min_size=1, max_size=20)) + text[at:]
    return text


def _dump_safe(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


@settings(
    max_examples=80,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(text=mutated())
def test_any_mutation_of_the_default_manifest_validates_or_exits_2_cleanly(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "m.toml"
    path.write_bytes(_dump_safe(text))
    started = time.perf_counter()
    result = CliRunner().invoke(app, ["validate", "--manifest", str(path)])
    elapsed = time.perf_counter() - started
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 2), (result.exit_code, result.output[-500:])
    assert "Traceback" not in result.output
    assert elapsed < SLOW, (f"{elapsed:.1f}s", text[:300], len(text))
    if result.exit_code == 2:
        first, *rest = result.stderr.rstrip("\n").split("\n")
        assert first.startswith((f"{path}: invalid manifest", "error: ")), first
        assert all(line.startswith("  ") for line in rest), rest[:3]


# --- a few through the real console script --------------------------------------------------------


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "checks.shell.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("name", "text", "field"),
    [
        ("bigint", with_setting("timeout_s = " + "9" * 5000), "thousands of digits"),
        ("deep", with_setting("timeout_s = " + "[" * 600 + "]" * 600), "nested more than 16"),
        ("huge-string", TEXT + '\n[x]\ny = "' + "x" * 2_000_000 + '"\n', "larger than 1024 KiB"),
        ("schema", TEXT.replace("schema = 1", "schema = 999", 1), "schema: unsupported manifest schema 999"),
        ("timeout", with_setting("timeout_s = inf"), "settings.timeout_s: inf is not a finite number"),
    ],
)
@pytest.mark.parametrize("command", [["validate"], ["check", "--no-record"]])
def test_console_script_exits_2_with_the_field_and_no_traceback(tmp_path, name, text, field, command):
    (tmp_path / "bad.toml").write_text(text, encoding="utf-8")
    started = time.perf_counter()
    proc = _run(*command, "--manifest", "bad.toml", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    first, *rest = proc.stderr.rstrip("\n").split("\n")
    assert first == "bad.toml: invalid manifest (1 problem(s))"
    assert len(rest) == 1 and rest[0].startswith("  ") and field in rest[0]
    assert time.perf_counter() - started < 60  # the interpreter's start included
