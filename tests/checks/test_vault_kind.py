"""Kind ``vault`` against a real vault on SQLite, a real refresher and stand-ins on loopback.

Credentials are stored with expiries relative to a FixedClock; ``needs_reauth`` comes from the refresher
meeting Google's ``invalid_grant`` (the OAuth stand-in); the audit chain is broken with raw SQL, as
``tests/vault/test_audit.py`` does. The last test runs ``readiness check --only 'vault.*'`` end to end.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from checks.builtin.vault import VaultParams, vault
from checks.core.clock import FixedClock
from checks.core.hookspecs import KIND_ATTR
from checks.core.redact import Scrubber
from checks.core.result import Result
from checks.core.runner import user_agent
from checks.core.status import Status
from checks.shell.sweep import close_vault_extras, vault_extras
from checks.standins.oauth import GoogleOAuthStandin
from checks.standins.server import StandinServer
from tests.checks.helpers import check_block, make_manifest, run_kind
from vault import Actor, Role, Vault
from vault import selftest as vault_selftest
from vault.keys import key_source_from_spec
from vault.refresh import ProviderEndpoint, Refresher, standins_rewriter

ROOT = Path(__file__).resolve().parents[2]
KEY = base64.b64encode(secrets.token_bytes(32)).decode()
OTHER_KEY = base64.b64encode(secrets.token_bytes(32)).decode()
ENV = {"TOKEN_VAULT_ENCRYPTION_KEY": KEY}
ADMIN = Actor("ada", Role.ADMIN)
AUDITOR = Actor("readiness-sweep", Role.AUDITOR)
GOOGLE_CLIENT = ("123456789012-abc.apps.googleusercontent.com", "GOCSPX-" + secrets.token_urlsafe(20))
MANIFEST = make_manifest(check_block("x"))
Google = tuple[StandinServer, GoogleOAuthStandin]


# --- running the kind ------------------------------------------------------------------------------------------


def run(
    params: dict[str, Any],
    *,
    extras: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    clock: FixedClock | None = None,
    timeout_s: float = 5.0,
    scrubber: Scrubber | None = None,
) -> Result:
    validated = VaultParams.model_validate(params)
    return run_kind(
        lambda ctx: vault(validated, ctx),
        kind="vault",
        params=params,
        manifest=MANIFEST,
        env=ENV if env is None else env,
        check_id="vault.probe",
        timeout_s=timeout_s,
        clock=clock or FixedClock(datetime_at()),
        scrubber=scrubber,
        extras=extras,
        client_options={"headers": {"User-Agent": user_agent()}},
    )


def datetime_at() -> datetime:  # the conftest clock's instant, for runs that need no clock fixture
    return datetime(2025, 10, 6, 9, 0, tzinfo=UTC)


def rendered(result: Result) -> str:
    return repr(result) + json.dumps(dataclasses.asdict(result), default=str)


def assert_no_key(result: Result) -> None:
    text = rendered(result)
    for key in (KEY, OTHER_KEY):
        assert key not in text
        assert base64.b64decode(key).hex() not in text


@pytest.fixture
def opened(sqlite_url: str, clock: FixedClock) -> Iterator[Vault]:
    v = Vault.init(sqlite_url, key_source_from_spec(None, ENV), clock)
    yield v
    v.close()


def sweep_extras(v: Vault, url: str = "sqlite:///vault.db") -> dict[str, Any]:
    return {"vault": v, "vault_auditor": AUDITOR, "vault_db": url}


def put(
    v: Vault,
    clock: FixedClock,
    account: str,
    expires_in: timedelta | None,
    *,
    provider: str = "google",
    tenant: str = "acme",
    refresh: str | None = "1//refresh-" + "x" * 20,
    issued_ago: timedelta = timedelta(0),
) -> str:
    """Store a credential ``issued_ago`` before now that expires ``expires_in`` from now."""
    now = clock.now()
    clock.set(now - issued_ago)
    try:
        return v.put(
            ADMIN,
            tenant,
            provider,
            account,
            "ya29.a0" + secrets.token_urlsafe(30),
            refresh,
            expires_at=now + expires_in if expires_in is not None else None,
        )
    finally:
        clock.set(now)


def test_registered_with_the_kind_name() -> None:
    assert getattr(vault, KIND_ATTR).name == "vault"


@pytest.mark.parametrize(
    "params, words",
    [
        ({"probe": "nope"}, "probe"),
        ({"probe": "refresh", "warn_minutes": 3, "critical_minutes": 5}, "must not exceed"),
        ({"probe": "service", "health_path": "healthz"}, "must start with '/'"),
        ({"probe": "keys", "surprise": 1}, "surprise"),
    ],
    ids=["unknown-probe", "critical-above-warn", "relative-health-path", "unknown-param"],
)
def test_params_are_validated(params: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        VaultParams.model_validate(params)


# --- selftest --------------------------------------------------------------------------------------------------


def test_selftest_passes() -> None:
    result = run({"probe": "selftest"})
    assert result.status is Status.PASS, result.summary
    assert "self-test passed all" in result.summary
    assert "aes256gcm_known_answer" in result.evidence["passed"] and result.evidence["failed"] == []


def test_selftest_failure_names_the_failing_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    real = vault_selftest.run()
    broken = tuple(
        dataclasses.replace(r, passed=False, detail="IntegrityError was not raised")
        if r.name in ("tampered_tag_refused", "redaction")
        else r
        for r in real.results
    )
    monkeypatch.setattr(vault_selftest, "run", lambda *a, **k: dataclasses.replace(real, results=broken))
    result = run({"probe": "selftest"})
    assert result.status is Status.FAIL
    assert "failed 2 of" in result.summary and "tampered_tag_refused, redaction" in result.summary
    assert [f["name"] for f in result.evidence["failed"]] == ["tampered_tag_refused", "redaction"]
    assert "readiness vault self-test" in result.remediation


# --- keys ------------------------------------------------------------------------------------------------------


def test_keys_pass_when_the_vault_knows_the_primary(opened: Vault) -> None:
    result = run({"probe": "keys"}, extras=sweep_extras(opened))
    assert result.status is Status.PASS, result.summary
    assert result.evidence["primary"].startswith("kek:")
    assert result.evidence["primary"] == result.evidence["vault_primary"]
    assert result.evidence["key_source"] == "env"
    assert_no_key(result)


def test_keys_mismatch_fails(opened: Vault) -> None:
    result = run({"probe": "keys"}, extras=sweep_extras(opened), env={"TOKEN_VAULT_ENCRYPTION_KEY": OTHER_KEY})
    assert result.status is Status.FAIL
    assert "key mismatch" in result.summary and result.evidence["vault_primary"] in result.summary
    assert_no_key(result)


def test_keys_new_primary_with_the_old_key_kept_warns_until_rewrap(sqlite_url: str, clock: FixedClock) -> None:
    Vault.init(sqlite_url, key_source_from_spec(None, ENV), clock).close()
    rotated = {"TOKEN_VAULT_ENCRYPTION_KEY": OTHER_KEY, "TOKEN_VAULT_PREVIOUS_KEYS": KEY}
    with Vault.open(sqlite_url, key_source_from_spec(None, rotated), clock) as v:
        v.put(ADMIN, "acme", "google", "a@acme.test", "ya29.a0token")  # the tenant's data key: new primary
        put(v, clock, "b@acme.test", timedelta(hours=1), tenant="globex")
        result = run({"probe": "keys"}, extras=sweep_extras(v), env=rotated)
        assert result.status is Status.PASS, result.summary  # every data key is already under the new primary
    with Vault.init(f"{sqlite_url}-2", key_source_from_spec(None, ENV), clock) as v:
        v.put(ADMIN, "acme", "google", "a@acme.test", "ya29.a0token")
    with Vault.open(f"{sqlite_url}-2", key_source_from_spec(None, rotated), clock) as v:
        result = run({"probe": "keys"}, extras=sweep_extras(v), env=rotated)
        assert result.status is Status.WARN
        assert "rotation is not complete" in result.summary and "readiness vault rewrap" in result.remediation
        dropped = run({"probe": "keys"}, extras=sweep_extras(v), env={"TOKEN_VAULT_ENCRYPTION_KEY": OTHER_KEY})
        assert dropped.status is Status.FAIL and "lacks kek:" in dropped.summary
        assert_no_key(result)
        assert_no_key(dropped)


@pytest.mark.parametrize(
    "env, words",
    [
        ({}, "TOKEN_VAULT_ENCRYPTION_KEY / TOKEN_VAULT_KEY_SOURCE not configured"),
        ({"TOKEN_VAULT_ENCRYPTION_KEY": "not base64!"}, "is not valid base64"),
        ({"TOKEN_VAULT_ENCRYPTION_KEY": base64.b64encode(bytes(32)).decode()}, "placeholder"),
        ({"TOKEN_VAULT_KEY_SOURCE": "file:/nonexistent/keys"}, "does not exist"),
        ({"TOKEN_VAULT_KEY_SOURCE": "vaultish:xyz"}, "is not a key source"),
    ],
    ids=["unset", "not-base64", "all-zero", "missing-file", "bad-spec"],
)
def test_keys_that_do_not_load_fail_with_how_to_fix(env: dict[str, str], words: str) -> None:
    result = run({"probe": "keys"}, env=env)
    assert result.status is Status.FAIL and words in result.summary


def test_keys_without_a_vault(tmp_path: Path) -> None:
    missing = vault_extras(ENV, db_url=f"sqlite:///{tmp_path / 'none.db'}")
    result = run({"probe": "keys"}, extras=missing)
    assert result.status is Status.SKIPPED and "run `readiness vault init`" in result.summary
    assert result.summary.startswith("not checked against the vault: key source env loads")
    assert result.evidence["primary"].startswith("kek:")
    pending = run({"probe": "keys"}, extras={})
    assert pending.status is Status.PENDING and "not configured for this sweep" in pending.summary


# --- audit -----------------------------------------------------------------------------------------------------


def test_audit_intact_passes(opened: Vault, clock: FixedClock) -> None:
    put(opened, clock, "a@acme.test", timedelta(hours=1))
    result = run({"probe": "audit"}, extras=sweep_extras(opened))
    assert result.status is Status.PASS and "audit chain verifies" in result.summary
    assert result.evidence["intact"] is True and result.evidence["checked"] >= 2


def test_audit_tamper_fails_naming_the_entry(opened: Vault, clock: FixedClock, sqlite_url: str) -> None:
    put(opened, clock, "a@acme.test", timedelta(hours=1))
    put(opened, clock, "b@acme.test", timedelta(hours=1))
    raw = sa.create_engine(sqlite_url)
    with raw.begin() as conn:
        conn.execute(sa.text("update audit_events set actor='mallory' where seq=2"))
    raw.dispose()
    result = run({"probe": "audit"}, extras=sweep_extras(opened))
    assert result.status is Status.FAIL
    assert "broken at entry seq 2" in result.summary and "mac mismatch" in result.summary
    assert result.evidence["first_bad_seq"] == 2 and "security incident" in result.remediation


def test_audit_with_an_actor_that_may_not_verify_cannot_tell(opened: Vault) -> None:
    result = run({"probe": "audit"}, extras={"vault": opened, "vault_actor": Actor("dash", Role.VIEWER)})
    assert result.status is Status.ERROR and "AccessDenied" in result.summary


# --- refresh ---------------------------------------------------------------------------------------------------

REFRESH_TABLE = [
    ("healthy", timedelta(hours=1), Status.PASS, "healthy", ["all 1 vault credential healthy"]),
    ("warning", timedelta(minutes=8), Status.WARN, "warning", ["expires in 8 min (warning)", "w@acme.test"]),
    ("critical", timedelta(minutes=3), Status.FAIL, "critical", ["expires in 3 min (critical)", "tenant acme"]),
    ("expired", timedelta(minutes=-4), Status.FAIL, "expired", ["expired 4 min ago"]),
    ("no-expiry", None, Status.PASS, "healthy", ["healthy"]),
]


@pytest.mark.parametrize("name, expires_in, status, health, words", REFRESH_TABLE, ids=[r[0] for r in REFRESH_TABLE])
def test_refresh_health_by_time_to_expiry(
    opened: Vault,
    clock: FixedClock,
    name: str,
    expires_in: timedelta | None,
    status: Status,
    health: str,
    words: list[str],
) -> None:
    put(opened, clock, "w@acme.test", expires_in, issued_ago=timedelta(minutes=50))
    result = run({"probe": "refresh"}, extras=sweep_extras(opened), clock=clock)
    assert result.status is status, result.summary
    for word in words:
        assert word in result.summary
    (row,) = result.evidence["by_credential"]
    assert row["health"] == health and row["provider"] == "google" and row["account"] == "w@acme.test"
    assert row["last_refresh_at"] is None and row["stored_age"] == "50 min"


def test_refresh_thresholds_are_params(opened: Vault, clock: FixedClock) -> None:
    put(opened, clock, "w@acme.test", timedelta(minutes=25))
    assert run({"probe": "refresh"}, extras=sweep_extras(opened), clock=clock).status is Status.PASS
    result = run(
        {"probe": "refresh", "warn_minutes": 60, "critical_minutes": 30}, extras=sweep_extras(opened), clock=clock
    )
    assert result.status is Status.FAIL and "(critical)" in result.summary


@pytest.fixture
def google() -> Iterator[Google]:
    standin = GoogleOAuthStandin()
    standin.register_client(*GOOGLE_CLIENT)
    with StandinServer([standin]) as server:
        yield server, standin


def test_refresh_needs_reauth_names_the_credential(opened: Vault, clock: FixedClock, google: Google) -> None:
    server, standin = google
    endpoints = {"google": ProviderEndpoint.google(*GOOGLE_CLIENT)}
    good = standin.grant("good@acme.test", GOOGLE_CLIENT[0])
    gone = standin.grant("gone@acme.test", GOOGLE_CLIENT[0])
    put(opened, clock, "good@acme.test", timedelta(minutes=5), refresh=good, issued_ago=timedelta(minutes=55))
    put(
        opened,
        clock,
        "gone@acme.test",
        timedelta(minutes=5),
        refresh=gone,
        issued_ago=timedelta(minutes=55),
        tenant="globex",
    )
    standin.set_scenario("invalid_grant", refresh_token=gone)
    with Refresher(
        opened, ADMIN, endpoints=endpoints, clock=clock, url_rewriter=standins_rewriter(server.url)
    ) as refresher:
        report = refresher.run_once()
    assert (report.refreshed, report.needs_reauth) == (1, 1)
    clock.advance(timedelta(minutes=2))
    result = run({"probe": "refresh"}, extras=sweep_extras(opened), clock=clock)
    assert result.status is Status.FAIL
    assert "1 of 2 vault credentials need attention" in result.summary
    assert "google gone@acme.test (tenant globex) needs re-authorization" in result.summary
    assert "invalid_grant" in result.summary and "consent again" in result.remediation
    rows = result.evidence["by_credential"]
    assert [r["account"] for r in rows] == ["gone@acme.test", "good@acme.test"]  # oldest last refresh first
    assert rows[1]["health"] == "healthy" and rows[1]["last_refresh_age"] == "2 min"
    assert rows[0]["health"] == "needs_reauth" and rows[0]["last_refresh_at"] is None
    assert result.evidence["counts"] == {"needs_reauth": 1, "healthy": 1}
    text = rendered(result)
    assert standin.issued_tokens() and not [t for t in standin.issued_tokens() if t in text]


def test_refresh_failures_warn(opened: Vault, clock: FixedClock, google: Google) -> None:
    server, standin = google
    token = standin.grant("slow@acme.test", GOOGLE_CLIENT[0])
    put(opened, clock, "slow@acme.test", timedelta(minutes=9), refresh=token, issued_ago=timedelta(hours=1))
    standin.set_scenario("500", status=503)
    with Refresher(
        opened,
        ADMIN,
        endpoints={"google": ProviderEndpoint.google(*GOOGLE_CLIENT)},
        clock=clock,
        url_rewriter=standins_rewriter(server.url),
    ) as refresher:
        assert refresher.run_once().backed_off == 1
    # 9 minutes left is a warning by default; with tighter thresholds the failing refresh is what shows
    result = run(
        {"probe": "refresh", "warn_minutes": 5, "critical_minutes": 2}, extras=sweep_extras(opened), clock=clock
    )
    assert result.status is Status.WARN and "refresh failing (1 attempts" in result.summary
    assert result.evidence["by_credential"][0]["failures"] == 1


def test_refresh_with_no_credentials_is_not_checked(opened: Vault, clock: FixedClock) -> None:
    result = run({"probe": "refresh"}, extras=sweep_extras(opened), clock=clock)
    assert result.status is Status.SKIPPED and "nothing to check: the vault holds no credentials yet" in result.summary
    cid = put(opened, clock, "a@acme.test", timedelta(hours=1))
    opened.revoke(ADMIN, "acme", cid)
    revoked = run({"probe": "refresh", "provider": "google"}, extras=sweep_extras(opened), clock=clock)
    assert revoked.status is Status.SKIPPED and "no google credentials yet (1 revoked)" in revoked.summary


@pytest.mark.parametrize("probe", ["audit", "refresh"])
@pytest.mark.parametrize(
    "extras, status, words",
    [
        ({}, Status.PENDING, "the vault is not configured for this sweep (set TOKEN_VAULT_DB_URL and a key)"),
        (
            {
                "vault_problem_kind": "not_initialised",
                "vault_problem": "no vault initialised at sqlite:///x.db: run `readiness vault init`",
            },
            Status.PENDING,
            "run `readiness vault init`",
        ),
        (
            {"vault_problem_kind": "key", "vault_problem": "the key source's keys match none this vault knows"},
            Status.ERROR,
            "match none this vault knows",
        ),
    ],
    ids=["not-configured", "not-initialised", "key-refused"],
)
def test_without_an_open_vault(probe: str, extras: dict[str, Any], status: Status, words: str) -> None:
    result = run({"probe": probe}, extras=extras)
    assert result.status is status and words in result.summary


# --- service ---------------------------------------------------------------------------------------------------


class _Health(BaseHTTPRequestHandler):
    answers = {
        "/healthz": (200, b'{"status": "ok"}'),
        "/sick/healthz": (503, b'{"status": "db down"}'),
        "/ietf/healthz": (200, b'{"status": "pass", "version": "1"}'),
        "/shout/healthz": (200, b'{"status": "HEALTHY"}'),
        "/degraded/healthz": (200, b'{"status": "degraded", "checks": {"db": "slow"}}'),
        "/portal/healthz": (200, b"<html><body>Sign in to the corporate network</body></html>"),
        "/broken/healthz": (200, b'{"status": "ok"'),
        "/list/healthz": (200, b'["ok"]'),
        "/nostatus/healthz": (200, b'{"healthy": true}'),
        "/empty/healthz": (200, b""),
        "/leaky/healthz": (200, b'{"status": "down: token=hunter2-vault-secret-0123456789 rejected"}'),
        "/long/healthz": (200, b"x" * 5000),
    }

    def do_GET(self) -> None:  # noqa: N802
        code, body = self.answers.get(self.path, (404, b"not found"))
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def health() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


SERVICE_TABLE = [
    ("healthy", "", {}, Status.PASS, "answers 200"),
    ("healthy-ietf-pass", "/ietf", {}, Status.PASS, "status 'pass'"),
    ("healthy-any-case", "/shout", {}, Status.PASS, "status 'HEALTHY'"),
    ("unhealthy-5xx-cannot-tell", "/sick", {}, Status.ERROR, "answered 503 (server error): could not tell"),
    ("reports-degraded", "/degraded", {}, Status.FAIL, "reports status 'degraded'"),
    ("html-on-200", "/portal", {}, Status.ERROR, "not a health answer"),
    ("invalid-json-on-200", "/broken", {}, Status.ERROR, "not a health answer"),
    ("json-list-on-200", "/list", {}, Status.ERROR, "not a health answer"),
    ("no-status-field", "/nostatus", {}, Status.ERROR, "not a health answer"),
    ("empty-200", "/empty", {}, Status.ERROR, "not a health answer"),
    ("wrong-path", "", {"health_path": "/status"}, Status.FAIL, "answered 404"),
]


@pytest.mark.parametrize("name, suffix, params, status, words", SERVICE_TABLE, ids=[r[0] for r in SERVICE_TABLE])
def test_service_health_on_loopback(
    health: str, name: str, suffix: str, params: dict[str, Any], status: Status, words: str
) -> None:
    result = run({"probe": "service", **params}, env={"TOKEN_VAULT_URL": health + suffix})
    assert result.status is status and words in result.summary, result.summary
    assert result.evidence["loopback"] is True and result.evidence["status_code"] in (200, 404, 503)
    if status is not Status.PASS:
        assert result.remediation


def test_service_answer_is_scrubbed_then_cut(health: str) -> None:
    secret = "hunter2-vault-secret-0123456789"
    result = run({"probe": "service"}, env={"TOKEN_VAULT_URL": health + "/leaky"}, scrubber=Scrubber([secret]))
    assert result.status is Status.FAIL and "reports status" in result.summary
    assert secret not in rendered(result) and "hunter2" not in rendered(result)
    long = run({"probe": "service"}, env={"TOKEN_VAULT_URL": health + "/long"})
    assert long.status is Status.ERROR and len(long.evidence["body_excerpt"]) <= 200
    assert len(long.summary) < 400


def test_service_plain_http_off_loopback_fails_without_calling() -> None:
    result = run({"probe": "service"}, env={"TOKEN_VAULT_URL": "http://vault.example.com:8200"})
    assert result.status is Status.FAIL
    assert "TLS encryption for all token vault communications" in result.summary
    assert result.evidence == {"url": "http://vault.example.com:8200", "tls": False, "loopback": False}


def test_service_refused_connection_cannot_tell(health: str) -> None:
    with StandinServer() as dead:
        url = dead.url
    result = run({"probe": "service"}, env={"TOKEN_VAULT_URL": url})
    assert result.status is Status.ERROR and "connection refused" in result.summary


@pytest.mark.parametrize(
    "params, status, words",
    [({}, Status.FAIL, "TOKEN_VAULT_URL is not set"), ({"required": False}, Status.PASS, "used in-process")],
    ids=["required", "optional"],
)
def test_service_unset(params: dict[str, Any], status: Status, words: str) -> None:
    result = run({"probe": "service", **params}, env={})
    assert result.status is status and words in result.summary


def test_service_url_credentials_are_not_shown(health: str) -> None:
    port = health.rsplit(":", 1)[1]
    result = run({"probe": "service"}, env={"TOKEN_VAULT_URL": f"http://svc:hunter2-pass@127.0.0.1:{port}"})
    assert result.status is Status.PASS and "hunter2" not in rendered(result)


# --- the service verified end to end with a probe identity (vault serve, vault.client) ------------------------------


@pytest.fixture(scope="module")
def vault_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real ``vault serve`` over TLS (a trustme CA) on loopback, and a probe identity's token."""
    from tests.vault.service_helpers import ADMIN, OffsetClock, make_tls, running_service
    from vault.service_tokens import ServiceTokens

    folder = tmp_path_factory.mktemp("vault-service")
    tls = make_tls(folder)
    with running_service(f"sqlite:///{folder / 'v.db'}", tls, OffsetClock()) as svc:
        tokens = ServiceTokens(svc.vault)
        svc.probe = tokens.create(ADMIN, "readiness-probe", Role.VIEWER).token.reveal()
        svc.gone = tokens.create(ADMIN, "old-probe", Role.VIEWER).token.reveal()
        tokens.revoke(ADMIN, "old-probe")
        svc.vault.put(ADMIN, "acme", "google", "ops@acme.test", "ya29.a0probe-" + secrets.token_urlsafe(20))
        svc.tls = tls
        yield svc


