"""`readiness vault …` as an operator runs it: a subprocess, a real SQLite file, keys in the environment."""

from __future__ import annotations

import base64
import json
import os
import re
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
K1 = base64.b64encode(bytes(range(11, 43))).decode()
K2 = base64.b64encode(bytes(range(150, 182))).decode()
TOKEN = "ya29.a0AfB_cli-plaintext-access-token-0123456789"
REFRESH = "1//0gCli-plaintext-refresh-token-abcdefghij"
ADMIN = ("--as", "ada:admin")
AUDITOR = ("--as", "aud:auditor")


class Cli:
    """Runs `python -m checks.shell.cli vault …` with a clean environment; remembers every output it saw."""

    def __init__(self, tmp: Path) -> None:
        self.db = tmp / "vault.db"
        self.cwd = tmp
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GOOGLE_", "MICROSOFT_", "GHL_", "TOKEN_VAULT_", "READINESS_", "USER", "LOGNAME"))
        }
        self.env.update(
            {
                "COLUMNS": "200",
                "TOKEN_VAULT_DB_URL": f"sqlite:///{self.db}",
                "TOKEN_VAULT_ENCRYPTION_KEY": K1,
                "USER": "olive",
                "LOGNAME": "olive",
            }
        )
        self.seen: list[str] = []

    def __call__(self, *args: str, stdin: str | None = None, env: dict[str, str | None] | None = None):
        run_env = dict(self.env)
        for key, value in (env or {}).items():
            if value is None:
                run_env.pop(key, None)
            else:
                run_env[key] = value
        proc = subprocess.run(
            [sys.executable, "-m", "checks.shell.cli", "vault", *args],
            cwd=self.cwd,
            env=run_env,
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.seen += [proc.stdout, proc.stderr]
        return proc

    def ok(self, *args: str, **kw):
        proc = self(*args, **kw)
        assert proc.returncode == 0, (proc.stdout, proc.stderr)
        return proc

    def db_bytes(self) -> bytes:
        return b"".join(p.read_bytes() for p in self.db.parent.glob(self.db.name + "*"))


@pytest.fixture
def cli(tmp_path) -> Cli:
    c = Cli(tmp_path)
    c.ok("init")
    return c


def _put(cli: Cli, account: str = "ops@acme.test", *extra: str) -> str:
    proc = cli.ok(
        "put",
        "acme",
        "google",
        account,
        "--with-refresh",
        "--scope",
        "openid",
        "--scope",
        "email",
        "--expires-in",
        "3600",
        *ADMIN,
        *extra,
        stdin=f"{TOKEN}\n{REFRESH}\n",
    )
    cid = proc.stdout.strip()
    assert len(cid) == 36 and cid in proc.stdout
    return cid


def _no_plaintext(cli: Cli, *, outputs: bool = True) -> None:
    """Neither token (nor its base64) in the database file, nor (``outputs``) in anything printed so far."""
    forms = [t for token in (TOKEN, REFRESH) for t in (token, base64.b64encode(token.encode()).decode())]
    if outputs:
        printed = "\n".join(cli.seen)
        assert not [f for f in forms if f in printed]
    raw = cli.db_bytes()
    assert not [f for f in forms if f.encode() in raw]


def test_init_is_idempotent_and_names_the_primary_kek(tmp_path):
    cli = Cli(tmp_path)
    first = cli.ok("init")
    assert "initialised a new vault" in first.stdout and "primary KEK kek:" in first.stdout
    again = cli.ok("init")
    assert "already initialised" in again.stdout


def test_put_from_stdin_then_list_shows_metadata_only_and_the_token_is_nowhere(cli):
    cid = _put(cli)
    listed = json.loads(cli.ok("list", "--tenant", "acme", "--format", "json", *ADMIN).stdout)
    assert [c["id"] for c in listed] == [cid]
    entry = listed[0]
    assert (entry["tenant"], entry["provider"], entry["account"], entry["state"]) == (
        "acme",
        "google",
        "ops@acme.test",
        "active",
    )
    assert entry["scopes"] == ["openid", "email"] and entry["has_refresh_token"] is True
    assert entry["token_fingerprint"].startswith("hmac:")
    assert "access_ct" not in entry and "refresh_ct" not in entry
    table = cli.ok("list", *ADMIN).stdout
    assert cid in table and "hmac:" in table
    _no_plaintext(cli)


def test_get_is_masked_unless_revealed_by_a_role_that_may(cli):
    cid = _put(cli)
    masked = cli.ok("get", "acme", cid, "--format", "json")  # the OS user as viewer may see metadata
    data = json.loads(masked.stdout)
    assert data["access_token"] == "***" and data["refresh_token"] == "***"
    listed = json.loads(cli.ok("list", "--tenant", "acme", "--format", "json", *ADMIN).stdout)
    assert re.fullmatch(r"hmac:[0-9a-f]{16}", data["token_fingerprint"])
    assert data["token_fingerprint"] == listed[0]["token_fingerprint"]  # one token, one name everywhere
    _no_plaintext(cli)

    revealed = json.loads(cli.ok("get", "acme", cid, "--reveal", "--format", "json", *ADMIN).stdout)
    assert (revealed["access_token"], revealed["refresh_token"]) == (TOKEN, REFRESH)
    service = cli.ok("get", "acme", cid, "--reveal", "--as", "sync:service:acme")
    assert TOKEN in service.stdout

    denied = cli("get", "acme", cid, "--reveal")
    assert denied.returncode == 2
    assert "AccessDenied" in denied.stderr and "role viewer may not get" in denied.stderr
    assert TOKEN not in denied.stdout + denied.stderr
    other = cli("get", "acme", cid, "--reveal", "--as", "sync:service:globex")
    assert other.returncode == 2 and "AccessDenied" in other.stderr

    events = json.loads(cli.ok("audit", "--format", "json", "--limit", "50", *AUDITOR).stdout)
    denials = [(e["actor"], e["role"], e["op"], e["target"]) for e in events if e["outcome"] == "denied"]
    assert ("olive", "viewer", "get", cid) in denials
    assert ("sync", "service", "list", None) in denials  # out of scope: refused before any decryption
    reads = [e for e in events if e["op"] == "get" and e["outcome"] == "ok"]
    assert {e["actor"] for e in reads} == {"ada", "sync"}


def test_rotate_key_after_swapping_keys_then_the_old_key_can_be_dropped(cli):
    cid = _put(cli)
    swapped = {"TOKEN_VAULT_ENCRYPTION_KEY": K2, "TOKEN_VAULT_PREVIOUS_KEYS": K1}
    denied = cli("rotate-key", "--as", "sync:service:acme", env=swapped)
    assert denied.returncode == 2 and "AccessDenied" in denied.stderr
    rotated = cli.ok("rotate-key", *ADMIN, env=swapped)
    assert "2 of 2 rewrapped (complete)" in rotated.stdout  # the tenant's DEK and the audit key
    assert "--retire-old" in rotated.stderr
    assert (
        json.loads(cli.ok("get", "acme", cid, "--reveal", "-f", "json", *ADMIN, env=swapped).stdout)["access_token"]
        == TOKEN
    )

    retired = cli.ok("rotate-key", "--retire-old", *ADMIN, env=swapped)
    assert "the vault forgot kek:" in retired.stdout
    new_only = {"TOKEN_VAULT_ENCRYPTION_KEY": K2, "TOKEN_VAULT_PREVIOUS_KEYS": None}
    assert (
        json.loads(cli.ok("get", "acme", cid, "--reveal", "-f", "json", *ADMIN, env=new_only).stdout)["access_token"]
        == TOKEN
    )
    old_only = cli("list", *ADMIN, env={"TOKEN_VAULT_ENCRYPTION_KEY": K1})
    assert old_only.returncode == 2 and "KeyUnavailable" in old_only.stderr
    assert "OK" in cli.ok("audit", "--verify", *AUDITOR, env=new_only).stdout
    _no_plaintext(cli, outputs=False)  # revealed on purpose above


def test_rewrap_reseals_a_tenant_or_all(cli):
    cid = _put(cli)
    one = cli.ok("rewrap", "acme", *ADMIN)
    assert "acme@v2: 1 of 1 credentials re-sealed (complete); retired acme@v1" in one.stdout
    every = cli.ok("rewrap", "--all", *ADMIN)
    assert "acme@v3" in every.stdout
    assert cli("rewrap", *ADMIN).returncode == 2
    assert cli("rewrap", "acme").returncode == 2  # a viewer may not
    data = json.loads(cli.ok("get", "acme", cid, "--reveal", "-f", "json", *ADMIN).stdout)
    assert (data["access_token"], data["dek_version"]) == (TOKEN, 3)


def test_revoke(cli):
    cid = _put(cli)
    assert cli("revoke", "acme", cid).returncode == 2
    cli.ok("revoke", "acme", cid, "--as", "sync:service:acme")
    gone = cli("get", "acme", cid, "--reveal", *ADMIN)
    assert gone.returncode == 2 and "revoked" in gone.stderr


def test_audit_verify_ok_then_a_tampered_entry_is_named_and_exits_1(cli):
    cid = _put(cli)
    assert cli("get", "acme", cid, "--reveal").returncode == 2  # a viewer's denial in the log
    ok = cli.ok("audit", "--verify", *AUDITOR)
    assert ok.stdout.startswith("OK")
    events = json.loads(cli.ok("audit", "-f", "json", *AUDITOR).stdout)
    denial = next(e["seq"] for e in events if e["outcome"] == "denied")
    with sqlite3.connect(cli.db) as db:  # make the denial look allowed
        db.execute("UPDATE audit_events SET outcome = 'ok' WHERE seq = ?", (denial,))
    broken = cli("audit", "--verify", *AUDITOR)
    assert broken.returncode == 1
    assert f"broken at seq {denial}" in broken.stdout and "mac mismatch" in broken.stdout
    report = json.loads(cli("audit", "--verify", "-f", "json", *AUDITOR).stdout)
    assert (report["ok"], report["first_bad_seq"]) == (False, denial)
    assert cli("audit", "--verify").returncode == 2  # a viewer may not


def test_self_test_exits_0_and_reports_every_check(cli):
    table = cli.ok("self-test")
    assert "self-test passed" in table.stdout
    data = json.loads(cli.ok("self-test", "--format", "json").stdout)
    assert data["ok"] is True and data["key_source"] == "env"
    assert "key_source" in [r["name"] for r in data["results"]]
    assert K1 not in table.stdout + json.dumps(data)


def test_self_test_exits_1_when_the_key_source_is_unusable(cli):
    proc = cli("self-test", "-f", "json", env={"TOKEN_VAULT_ENCRYPTION_KEY": None})
    assert proc.returncode == 1
    failed = [r for r in json.loads(proc.stdout)["results"] if not r["passed"]]
    assert [r["name"] for r in failed] == ["key_source"]
    assert cli.ok("self-test", "--scratch-only", env={"TOKEN_VAULT_ENCRYPTION_KEY": None})


def test_a_token_cannot_be_passed_as_an_argument(cli):
    positional = cli("put", "acme", "google", "x@acme.test", TOKEN, *ADMIN, stdin="")
    assert positional.returncode == 2
    assert "takes no token argument" in positional.stderr
    option = cli("put", "acme", "google", "x@acme.test", f"--token={TOKEN}", *ADMIN, stdin=f"{TOKEN}\n")
    assert option.returncode == 2 and "--token" in option.stderr
    assert TOKEN not in positional.stderr + positional.stdout + option.stderr + option.stdout  # not echoed
    empty = cli("put", "acme", "google", "x@acme.test", *ADMIN, stdin="")
    assert empty.returncode == 2 and "standard input" in empty.stderr
    options = re.findall(r"--[a-z][a-z-]*", cli.ok("put", "--help").stdout)
    assert options and not [o for o in options if "token" in o]  # no option could take one
    assert json.loads(cli.ok("list", "-f", "json", *ADMIN).stdout) == []


def test_vault_errors_exit_2_with_their_kind(cli, tmp_path):
    no_key = cli("list", env={"TOKEN_VAULT_ENCRYPTION_KEY": None})
    assert no_key.returncode == 2 and "KeyUnavailable" in no_key.stderr and "Traceback" not in no_key.stderr
    fresh = cli("list", env={"TOKEN_VAULT_DB_URL": f"sqlite:///{tmp_path / 'empty.db'}"})
    assert fresh.returncode == 2 and "readiness vault init" in fresh.stderr
    bad_actor = cli("list", "--as", "bob:wizard")
    assert bad_actor.returncode == 2 and "unknown role" in bad_actor.stderr
    unscoped = cli("list", env={"TOKEN_VAULT_ACTOR": "sync:service"})
    assert unscoped.returncode == 2 and "must be scoped" in unscoped.stderr


def test_refresh_runs_one_cycle_against_the_stand_in(cli):
    from checks.standins.oauth import GoogleOAuthStandin
    from checks.standins.server import StandinServer

    google = GoogleOAuthStandin()
    with StandinServer([google]) as server:
        google.register_client("cli-client.apps.googleusercontent.com", "cli-secret")
        refresh_token = google.grant("due@acme.test", "cli-client.apps.googleusercontent.com")
        expired = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        cid = cli.ok(
            "put",
            "acme",
            "google",
            "due@acme.test",
            "--with-refresh",
            "--expires-at",
            expired,
            *ADMIN,
            stdin=f"ya29.stale-token-0001\n{refresh_token}\n",
        ).stdout.strip()
        env = {
            "GOOGLE_OAUTH_CLIENT_ID": "cli-client.apps.googleusercontent.com",
            "GOOGLE_OAUTH_CLIENT_SECRET": "cli-secret",
            "READINESS_STANDINS_URL": server.url,
        }
        assert cli("refresh", env=env).returncode == 2  # a viewer may not refresh
        report = json.loads(cli.ok("refresh", "-f", "json", *ADMIN, env=env).stdout)
        assert report["refreshed"] == 1 and report["outcomes"][0]["credential_id"] == cid
        fresh = google.last_access_token("due@acme.test")
    assert (
        fresh
        and json.loads(cli.ok("get", "acme", cid, "--reveal", "-f", "json", *ADMIN).stdout)["access_token"] == fresh
    )
    assert cli("refresh", *ADMIN).returncode == 2  # no provider client configured
