"""The `readiness` command as a user runs it: a subprocess, real files, a real SQLite database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from junitparser import JUnitXml

from tests.valid_env import VALID_ENV

ROOT = Path(__file__).resolve().parents[2]
SEED_VARS = [
    "GOOGLE_OAUTH_CLIENT_ID",
    "GOOGLE_OAUTH_CLIENT_SECRET",
    "MICROSOFT_OAUTH_CLIENT_ID",
    "MICROSOFT_OAUTH_CLIENT_SECRET",
    "RETELL_API_KEY",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TOKEN_VAULT_URL",
    "TOKEN_VAULT_ENCRYPTION_KEY",
    "GHL_PROXY_URL",
    "GHL_PROXY_API_KEY",
]


def readiness(*args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None):
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GOOGLE_", "MICROSOFT_", "RETELL_", "TWILIO_", "TOKEN_VAULT_", "GHL_", "READINESS_"))
    }
    base["COLUMNS"] = "200"
    return subprocess.run(
        [sys.executable, "-m", "checks.shell.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        input=stdin,
        timeout=120,
    )


@pytest.fixture
def workdir(tmp_path):
    """A directory with no readiness.toml: the CLI falls back to the embedded STORY-ONB-05 manifest."""
    return tmp_path


def check_json(workdir, *extra, env=None):
    proc = readiness("check", "--format", "json", *extra, cwd=workdir, env=env)
    assert proc.returncode in (0, 1), proc.stderr
    return proc, json.loads(proc.stdout)


def test_empty_environment_is_no_go_naming_every_missing_variable(workdir):
    proc, doc = check_json(workdir)
    assert proc.returncode == 1
    assert doc["schema"] == 1 and doc["verdict"] == "NO-GO"
    assert set(doc) >= {
        "schema",
        "verdict",
        "run_id",
        "started_at",
        "finished_at",
        "reasons",
        "areas",
        "results",
        "escalations",
        "criteria",
    }
    reasons = "\n".join(doc["reasons"])
    for name in SEED_VARS:
        assert f"{name} is not set" in reasons, name
    env_results = {r["id"]: r for r in doc["results"] if r["kind"] == "env" and r["severity"] != "minor"}
    assert {f"env.{n}" for n in SEED_VARS} <= set(env_results)
    assert all(r["status"] == "fail" for r in env_results.values())
    assert [a["id"] for a in doc["areas"]] == ["oauth", "vault", "sandboxes", "environment"]
    for r in doc["results"]:
        assert set(r) >= {
            "id",
            "item",
            "area",
            "kind",
            "severity",
            "status",
            "summary",
            "evidence",
            "remediation",
            "duration_ms",
            "waived",
        }


SECRET_VARS = [
    "GOOGLE_OAUTH_CLIENT_SECRET",
    "MICROSOFT_OAUTH_CLIENT_SECRET",
    "RETELL_API_KEY",
    "TWILIO_AUTH_TOKEN",
    "TOKEN_VAULT_ENCRYPTION_KEY",
    "GHL_PROXY_API_KEY",
]


def test_valid_looking_values_make_env_checks_pass_and_never_print_them(workdir):
    # env checks only: with values set, the provider probes would call the real providers
    proc, doc = check_json(workdir, "--only", "env.*", env=VALID_ENV)
    env_results = [r for r in doc["results"] if r["kind"] == "env" and r["id"].removeprefix("env.") in VALID_ENV]
    assert len(env_results) == len(VALID_ENV) and all(r["status"] == "pass" for r in env_results), [
        (r["id"], r["summary"]) for r in env_results if r["status"] != "pass"
    ]
    for name in SECRET_VARS:
        assert VALID_ENV[name] not in proc.stdout and VALID_ENV[name] not in proc.stderr
    assert all(r["evidence"]["fingerprint"].startswith("fp:") for r in env_results)


def test_dotenv_file_is_read_and_environment_wins(workdir):
    (workdir / ".env").write_text("\n".join(f"{k}={v}" for k, v in VALID_ENV.items()) + "\n")
    (workdir / "readiness.toml").write_text((ROOT / "readiness.toml").read_text())
    _, doc = check_json(workdir, "--only", "env.*", env={"TWILIO_AUTH_TOKEN": "changeme"})
    res = {r["id"]: r for r in doc["results"]}
    assert res["env.GOOGLE_OAUTH_CLIENT_ID"]["status"] == "pass"
    assert res["env.GOOGLE_OAUTH_CLIENT_ID"]["evidence"]["source"] == ".env file"
    assert res["env.TWILIO_AUTH_TOKEN"]["status"] == "fail"
    assert res["env.TWILIO_AUTH_TOKEN"]["evidence"]["source"] == "environment"


def test_bad_manifest_exits_2_naming_file_and_field_without_traceback(workdir):
    bad = (
        (ROOT / "readiness.toml")
        .read_text()
        .replace(
            "https://staging.maxai-platform.com/api/auth/oauth/google/callback",
            "http://staging.maxai-platform.com/api/auth/oauth/google/callback",
            1,
        )
    )
    (workdir / "bad.toml").write_text(bad)
    proc = readiness("check", "--manifest", "bad.toml", cwd=workdir)
    assert proc.returncode == 2
    assert "bad.toml" in proc.stderr and "oauth_apps.google.redirect_uris[1].uri" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_missing_manifest_and_bad_arguments_exit_2(workdir):
    proc = readiness("check", "--manifest", "nope.toml", cwd=workdir)
    assert proc.returncode == 2 and "nope.toml" in proc.stderr and "not found" in proc.stderr
    proc = readiness("check", "--format", "yaml", cwd=workdir)
    assert proc.returncode == 2
    proc = readiness("check", "--area", "moon", cwd=workdir)
    assert proc.returncode == 2 and "moon" in proc.stderr
    proc = readiness("check", "--only", "no.such.check", cwd=workdir)
    assert proc.returncode == 2 and "matches no check" in proc.stderr


def test_validate_command(workdir):
    proc = readiness("validate", cwd=workdir)
    assert proc.returncode == 0 and "ok" in proc.stdout
    (workdir / "bad.toml").write_text("[release]\ncolour = 'red'\n")
    proc = readiness("validate", "--manifest", "bad.toml", cwd=workdir)
    assert proc.returncode == 2 and "release.colour: unknown key" in proc.stderr


def test_junit_output_parses_and_counts_match(workdir):
    proc = readiness("check", "--format", "junit", "--no-record", cwd=workdir)
    assert proc.returncode == 1
    path = workdir / "junit.xml"
    path.write_text(proc.stdout)
    xml = JUnitXml.fromfile(str(path))
    cases = [case for suite in xml for case in suite]
    _, doc = check_json(workdir, "--no-record")
    assert len(cases) == len(doc["results"])
    failing = {c.name for c in cases if any(type(r).__name__ == "Failure" for r in c.result)}
    assert failing == {r["id"] for r in doc["results"] if r["status"] == "fail"}
    assert "env.GOOGLE_OAUTH_CLIENT_ID" in failing


def test_markdown_output(workdir):
    proc = readiness("check", "--format", "markdown", "--no-record", cwd=workdir)
    assert proc.returncode == 1
    assert proc.stdout.startswith("## Readiness: **NO-GO**")
    assert "### Success criteria" in proc.stdout and "- [ ] week1:" in proc.stdout


def test_table_output_shows_verdict(workdir):
    proc = readiness("check", "--no-record", cwd=workdir)
    assert proc.returncode == 1 and "NO-GO" in proc.stdout and "GOOGLE_OAUTH_CLIENT_ID" in proc.stdout


def test_only_and_area_select_checks(workdir):
    _, doc = check_json(workdir, "--only", "env.TWILIO_*", "--no-record")
    assert {r["id"] for r in doc["results"]} == {"env.TWILIO_ACCOUNT_SID", "env.TWILIO_AUTH_TOKEN"}
    _, doc = check_json(workdir, "--area", "environment", "--no-record")
    assert {r["area"] for r in doc["results"]} == {"environment"}


def test_runs_are_recorded_unless_no_record(workdir):
    check_json(workdir, "--only", "env.*")
    check_json(workdir, "--only", "env.*", "--no-record")
    assert (workdir / ".readiness" / "readiness.db").exists()
    proc = readiness("history", "--format", "json", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)) == 1


def test_waive_turns_env_only_no_go_into_conditional(workdir):
    env = {**VALID_ENV, "GOOGLE_OAUTH_CLIENT_SECRET": "<from_google_console>"}
    proc, doc = check_json(workdir, "--only", "env.*", env=env)
    assert doc["verdict"] == "NO-GO" and proc.returncode == 1
    proc = readiness(
        "waive",
        "env.GOOGLE_OAUTH_CLIENT_SECRET",
        "--reason",
        "secret being rotated",
        "--until",
        "2999-01-01",
        "--by",
        "rohan",
        cwd=workdir,
    )
    assert proc.returncode == 0, proc.stderr
    proc, doc = check_json(workdir, "--only", "env.*", env=env)
    assert doc["verdict"] == "CONDITIONAL" and proc.returncode == 0
    waived = [r for r in doc["results"] if r["waived"]]
    assert [r["id"] for r in waived] == ["env.GOOGLE_OAUTH_CLIENT_SECRET"]
    proc = readiness("waive", "env.GOOGLE_OAUTH_CLIENT_SECRET", "--reason", "x", "--until", "2000-01-01", cwd=workdir)
    assert proc.returncode == 2 and "already past" in proc.stderr


def test_attest_changes_a_manual_check(workdir):
    _, doc = check_json(workdir, "--only", "oauth.google.submitted", "--no-record")
    assert doc["results"][0]["status"] == "fail"
    proc = readiness(
        "attest",
        "oauth.google",
        "submitted",
        "--date",
        "2025-10-07",
        "--note",
        "verification form",
        "--by",
        "rohan",
        cwd=workdir,
    )
    assert proc.returncode == 0, proc.stderr
    _, doc = check_json(workdir, "--only", "oauth.google.submitted", "--no-record")
    assert doc["results"][0]["status"] == "pass"
    assert doc["results"][0]["evidence"]["by"] == "rohan"
    proc = readiness("attest", "oauth.nowhere", "submitted", cwd=workdir)
    assert proc.returncode == 2 and "unknown item" in proc.stderr
