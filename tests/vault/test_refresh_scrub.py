"""Token endpoint error bodies at rest: a stand-in that echoes the request (refresh token, client secret) in
its error, in the shapes real endpoints and proxies use; none of the secrets' forms may reach the database
(SQLite file bytes, PostgreSQL row text), ``vault list`` or the audit log."""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from checks.standins.oauth import GoogleOAuthStandin
from checks.standins.server import StandinServer, json_response
from vault import Actor, Role, StaticKeySource, Vault
from vault.redact import RedactingFilter, secret_forms
from vault.refresh import ProviderEndpoint, Refresher, standins_rewriter
from vault.refresh_answer import DESCRIPTION_CHARS

KEY = bytes(range(11, 43))
ADMIN = Actor("ada", Role.ADMIN)
CLIENT_ID = "123456789012-echo.apps.googleusercontent.com"
SECRET = "GOCSPX-a+b/c=" + secrets.token_urlsafe(18) + "+/=="  # characters that url-encoding changes

# account -> (error code, error_description template); {body} is the form body as received.
ECHOES: dict[str, tuple[Any, str]] = {
    "form@x.test": ("invalid_request", "Bad request: {body}"),
    "values@x.test": ("invalid_grant", "Rejected values {values}"),
    "json@x.test": ("invalid_request", "Rejected {json}"),
    "basic@x.test": ("invalid_client", "Client {basic} is not allowed"),
    "inerror@x.test": ("invalid_request: {body}", "see error"),
    "long@x.test": ("invalid_request", "x" * (DESCRIPTION_CHARS - 20) + " then {values} and {body}"),
    "notastring@x.test": ({"nested": "{body}"}, "{values}"),
}


class EchoingGoogle(GoogleOAuthStandin):
    """Google's token endpoint behind a proxy that quotes the request back in its 400s."""

    def handle(self, method, path, query, headers, body):
        text = body.decode()
        params = dict(parse_qsl(text))
        account = self._issued.get(params.get("refresh_token", ""))
        if account not in ECHOES:
            return super().handle(method, path, query, headers, body)
        fill = {
            "body": text,
            "values": " ".join(quote(v, safe="") for v in params.values()),
            "json": json.dumps(params).replace("/", "\\/"),
            "basic": base64.b64encode(f"{params.get('client_id')}:{params.get('client_secret')}".encode()).decode(),
        }
        error, description = ECHOES[account]

        def put_in(value):
            if isinstance(value, str):
                return value.format(**fill)
            return {k: put_in(v) for k, v in value.items()}

        return json_response(400, {"error": put_in(error), "error_description": put_in(description)})


def forms_of(*values: str) -> set[str]:
    found: set[str] = set()
    for value in values:
        found |= secret_forms(value)
    return found


@pytest.fixture
def echoed(db_url, clock, tmp_path):
    standin = EchoingGoogle()
    standin.register_client(CLIENT_ID, SECRET)
    vault = Vault.init(db_url, StaticKeySource(KEY), clock)
    refresh_tokens = {}
    with StandinServer([standin]) as server:
        for account in ECHOES:
            refresh_tokens[account] = standin.grant(account, CLIENT_ID)
            now = clock.now()
            clock.set(now - timedelta(minutes=55))
            vault.put(
                ADMIN,
                "acme",
                "google",
                account,
                "ya29.old-" + secrets.token_urlsafe(20),
                refresh_tokens[account],
                expires_at=now + timedelta(minutes=5),
            )
            clock.set(now)
        with Refresher(
            vault,
            ADMIN,
            clock=clock,
            endpoints={"google": ProviderEndpoint.google(CLIENT_ID, SECRET)},
            url_rewriter=standins_rewriter(server.url),
        ) as refresher:
            report = refresher.run_once()
    yield vault, report, refresh_tokens, db_url
    vault.close()


def test_echoed_secrets_reach_neither_the_database_nor_list_nor_audit(echoed):
    vault, report, refresh_tokens, db_url = echoed
    assert report.claimed == len(ECHOES) and report.refreshed == 0
    forbidden = forms_of(SECRET, f"{CLIENT_ID}:{SECRET}", *refresh_tokens.values())
    assert quote(SECRET, safe="") in forbidden and SECRET.replace("/", "\\/") in forbidden

    stored = _database_text(vault, db_url)
    listed = _vault_list_json(db_url)
    audit = json.dumps([e.detail for e in vault.audit_events(ADMIN, limit=1000)])
    outcomes = json.dumps(report.as_dict())
    for where, text in (("database", stored), ("vault list", listed), ("audit", audit), ("report", outcomes)):
        leaked = sorted(f for f in forbidden if f in text)
        assert not leaked, f"{where} holds {len(leaked)} form(s) of a secret, e.g. {leaked[0][:12]}…"
    errors = {i["account"]: i["last_refresh_error"] for i in json.loads(listed)}
    assert all(errors[a] for a in ECHOES)  # something useful is still said


