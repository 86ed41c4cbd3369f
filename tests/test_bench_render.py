"""docs/benchmarks.md's figures come from the benchmarks' JSON (docs/bench/*.json), never from a hand edit."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bench_render", ROOT / "tests" / "bench" / "render.py")
assert _spec is not None and _spec.loader is not None
render = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(render)

PAGE = "# Benchmarks\n\nIntro line one\nline two.\n\n## Runner\n\nHand-written prose, kept.\n"
DOC = {
    "benchmark": "demo",
    "command": "python tests/bench/demo.py --quick",
    "settings": {"quick": True},
    "date": "2026-12-01",
    "commit": "abc1234",
    "figures": {"one": {"wall_s": {"min": 0.1, "median": 0.2, "max": 0.3}, "ratio": 1.5}},
    "notes": ["a|b"],
}


def test_the_committed_page_is_what_the_committed_json_renders_to():
    page = render.PAGE.read_text()
    assert render.START in page and render.END in page
    assert render.render(page, render.load()) == page, "run: python tests/bench/render.py"


def test_every_saved_benchmark_has_its_section():
    page = render.PAGE.read_text()
    for path in sorted(render.JSON_DIR.glob("*.json")):
        doc = json.loads(path.read_text())
        assert f"### `{path.stem}`" in page
        assert f"- command: `{doc['command']}`" in page


def test_a_figure_edited_by_hand_is_put_back():
    once = render.render(PAGE, {"demo": DOC})
    assert "| figures.one.wall_s | 0.1 | 0.2 | 0.3 | |" in once
    edited = once.replace("| 0.1 | 0.2 | 0.3 |", "| 0.1 | 0.15 | 0.3 |")
    assert render.render(edited, {"demo": DOC}) == once


def test_rendering_is_deterministic_and_keeps_the_prose():
    once = render.render(PAGE, {"demo": DOC, "aaa": {"command": "x", "settings": {}, "n": 3}})
    again = render.render(once, {"aaa": {"command": "x", "settings": {}, "n": 3}, "demo": DOC})
    assert again == once
    assert once.startswith("# Benchmarks\n\nIntro line one\nline two.\n\n" + render.START)
    assert once.endswith(render.END + "\n\n## Runner\n\nHand-written prose, kept.\n")
    assert once.index("### `aaa`") < once.index("### `demo`")


def test_any_json_shape_is_flattened_into_rows():
    out = render.render(PAGE, {"demo": DOC})
    assert "- command: `python tests/bench/demo.py --quick`" in out
    assert '- settings: `{"quick": true}`' in out
    assert "- date: 2026-12-01" in out and "- commit: abc1234" in out
    assert "| figures.one.ratio | | | | 1.5 |" in out
    assert '| notes | | | | ["a\\|b"] |' in out  # a pipe cannot break the table
    bare = render.render(PAGE, {"bare": {"x": {"y": {"z": 1}}}})
    assert "- settings: defaults" in bare and "| x.y.z | | | | 1 |" in bare
