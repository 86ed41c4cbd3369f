"""docs/cli.md documents every field of `readiness check --format json`, and no field it lacks."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from checks.core.run import EscalationHit
from tests.checks.test_terminal import readiness

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "cli.md"


def documented() -> dict[str, set[str]]:
    """The field names of each table under "## `--format json`", by its heading."""
    section = DOC.read_text().split("## `--format json`", 1)[1].split("\n## ", 1)[0]
    tables: dict[str, set[str]] = {}
    heading = ""
    for line in section.splitlines():
        if line.startswith("### "):
            heading = line[4:].strip()
        match = re.match(r"^\| `(\w+)` \|", line)
        if match:
            tables.setdefault(heading, set()).add(match.group(1))
    return tables


@pytest.fixture(scope="module")
def output(tmp_path_factory):
    proc = readiness("check", "--format", "json", "--no-record", cwd=tmp_path_factory.mktemp("json"))
    assert proc.returncode == 1, proc.stderr
    return json.loads(proc.stdout)


def test_the_readme_links_the_cli_doc_not_a_file_outside_the_repository():
    readme = (ROOT / "README.md").read_text()
    assert "../shared" not in readme
    assert "(docs/cli.md)" in readme


def test_documented_fields_are_the_real_outputs_keys(output):
    doc = documented()
    assert doc["The object"] == set(output)
    assert doc["`areas[]`"] == set().union(*(a.keys() for a in output["areas"]))
    assert doc["`results[]`"] == set().union(*(r.keys() for r in output["results"]))
    assert doc["`criteria[]`"] == set().union(*(c.keys() for c in output["criteria"]))
    # nothing escalates in a fresh history; the keys come from the same to_dict a real run uses
    hit = EscalationHit("rule", "item", datetime(2025, 10, 6, tzinfo=UTC), "Ada", "title", "text").to_dict()
    assert doc["`escalations[]`"] == set().union(hit, *(e.keys() for e in output["escalations"]))
    assert output["manifest_digest"].startswith("sha256:") and len(output["manifest_digest"]) == 7 + 64


def test_the_exit_codes_are_documented():
    text = DOC.read_text()
    for code, words in (("0", "GO or CONDITIONAL"), ("1", "NO-GO"), ("2", "could not be judged")):
        assert re.search(rf"\| \*\*{code}\*\* \|[^\n]*{words}", text), code
