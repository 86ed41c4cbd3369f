"""What `readiness check`, `history` and `--help` print piped into a CI log (80 columns) and wide (160).

The real CLI in a subprocess, stdout piped, on the default manifest with nothing configured (NO-GO).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from checks.core.result import CheckResult, Result
from checks.core.run import Decision, Run, Verdict
from checks.core.status import Severity, Status
from checks.presentation.terminal import verdict_line

ROOT = Path(__file__).resolve().parents[2]
OLD_TABLE_LINES = 461  # the rich table this layout replaced, at 80 columns


def readiness(*args: str, cwd: Path, columns: int = 80) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GOOGLE_", "MICROSOFT_", "RETELL_", "TWILIO_", "TOKEN_VAULT_", "GHL_", "READINESS_"))
        and k not in ("COLUMNS", "LINES", "FORCE_COLOR", "TERMINAL_WIDTH")
    }
    base["READINESS_FINGERPRINT_KEY"] = "tests-fingerprint-key-not-a-secret"
    return subprocess.run(
        [sys.executable, "-m", "checks.shell.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**base, "COLUMNS": str(columns)},
        timeout=180,
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("terminal")  # no readiness.toml: the embedded STORY-ONB-05 manifest


@pytest.fixture(scope="module")
def doc(workdir):
    proc = readiness("check", "--format", "json", "--no-record", cwd=workdir)
    assert proc.returncode == 1, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module", params=[80, 160], ids=["80-columns", "160-columns"])
def table(request, workdir):
    proc = readiness("check", "--no-record", cwd=workdir, columns=request.param)
    assert proc.returncode == 1, proc.stderr
    return request.param, proc.stdout


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def _whole(word: str, text: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(word)}(?![\w.])", text) is not None


def test_no_line_is_wider_than_the_terminal(table):
    columns, out = table
    wide = [line for line in out.splitlines() if len(line) > columns]
    assert not wide, wide[:5]


def test_every_check_id_appears_whole(table, doc):
    _, out = table
    missing = [r["id"] for r in doc["results"] if not _whole(r["id"], out)]
    assert not missing, missing
    assert "…" not in out


def test_every_summary_is_printed_whole_and_as_written(table, doc):
    _, out = table
    flat = _flat(out)
    cut = [r["id"] for r in doc["results"] if _flat(r["summary"]).strip() not in flat]
    assert not cut, cut
    scopes = next(r for r in doc["results"] if r["id"] == "oauth.microsoft.scopes")
    assert "[oauth_apps.microsoft]" in scopes["summary"]
    assert "[oauth_apps.microsoft]" in out  # not eaten as rich markup


def test_the_verdict_line_counts_the_open_blocking_checks(table, doc):
    _, out = table
    blocking = [r for r in doc["results"] if r["severity"] == "blocking"]
    gaps = [r for r in blocking if r["status"] not in ("pass", "warn")]
    assert len(gaps) == len(blocking) == 17  # nothing configured: every blocking check is open
    assert "NO-GO: 17 of 17 blocking checks open" in out.splitlines()
    for r in gaps:
        assert _whole(r["id"], out.split("NO-GO: 17 of 17")[1]), r["id"]  # listed under the verdict


def test_compact_grouped_by_area(table, doc):
    columns, out = table
    lines = out.splitlines()
    assert len(lines) < 200 if columns == 80 else len(lines) < 150, len(lines)
    assert len(lines) < OLD_TABLE_LINES / 2
    headings = [a["title"] for a in doc["areas"]]
    positions = [next(i for i, line in enumerate(lines) if line.startswith(title)) for title in headings]
    assert positions == sorted(positions)
    first = next(i for i, line in enumerate(lines) if re.search(r"\benv\.GOOGLE_OAUTH_CLIENT_ID  ", line))
    assert re.match(r"^  FAIL +env\.GOOGLE_OAUTH_CLIENT_ID  \(blocking\)$", lines[first]), lines[first]
    assert "GOOGLE_OAUTH_CLIENT_ID is not set" in lines[first + 1]


def test_history_newest_first_with_whole_ids_and_dates(tmp_path):
    for _ in range(2):
        proc = readiness("check", "--only", "env.GOOGLE_OAUTH_CLIENT_ID", "--format", "json", cwd=tmp_path)
        assert proc.returncode == 1, proc.stderr
    runs = json.loads(readiness("history", "--format", "json", cwd=tmp_path).stdout)
    assert len(runs) == 2
    older, newer = runs  # the JSON rows stay oldest first
    out = readiness("history", cwd=tmp_path).stdout
    assert all(len(line) <= 80 for line in out.splitlines()), out
    assert _whole(newer["run_id"], out) and _whole(older["run_id"], out)
    assert out.index(newer["run_id"]) < out.index(older["run_id"])
    started = datetime.fromisoformat(newer["started_at"].replace("Z", "+00:00")).astimezone(UTC)
    assert started.strftime("%Y-%m-%d %H:%M") in out
    one = readiness("history", "--check", "env.GOOGLE_OAUTH_CLIENT_ID", cwd=tmp_path).stdout
    assert one.index(newer["run_id"]) < one.index(older["run_id"])
    assert "GOOGLE_OAUTH_CLIENT_ID is not set" in _flat(one)


@pytest.mark.parametrize(
    ("args", "usage"),
    [
        ([], "checks.shell.cli [OPTIONS] COMMAND [ARGS]..."),  # `python -m checks.shell.cli`: the console script's name
        (["check"], "checks.shell.cli check [OPTIONS]"),
        (["attest"], "checks.shell.cli attest [OPTIONS] ITEM STATUS"),
        (["vault", "get"], "checks.shell.cli vault get [OPTIONS] TENANT CREDENTIAL_ID"),
    ],
    ids=["readiness", "check", "attest", "vault-get"],
)
def test_help_reads_the_ordinary_way(tmp_path, args, usage):
    proc = readiness(*args, "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert usage in out
    assert not re.search(r"<(bool|str|int|path|list\[str\])>", out), out
    assert not re.search(r"\{[a-z_]+\}", out), out
    assert all(len(line) <= 80 for line in out.splitlines())
    if args == ["check"]:
        assert "--no-record " in out and "[env: READINESS_MANIFEST" in _flat(out.replace("│", " "))
    if not args:
        assert "([auth] in .streamlit/secrets.toml)" in _flat(out.replace("│", " "))


def _run(*results: CheckResult, decision: Decision) -> Run:
    now = datetime(2025, 10, 6, 9, tzinfo=UTC)
    return Run("r" * 32, now, now, "sha256:0", list(results), Verdict(decision, []))


def _result(i: int, status: Status, severity: Severity = Severity.BLOCKING, waived: bool = False) -> CheckResult:
    return CheckResult(f"c{i}", "item", "area", "manual", severity, Result(status, "s"), waived)


def test_verdict_lines_with_counts_and_waivers():
    ok = [_result(i, Status.PASS) for i in range(3)]
    assert verdict_line(_run(*ok, decision=Decision.GO)) == "GO: all 3 blocking checks pass"
    waived = [_result(10, Status.FAIL, waived=True), _result(11, Status.PENDING, waived=True)]
    assert (
        verdict_line(_run(*ok, *waived, decision=Decision.CONDITIONAL))
        == "CONDITIONAL: 2 of 5 blocking checks open, all 2 covered by a waiver"
    )
    open_ = [_result(20, Status.ERROR), _result(21, Status.FAIL, Severity.MAJOR)]
    assert (
        verdict_line(_run(*ok, *waived, *open_, decision=Decision.NO_GO))
        == "NO-GO: 1 of 6 blocking checks open, 2 more waived"
    )