def test_service_with_a_probe_identity_is_verified_end_to_end(vault_service: Any) -> None:
    env = {
        "TOKEN_VAULT_URL": vault_service.url,
        "TOKEN_VAULT_PROBE_TOKEN": vault_service.probe,
        "TOKEN_VAULT_CA_FILE": str(vault_service.tls.ca_file),
    }
    result = run({"probe": "service"}, env=env)
    assert result.status is Status.PASS, result.summary
    assert "metadata call (1 credential(s) visible)" in result.summary and result.evidence["tls"] is True
    assert vault_service.probe not in rendered(result)
    event = vault_service.vault.audit_events(Actor("ada", Role.ADMIN), 1)[0]
    assert (event.actor, event.op, event.outcome) == ("svc:readiness-probe", "list", "ok")


def test_service_with_a_revoked_probe_identity_fails(vault_service: Any) -> None:
    env = {
        "TOKEN_VAULT_URL": vault_service.url,
        "TOKEN_VAULT_PROBE_TOKEN": vault_service.gone,
        "TOKEN_VAULT_CA_FILE": str(vault_service.tls.ca_file),
    }
    result = run({"probe": "service"}, env=env)
    assert result.status is Status.FAIL and "refused the probe identity (401 unauthorized)" in result.summary
    assert "service-token create" in result.remediation and vault_service.gone not in rendered(result)


def test_service_whose_certificate_does_not_verify_fails(vault_service: Any) -> None:
    env = {"TOKEN_VAULT_URL": vault_service.url, "TOKEN_VAULT_PROBE_TOKEN": vault_service.probe}
    result = run({"probe": "service"}, env=env)
    assert result.status is Status.FAIL and "did not verify" in result.summary
    assert "TOKEN_VAULT_CA_FILE" in result.remediation


# --- the sweep's vault (checks.shell.sweep.vault_extras) ------------------------------------------------------------


def test_vault_extras_not_configured_opens_nothing(tmp_path: Path) -> None:
    extras = vault_extras({}, db_url=f"sqlite:///{tmp_path / 'v.db'}")
    assert extras["vault_problem_kind"] == "not_configured" and "vault" not in extras
    assert extras["vault_auditor"].role is Role.AUDITOR


def test_vault_extras_does_not_create_a_database(tmp_path: Path) -> None:
    extras = vault_extras(ENV, db_url=f"sqlite:///{tmp_path / 'v.db'}")
    assert extras["vault_problem_kind"] == "not_initialised" and "readiness vault init" in extras["vault_problem"]
    assert not (tmp_path / "v.db").exists()


def test_vault_extras_opens_and_reports_a_wrong_key(opened: Vault, sqlite_url: str) -> None:
    env = {**ENV, "TOKEN_VAULT_DB_URL": sqlite_url, "TOKEN_VAULT_ACTOR": "sweep:service:sandbox"}
    extras = vault_extras(env)
    try:
        assert isinstance(extras["vault"], Vault) and "vault_problem" not in extras
        assert extras["vault_actor"] == Actor("sweep", Role.SERVICE, frozenset({"sandbox"}))
        assert run({"probe": "keys"}, extras=extras).status is Status.PASS
    finally:
        close_vault_extras(extras)
    wrong = vault_extras(
        {
            "TOKEN_VAULT_ENCRYPTION_KEY": OTHER_KEY,
            "TOKEN_VAULT_DB_URL": sqlite_url,
            "TOKEN_VAULT_ACTOR": "nobody:superuser",
        }
    )
    assert wrong["vault_problem_kind"] == "key" and "vault" not in wrong
    assert "role" in wrong["vault_actor_problem"] and "vault_actor" not in wrong
    result = run({"probe": "keys"}, extras=wrong, env={"TOKEN_VAULT_ENCRYPTION_KEY": OTHER_KEY})
    assert result.status is Status.FAIL and "the vault refuses key source env" in result.summary
    assert_no_key(result)


# --- end to end ------------------------------------------------------------------------------------------------

E2E_CHECKS = [
    check_block("vault.selftest", kind="vault", severity="major", probe="selftest"),
    check_block("vault.keys", kind="vault", severity="major", probe="keys"),
    check_block("vault.audit", kind="vault", severity="major", probe="audit"),
    check_block("vault.refresh", kind="vault", severity="major", probe="refresh"),
    check_block("vault.service", kind="vault", severity="major", probe="service"),
]


def test_readiness_check_only_vault_end_to_end(tmp_path: Path, health: str) -> None:
    from tests.checks.helpers import HEAD

    manifest = tmp_path / "readiness.toml"
    manifest.write_text(HEAD + "\n" + "\n".join(E2E_CHECKS))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOKEN_VAULT_", "READINESS_"))}
    env.update(
        TOKEN_VAULT_ENCRYPTION_KEY=KEY,
        READINESS_DB_URL=f"sqlite:///{tmp_path / 'r.db'}",
        TOKEN_VAULT_URL=health,
        PYTHONPATH=str(ROOT),
    )

    def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "checks.shell.cli", *args],
            cwd=tmp_path,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        for secret in (KEY, "ya29.e2e-access-token-value", "1//e2e-refresh-token-value"):
            assert secret not in done.stdout and secret not in done.stderr
        return done

    before = cli("check", "--manifest", str(manifest), "--only", "vault.*", "--format", "json", "--no-record")
    results = {r["id"]: r for r in json.loads(before.stdout)["results"]}
    assert results["vault.keys"]["status"] == "skipped" and "readiness vault init" in results["vault.keys"]["summary"]
    assert results["vault.audit"]["status"] == "pending"

    init = cli("vault", "init")
    assert init.returncode == 0, init.stderr
    put = cli(
        "vault",
        "put",
        "sandbox",
        "google",
        "test@sandbox.example",
        "--expires-in",
        "3600",
        "--with-refresh",
        "--as",
        "ada:admin",
        stdin="ya29.e2e-access-token-value\n1//e2e-refresh-token-value\n",
    )
    assert put.returncode == 0, put.stderr

    done = cli("check", "--manifest", str(manifest), "--only", "vault.*", "--format", "json")
    report = json.loads(done.stdout)
    results = {r["id"]: r for r in report["results"]}
    assert {k: r["status"] for k, r in results.items()} == {
        "vault.selftest": "pass",
        "vault.keys": "pass",
        "vault.audit": "pass",
        "vault.refresh": "pass",
        "vault.service": "pass",
    }, {k: r["summary"] for k, r in results.items()}
    assert results["vault.keys"]["evidence"]["primary"].startswith("kek:")
    assert results["vault.refresh"]["evidence"]["by_credential"][0]["account"] == "test@sandbox.example"
    assert done.returncode == 0 and report["verdict"] == "GO"
