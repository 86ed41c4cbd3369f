"""What stops a command is exit 2 and one line, never a traceback: a CI gate tells a crash from a NO-GO.

An unusable or unreachable database (``--db``, READINESS_DB_URL, TOKEN_VAULT_DB_URL) for every command that
opens one, with its password masked; and the arguments people mistype (a missing --env-file, a status that
is not the item's, an unknown --format, a date that does not exist).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from checks.shell.cli import app

PASSWORD = "s3cr3t-pw"
UNREACHABLE = f"postgresql+psycopg://app:{PASSWORD}@127.0.0.1:1/nope"
BAD_URLS = {
    "unreachable": (UNREACHABLE, "postgresql+psycopg://app:***@127.0.0.1:1/nope"),
    "mysql": (f"mysql://app:{PASSWORD}@db.example/x", "mysql is not supported"),
    "no-driver": (f"postgresql+nodriver://app:{PASSWORD}@127.0.0.1/x", "not"),
    "not-a-url": ("notaurl", "is not a database URL"),
}
K1 = "CwwNDg8QERITFBUWFxgZGhscHR4fICEiIyQlJicoKSo="  # base64 of 32 bytes; only to get past the key source

COMMANDS = {
    "check": ["check", "--no-record"],
    "history": ["history"],
    "report": ["report"],
    "attest": ["attest", "oauth.google", "submitted"],
    "waive": ["waive", "env.GOOGLE_OAUTH_CLIENT_ID", "--reason", "rotating", "--until", "2999-01-01"],
    "checkpoint": ["checkpoint"],
    "vault-init": ["vault", "init"],
    "vault-put": ["vault", "put", "acme", "google", "a@acme.test", "--as", "ada:admin"],
    "vault-get": ["vault", "get", "acme", "c1"],
    "vault-list": ["vault", "list"],
    "vault-revoke": ["vault", "revoke", "acme", "c1", "--as", "ada:admin"],
    "vault-rotate-key": ["vault", "rotate-key", "--as", "ada:admin"],
    "vault-rewrap": ["vault", "rewrap", "--all", "--as", "ada:admin"],
    "vault-refresh": ["vault", "refresh", "--as", "ada:admin"],
    "vault-audit": ["vault", "audit", "--as", "ada:admin"],
}
ENV = {
    "TOKEN_VAULT_ENCRYPTION_KEY": K1,
    "GOOGLE_OAUTH_CLIENT_ID": "x.apps.googleusercontent.com",
    "GOOGLE_OAUTH_CLIENT_SECRET": "not-a-secret",
}


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default SQLite database and .env land here, not in the repository


def invoke(args, env=None, stdin="ya29.not-a-real-token\n"):
    return CliRunner().invoke(app, args, env={**ENV, **(env or {})}, input=stdin)


def assert_one_line(result, *expected):
    out = result.output + (result.stderr or "")
    assert result.exit_code == 2, (result.exit_code, out[-1000:], result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in out and PASSWORD not in out
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("url", list(BAD_URLS), ids=list(BAD_URLS))
@pytest.mark.parametrize("command", list(COMMANDS), ids=list(COMMANDS))
def test_every_command_names_a_bad_database_in_one_line(command, url):
    given, shown = BAD_URLS[url]
    assert_one_line(invoke([*COMMANDS[command], "--db", given]), shown)


@pytest.mark.parametrize(
    ("command", "variable"),
    [
        ("history", "READINESS_DB_URL"),
        ("checkpoint", "READINESS_DB_URL"),
        ("vault-list", "TOKEN_VAULT_DB_URL"),
        ("vault-list", "READINESS_DB_URL"),
        ("vault-audit", "TOKEN_VAULT_DB_URL"),
    ],
)
def test_database_urls_from_the_environment_too(command, variable):
    assert_one_line(invoke(COMMANDS[command], env={variable: "notaurl"}), variable, "is not a database URL")
    assert_one_line(invoke(COMMANDS[command], env={variable: UNREACHABLE}), "app:***@127.0.0.1:1/nope")


def _console(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("READINESS_", "TOKEN_VAULT_", "GOOGLE_"))}
    return subprocess.run(
        [sys.executable, "-m", "checks.shell.cli", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["check", "--no-record", "--db", UNREACHABLE], None, "app:***@127.0.0.1:1/nope (--db): connection failed"),
        (["history", "--db", f"mysql://app:{PASSWORD}@h/x"], None, "mysql is not supported"),
        (["vault", "list"], {"TOKEN_VAULT_DB_URL": "notaurl"}, "TOKEN_VAULT_DB_URL is not a database URL"),
        (["report"], {"READINESS_DB_URL": UNREACHABLE}, "app:***@127.0.0.1:1/nope"),
    ],
    ids=["check-unreachable", "history-mysql", "vault-env-garbage", "report-env-unreachable"],
)
def test_console_script_exit_2_one_line_password_masked(tmp_path, args, env, expected):
    proc = _console(*args, cwd=tmp_path, env=env)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr + proc.stdout and PASSWORD not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines


# --- arguments ------------------------------------------------------------------------------------


def test_a_missing_env_file_is_named():
    assert_one_line(
        invoke(["check", "--no-record", "--env-file", "nope.env", "--only", "env.*"]),
        "--env-file nope.env: file not found",
    )


def test_an_existing_env_file_is_still_read(tmp_path):
    (tmp_path / "ci.env").write_text(
        "GOOGLE_OAUTH_CLIENT_ID=1234567890-abcdefghijklmnopqrstuvwxyz012345.apps.googleusercontent.com\n"
    )
    result = invoke(
        ["check", "--no-record", "--env-file", "ci.env", "--only", "env.GOOGLE_OAUTH_CLIENT_ID", "--format", "json"],
        env={"GOOGLE_OAUTH_CLIENT_ID": None},
    )
    assert result.exit_code in (0, 1), result.output
    (res,) = json.loads(result.stdout)["results"]
    assert res["evidence"]["source"] == ".env file"


def test_attest_only_the_items_states():
    line = assert_one_line(invoke(["attest", "oauth.google", "aproved"]), "'aproved' is not a state of oauth.google")
    assert "approved" in line and "submitted" in line
    ok = invoke(["attest", "oauth.google", "approved", "--by", "rohan"])
    assert ok.exit_code == 0, ok.output
    assert "attested oauth.google = approved by rohan" in ok.stdout


def test_history_of_an_unknown_check_is_exit_2_not_no_go():
    assert_one_line(invoke(["history", "--check", "no.such.check"]), "no history for check 'no.such.check'")


def test_history_format_is_a_choice():
    result = invoke(["history", "--format", "csv"])
    assert result.exit_code == 2
    out = result.output + (result.stderr or "")
    assert "csv" in out and "table" in out and "json" in out and "Traceback" not in out
    assert invoke(["history", "--format", "json"]).exit_code == 0


@pytest.mark.parametrize(
    ("until", "says"),
    [
        ("2025-02-30", "2025-02-30 is not a date: February has 28 days in 2025"),
        ("2028-02-30", "2028-02-30 is not a date: February has 29 days in 2028"),
        ("2030-04-31", "2030-04-31 is not a date: April has 30 days in 2030"),
        ("2030-13-01", "2030-13-01 is not a date: there is no month 13"),
        ("next week", "expected a date as YYYY-MM-DD"),
    ],
)
def test_waive_names_what_is_wrong_with_the_date(until, says):
    assert_one_line(invoke(["waive", "env.GOOGLE_OAUTH_CLIENT_ID", "--reason", "r", "--until", until]), says)