def test_stored_error_is_code_status_and_a_cut_scrubbed_description(echoed):
    vault, report, _, _ = echoed
    errors = {i.account: i.last_refresh_error for i in vault.list(ADMIN)}
    assert errors["inerror@x.test"].startswith("HTTP 400 unrecognised")  # not a code's shape: not kept
    assert errors["notastring@x.test"].startswith("HTTP 400 unrecognised")
    assert errors["basic@x.test"].startswith("HTTP 401") is False  # the stand-in said 400
    assert errors["basic@x.test"].startswith("HTTP 400 invalid_client: Client *** is not allowed")
    assert errors["values@x.test"].startswith("invalid_grant: Rejected values")
    long = errors["long@x.test"]
    assert long.endswith("…") and len(long) <= DESCRIPTION_CHARS + 40
    events = [e for e in vault.audit_events(ADMIN, limit=1000) if e.op == "refresh" and e.outcome == "error"]
    assert events and all({"error", "status", "description"} <= set(e.detail) for e in events)
    assert {e.detail["status"] for e in events} == {400}


def test_secret_forms_cover_url_encoding_json_escaping_and_base64():
    secret = '1//0gAb+cd=ef"gh'
    forms = secret_forms(secret)
    for form in (
        secret,
        quote(secret),
        quote(secret, safe=""),
        "1%2F%2F0gAb%2Bcd%3Def%22gh",
        json.dumps(secret)[1:-1],
        json.dumps(secret)[1:-1].replace("/", "\\/"),
        base64.b64encode(secret.encode()).decode(),
        secret.encode().hex(),
    ):
        assert form in forms
    redacting = RedactingFilter([secret])
    assert redacting.scrub(f"echo {quote(secret, safe='')} and {json.dumps(secret)}") == 'echo *** and "***"'


# ------------------------------------------------------------------------------ the CLI installs the filter


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    loggers = [root, logging.getLogger("vault.refresh")]
    before = {id(x): list(x.filters) for x in loggers + list(root.handlers)}
    yield
    for x in loggers + list(root.handlers):
        x.filters[:] = before.get(id(x), [])


def test_cli_refresh_installs_the_redacting_filter_with_the_client_secret(sqlite_url, restore_logging):
    from vault.cli import vault_app

    standin = GoogleOAuthStandin()
    standin.register_client(CLIENT_ID, SECRET)
    with Vault.init(sqlite_url, StaticKeySource(KEY)) as vault:
        vault.put(ADMIN, "acme", "google", "cli@x.test", "ya29.old-cli-token", standin.grant("cli@x.test", CLIENT_ID))
    with StandinServer([standin]) as server:
        env = {
            "TOKEN_VAULT_DB_URL": sqlite_url,
            "TOKEN_VAULT_ENCRYPTION_KEY": base64.b64encode(KEY).decode(),
            "GOOGLE_OAUTH_CLIENT_ID": CLIENT_ID,
            "GOOGLE_OAUTH_CLIENT_SECRET": SECRET,
            "READINESS_STANDINS_URL": server.url,
        }
        result = CliRunner().invoke(vault_app, ["refresh", "--as", "ada:admin"], env=env)
    assert result.exit_code == 0, result.output
    found = [f for f in logging.getLogger("vault.refresh").filters if isinstance(f, RedactingFilter)]
    assert found, "readiness vault refresh ran without the redacting log filter"
    assert found[0].scrub(f"echo {quote(SECRET, safe='')}") == "echo ***"


def _database_text(vault: Vault, db_url: str) -> str:
    if db_url.startswith("sqlite"):
        path = Path(db_url.removeprefix("sqlite:///"))
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*")).decode("latin-1")
    chunks = []
    with vault.engine.connect() as conn:
        for table in ("credentials", "audit_events", "vault_meta", "tenants", "data_keys"):
            chunks += [r[0] for r in conn.execute(sa.text(f"select t::text from {table} t"))]
    return "\n".join(chunks)


def _vault_list_json(db_url: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOKEN_VAULT_", "READINESS_"))}
    env.update({"TOKEN_VAULT_DB_URL": db_url, "TOKEN_VAULT_ENCRYPTION_KEY": base64.b64encode(KEY).decode()})
    command = [sys.executable, "-m", "checks.shell.cli", "vault", "list", "--format", "json", "--as", "ada:admin"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout
