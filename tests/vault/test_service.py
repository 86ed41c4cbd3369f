"""``readiness vault serve`` end to end: a real uvicorn server over TLS on loopback (a trustme CA), its
identities, the RBAC matrix on every endpoint, refusals audited, limits, logs, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
import secrets
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from vault import Role
from vault.client import VaultClient, VaultServiceError
from vault.rbac import PERMISSIONS, Op
from vault.service_app import ERRORS, ServiceSettings
from vault.service_http import PUT_FIELDS
from vault.service_openapi import _CODES, openapi_document
from vault.service_tokens import ServiceTokens

from .service_helpers import ADMIN, OffsetClock, database, make_tls, running_service

DOCS = Path(__file__).resolve().parents[2] / "docs"
ACCESS = {t: "ya29.a0svc-" + t + "-" + secrets.token_urlsafe(24) for t in ("acme", "globex")}
REFRESH = {t: "1//0gsvc-" + t + "-" + secrets.token_urlsafe(24) for t in ("acme", "globex")}
ROLES = ("admin", "service", "auditor", "viewer")


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request, tls, tmp_path_factory):
    """One server per database kind for the module; identities of every role scoped to tenant acme, one
    unscoped admin, one limited to Microsoft, one expired, one revoked; a Google credential in acme and globex."""
    clock = OffsetClock()
    with database(request.param, tmp_path_factory.mktemp("db")) as url, running_service(url, tls, clock) as svc:
        tokens = ServiceTokens(svc.vault)
        ids = {}
        for role in ROLES:
            ids[role] = tokens.create(ADMIN, f"{role}-acme", Role(role), tenants=["acme"]).token.reveal()
        ids["root"] = tokens.create(ADMIN, "root", Role.ADMIN).token.reveal()
        ids["ms-only"] = tokens.create(
            ADMIN, "ms-only", Role.SERVICE, tenants=["acme"], providers=["microsoft"]
        ).token.reveal()
        ids["expired"] = tokens.create(
            ADMIN, "expired", Role.SERVICE, tenants=["acme"], expires_in=timedelta(minutes=1)
        ).token.reveal()
        ids["revoked"] = tokens.create(ADMIN, "revoked", Role.SERVICE, tenants=["acme"]).token.reveal()
        tokens.revoke(ADMIN, "revoked")
        for tenant in ("acme", "globex"):
            svc.vault.put(
                ADMIN,
                tenant,
                "google",
                f"ops@{tenant}.test",
                ACCESS[tenant],
                REFRESH[tenant],
                expires_at=clock.now() + timedelta(hours=1),
                scopes=["openid"],
            )
        clock.offset = timedelta(0)
        svc.ids = ids
        svc.clock = clock
        svc.tls = tls
        yield svc


def client(world, who, **kw):
    return VaultClient(world.url, world.ids[who], verify=world.tls.context(), **kw)


def http(world):
    return httpx.Client(base_url=world.url, verify=world.tls.context())


def last_events(world, n=5):
    return world.vault.audit_events(ADMIN, n)


# --------------------------------------------------------------------------------- the matrix, every endpoint

ENDPOINTS = {"get": Op.GET, "put": Op.PUT, "revoke": Op.REVOKE, "list": Op.LIST, "metrics": Op.STATS}


def _call(world, endpoint, who, tenant, account):
    with client(world, who) as c:
        if endpoint == "get":
            return c.get_token(tenant, "google", account)
        if endpoint == "put":
            return c.put_token(tenant, "google", account, "ya29.a0put-" + secrets.token_urlsafe(20), expires_in=3600)
        if endpoint == "revoke":
            return c.revoke(tenant, "google", account)
        if endpoint == "list":
            return c.list(tenant)
    with http(world) as h:
        response = h.get("/metrics", headers={"Authorization": f"Bearer {world.ids[who]}"})
        if response.status_code != 200:
            raise VaultServiceError(response.json()["error"]["code"], "", response.status_code)
        return response.text


@pytest.mark.parametrize("tenant", ["acme", "globex"], ids=["own-tenant", "other-tenant"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_every_endpoint_by_role_and_tenant_follows_the_rbac_matrix(world, endpoint, role, tenant):
    account = f"{endpoint}-{role}@{tenant}.test"
    if endpoint in ("get", "revoke"):  # something to read or revoke, whoever may
        world.vault.put(
            ADMIN,
            tenant,
            "google",
            account,
            "ya29.a0m-" + secrets.token_urlsafe(20),
            expires_at=world.clock.now() + timedelta(hours=1),
        )
    allowed = Role(role) in PERMISSIONS[ENDPOINTS[endpoint]] and (tenant == "acme" or endpoint == "metrics")
    if allowed:
        answer = _call(world, endpoint, role, tenant, account)
        if endpoint == "get":
            assert answer.access_token.reveal().startswith("ya29.a0m-") and answer.credential_id
        if endpoint == "list":
            assert {c["tenant"] for c in answer} == {tenant} and all("access_token" not in c for c in answer)
        if endpoint == "metrics":
            assert "vault_service_requests_total" in answer
        event = last_events(world, 1)[0]
        assert (event.actor, event.outcome) == (f"svc:{role}-acme", "ok")
        return
    with pytest.raises(VaultServiceError) as refused:
        _call(world, endpoint, role, tenant, account)
    assert (refused.value.status, refused.value.code) == (403, "forbidden")
    event = last_events(world, 1)[0]
    assert (event.actor, event.outcome, event.op) == (f"svc:{role}-acme", "denied", ENDPOINTS[endpoint].value)


def test_an_unscoped_admin_reaches_every_tenant(world):
    with client(world, "root") as c:
        assert c.get_token("globex", "google", "ops@globex.test").access_token.reveal() == ACCESS["globex"]
        assert {x["tenant"] for x in c.list()} >= {"acme", "globex"}


# ------------------------------------------------------------------------------------ identities refused


@pytest.mark.parametrize("who, reason", [("expired", "expired"), ("revoked", "revoked")])
def test_expired_and_revoked_identities_are_refused_and_audited(world, who, reason):
    world.clock.offset = timedelta(minutes=2)  # the "expired" identity lived a minute
    try:
        with client(world, who) as c, pytest.raises(VaultServiceError) as refused:
            c.get_token("acme", "google", "ops@acme.test")
    finally:
        world.clock.offset = timedelta(0)
    assert (refused.value.status, refused.value.code) == (401, "unauthorized")
    assert reason in str(refused.value) and world.ids[who] not in str(refused.value)
    event = last_events(world, 1)[0]
    assert (event.actor, event.outcome, event.detail["reason"]) == ("anonymous", "denied", f"unauthenticated: {reason}")


@pytest.mark.parametrize(
    "header", [None, "Bearer rvs_" + "x" * 43, "Basic dXNlcjpwYXNz"], ids=["none", "unknown", "other-scheme"]
)
def test_unidentified_calls_are_401_with_a_challenge(world, header):
    with http(world) as h:
        response = h.get("/v1/tokens/acme/google/ops@acme.test", headers={"Authorization": header} if header else {})
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert ACCESS["acme"] not in response.text


def test_an_identity_outside_its_providers_is_refused(world):
    with client(world, "ms-only") as c, pytest.raises(VaultServiceError) as refused:
        c.get_token("acme", "google", "ops@acme.test")
    assert refused.value.code == "forbidden" and "providers" in str(refused.value)
    event = last_events(world, 1)[0]
    assert (event.actor, event.outcome, event.op) == ("svc:ms-only", "denied", "get")


# --------------------------------------------------------------------------------------- the token answers


def test_get_answers_the_access_token_and_never_the_refresh_token(world):
    with http(world) as h:
        response = h.get(
            "/v1/tokens/acme/google/ops@acme.test", headers={"Authorization": f"Bearer {world.ids['service']}"}
        )
    body = response.json()
    assert response.status_code == 200 and body["access_token"] == ACCESS["acme"]
    assert REFRESH["acme"] not in response.text and "refresh_token" not in body
    assert response.headers["cache-control"] == "no-store"


def test_put_then_get_then_revoke_through_the_client(world):
    account = "callback@acme.test"
    access, refresh = "ya29.a0cb-" + secrets.token_urlsafe(20), "1//0gcb-" + secrets.token_urlsafe(20)
    with client(world, "service") as c:
        stored = c.put_token("acme", "google", account, access, refresh, expires_in=3600, scopes=["email"])
        assert stored["has_refresh_token"] and stored["credential_id"]
        with c.get_token("acme", "google", account) as token:
            assert token.access_token.reveal() == access and token.scopes == ["email"]
        assert c.revoke("acme", "google", account)["state"] == "revoked"
        with pytest.raises(VaultServiceError) as gone:
            c.get_token("acme", "google", account)
        assert (gone.value.status, gone.value.code) == (410, "revoked")
        with pytest.raises(VaultServiceError) as missing:
            c.get_token("acme", "google", "nobody@acme.test")
        assert (missing.value.status, missing.value.code) == (404, "not_found")


@pytest.mark.parametrize(
    "body, fragment",
    [
        (b"not json", "not JSON"),
        (b"[1]", "JSON object"),
        (b"{}", "access_token"),
        (b'{"access_token": "ya29.x", "expires_in": -5}', "expires_in"),
        (b'{"access_token": "ya29.x", "expires_in": 5, "expires_at": "2030-01-01T00:00:00Z"}', "not both"),
        (b'{"access_token": "ya29.x", "scopes": "openid"}', "scopes"),
    ],
)
def test_a_malformed_put_is_invalid_request(world, body, fragment):
    with http(world) as h:
        response = h.put(
            "/v1/tokens/acme/google/bad@acme.test",
            content=body,
            headers={"Authorization": f"Bearer {world.ids['service']}"},
        )
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"
    assert fragment in response.json()["error"]["message"]


def test_a_body_over_the_limit_is_too_large(world):
    with http(world) as h:
        response = h.put(
            "/v1/tokens/acme/google/big@acme.test",
            content=b"x" * (64 * 1024 + 1),
            headers={"Authorization": f"Bearer {world.ids['service']}"},
        )
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"


def test_unknown_routes_and_methods_have_codes(world):
    with http(world) as h:
        assert h.get("/v2/nothing").json()["error"]["code"] == "not_found"
        response = h.delete("/v1/tokens/acme/google/ops@acme.test")
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"


def test_health_needs_no_identity_and_metrics_needs_one(world):
    with client(world, "viewer") as c:
        assert c.health()["status"] == "ok"
    with http(world) as h:
        assert h.get("/metrics").status_code == 401


def test_the_audit_chain_still_verifies_after_all_of_it(world):
    assert world.vault.verify_audit(ADMIN).ok


BAD_NAMES = {
    "nul tenant": ("/v1/tokens/acme%00/google/ops@acme.test", "tenant must not contain control characters"),
    "newline account": ("/v1/tokens/acme/google/ops%0AFORGED", "account must not contain control characters"),
    "blank provider": ("/v1/tokens/acme/%20/ops@acme.test", "provider must be a non-empty string"),
    "long account": ("/v1/tokens/acme/google/" + "a" * 321, "account is longer than 320 characters"),
}


@pytest.mark.parametrize("method", ["GET", "PUT", "POST"])
@pytest.mark.parametrize(("path", "why"), BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_a_bad_name_is_the_callers_400_audited_without_it_never_a_database_error(world, path, why, method):
    """On PostgreSQL a NUL in a name used to reach the database: 503 `unavailable`, and the refusal's audit entry
    could not be written. Now: identified first (401 whatever the path), then the name judged, then RBAC."""
    url = path + "/revoke" if method == "POST" else path
    body = {"access_token": "ya29.a0bad-name"} if method == "PUT" else None
    with http(world) as h:
        response = h.request(method, url, json=body, headers={"Authorization": f"Bearer {world.ids['root']}"})
    assert (response.status_code, response.json()["error"]) == (400, {"code": "invalid_request", "message": why})
    event = last_events(world, 1)[0]
    assert (event.actor, event.outcome, event.tenant, event.target) == ("svc:root", "error", None, None)
    assert event.detail == {"error": "invalid_request", "reason": why}


def test_an_unidentified_caller_is_told_401_before_its_path_is_judged(world):
    with http(world) as h:
        response = h.get(next(iter(BAD_NAMES.values()))[0], headers={"Authorization": "Bearer rvs_" + "z" * 43})
    assert (response.status_code, response.json()["error"]["code"]) == (401, "unauthorized")


def test_a_bad_name_in_a_listing_filter_is_400_and_an_empty_one_is_not_every_tenant(world):
    with http(world) as h:
        auth = {"Authorization": f"Bearer {world.ids['root']}"}
        for query, why in (("tenant=acme%00", "tenant must not"), ("provider=", "provider must be a non-empty")):
            response = h.get("/v1/credentials?" + query, headers=auth)
            assert response.status_code == 400 and why in response.json()["error"]["message"]
        assert {c["tenant"] for c in h.get("/v1/credentials", headers=auth).json()["credentials"]} >= {"acme", "globex"}


PUT_BODIES = {
    "misspelt field": ({"access_token": "ya29.a0x", "refreshtoken": "1//0g"}, 400, "unknown field(s): 'refreshtoken'"),
    "scopes false": ({"access_token": "ya29.a0x", "scopes": False}, 400, "scopes must be a list of strings"),
    "space at the end": ({"access_token": "ya29.a0x "}, 400, "printable ASCII with no space at either end"),
    "not ascii": ({"access_token": "ya29.é"}, 400, "printable ASCII"),
    "control character": ({"access_token": "ya29\x1d"}, 400, "printable ASCII"),
    "ten years and a day": ({"access_token": "ya29.a0x", "expires_in": 10 * 366 * 86400 + 1}, 400, "from 1 to"),
    "3600.0 is 3600": ({"access_token": "ya29.a0x", "expires_in": 3600.0}, 200, None),
    "3600.5 is not": ({"access_token": "ya29.a0x", "expires_in": 3600.5}, 400, "whole number of seconds"),
}


@pytest.mark.parametrize(("body", "status", "why"), PUT_BODIES.values(), ids=PUT_BODIES.keys())
def test_a_put_body_is_held_to_the_document(world, body, status, why):
    with http(world) as h:
        response = h.put(
            "/v1/tokens/acme/google/body@acme.test", json=body, headers={"Authorization": f"Bearer {world.ids['root']}"}
        )
    assert response.status_code == status, response.text
    if why is not None:
        assert why in response.json()["error"]["message"]
    else:
        expires = datetime.fromisoformat(response.json()["expires_at"])
        assert abs(expires - (world.clock.now() + timedelta(seconds=3600))) < timedelta(seconds=30)


def test_the_documented_put_body_is_the_one_the_service_reads():
    store = openapi_document()["components"]["schemas"]["StoreTokens"]
    assert set(store["properties"]) == PUT_FIELDS and store["additionalProperties"] is False


# ---------------------------------------------------------------------------------------- the contract


def test_the_openapi_document_served_is_the_committed_one(world):
    with http(world) as h:
        served = h.get("/openapi.json").json()
    assert served == openapi_document() == json.loads((DOCS / "vault-openapi.json").read_text())


def test_every_error_code_is_documented_with_its_status():
    assert {c: s for c, (s, _) in _CODES.items()} == ERRORS


# ------------------------------------------------------------------------------------------ TLS and logs


def test_a_client_that_does_not_trust_the_ca_is_refused_by_tls(world):
    with VaultClient(world.url, world.ids["service"], verify=True) as c, pytest.raises(VaultServiceError) as bad:
        c.health()
    assert bad.value.code == "tls" and bad.value.status is None


def test_no_token_reaches_a_log_line(world, caplog):
    caplog.set_level(logging.DEBUG)
    secret_access, secret_refresh = "ya29.a0log-" + secrets.token_urlsafe(20), "1//0glog-" + secrets.token_urlsafe(20)
    with client(world, "service") as c:
        c.put_token("acme", "google", "log@acme.test", secret_access, secret_refresh, expires_in=3600)
        c.get_token("acme", "google", "log@acme.test").wipe()
    with http(world) as h:  # a token where a path segment goes, and a broken body carrying one
        h.get(f"/v1/tokens/acme/google/{secret_access}", headers={"Authorization": f"Bearer {world.ids['service']}"})
        h.put(
            "/v1/tokens/acme/google/x",
            content=f'{{"access_token": "{secret_access}", "x": '.encode(),
            headers={"Authorization": f"Bearer {world.ids['service']}"},
        )
        h.get("/v1/credentials", headers={"Authorization": f"Bearer {secret_refresh}"})
    text = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert "/v1/tokens/acme/google/" in text  # the requests were logged
    for secret in (secret_access, secret_refresh, world.ids["service"]):
        assert secret not in text


# ------------------------------------------------------------------------- limits, listening, mutual TLS


def test_an_identity_over_its_rate_is_told_when_to_come_back(tls, tmp_path):
    clock = OffsetClock()
    with (
        database("sqlite", tmp_path) as url,
        running_service(url, tls, clock, settings=ServiceSettings(rate=0.5, burst=2, auth_cache_ttl=0)) as svc,
    ):
        token = ServiceTokens(svc.vault).create(ADMIN, "busy", Role.VIEWER).token.reveal()
        other = ServiceTokens(svc.vault).create(ADMIN, "calm", Role.VIEWER).token.reveal()
        with VaultClient(svc.url, token, verify=tls.context()) as c:
            c.list()
            c.list()
            with pytest.raises(VaultServiceError) as limited:
                c.list()
        assert (limited.value.status, limited.value.code) == (429, "rate_limited")
        assert limited.value.retry_after and limited.value.retry_after >= 1
        with VaultClient(svc.url, other, verify=tls.context()) as c:
            assert c.list() == []  # another identity has its own bucket


@pytest.mark.parametrize(
    "host, cert, refused",
    [
        ("127.0.0.1", False, None),
        ("::1", False, None),
        ("localhost", False, None),
        ("0.0.0.0", False, "refusing plain HTTP"),
        ("10.1.2.3", False, "refusing plain HTTP"),
        ("0.0.0.0", True, None),
    ],
)
def test_plain_http_only_on_loopback(tls, host, cert, refused):
    from vault.serve import ServeRefused, check_listen

    pair = (tls.cert, tls.key) if cert else (None, None)
    if refused is None:
        assert check_listen(host, *pair) is cert
        return
    with pytest.raises(ServeRefused, match=refused):
        check_listen(host, *pair)


def test_half_a_tls_pair_or_mutual_tls_without_tls_is_refused(tls, tmp_path):
    from vault.serve import ServeRefused, check_listen

    with pytest.raises(ServeRefused, match="both --cert and --key"):
        check_listen("127.0.0.1", tls.cert, None)
    with pytest.raises(ServeRefused, match="needs --cert"):
        check_listen("127.0.0.1", None, None, tls.ca_file)
    with pytest.raises(ServeRefused, match="no such file"):
        check_listen("127.0.0.1", tmp_path / "missing.pem", tls.key)


def test_serve_off_loopback_without_tls_exits_2_in_one_line(tmp_path):
    from tests.vault.test_vault_cli import Cli

    cli = Cli(tmp_path)
    proc = cli("serve", "--host", "0.0.0.0", "--port", "0")
    assert proc.returncode == 2 and "refusing plain HTTP" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_mutual_tls_wants_a_client_certificate_from_the_ca(tls, tmp_path):
    clock = OffsetClock()
    with database("sqlite", tmp_path) as url, running_service(url, tls, clock, client_ca=tls.ca_file) as svc:
        token = ServiceTokens(svc.vault).create(ADMIN, "mtls", Role.VIEWER).token.reveal()
        with VaultClient(svc.url, token, verify=tls.context(client_cert=True)) as c:
            assert c.health()["status"] == "ok" and c.list() == []
        with VaultClient(svc.url, token, verify=tls.context()) as c, pytest.raises(VaultServiceError) as refused:
            c.list()
        assert refused.value.status is None  # the handshake failed: no HTTP answer at all


def test_the_listening_socket_says_tcp_so_asyncio_sets_nodelay():
    """asyncio sets TCP_NODELAY on accepted sockets only when the listener's proto is IPPROTO_TCP; a socket made
    with proto 0 made every answer wait for the client's delayed ACK (40 ms, the benchmark's first run)."""
    import socket

    from vault.serve import ServeRefused, bind

    sock = bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
        sock.listen()
        with pytest.raises(ServeRefused, match="cannot listen"):
            bind("127.0.0.1", sock.getsockname()[1])
    finally:
        sock.close()


def test_readiness_vault_serve_serves_over_tls_and_logs_each_request_scrubbed(tls, tmp_path):
    import socket
    import subprocess
    import sys
    import time

    from tests.vault.test_vault_cli import Cli

    cli = Cli(tmp_path)
    cli.ok("init")
    token = cli.ok("service-token", "create", "wizard", "--tenant", "acme", "--as", "ada:admin").stdout.strip()
    access = "ya29.a0served-" + secrets.token_urlsafe(20)
    cli.ok("put", "acme", "google", "ops@acme.test", "--as", "ada:admin", stdin=access + "\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "checks.shell.cli",
                "vault",
                "serve",
                "--port",
                str(port),
                "--cert",
                str(tls.cert),
                "--key",
                str(tls.key),
            ],
            env=cli.env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
        try:
            with VaultClient(f"https://127.0.0.1:{port}", token, verify=tls.context()) as c:
                for _ in range(300):
                    try:
                        c.health()
                        break
                    except VaultServiceError:
                        assert proc.poll() is None, log.read_text()
                        time.sleep(0.05)
                assert c.get_token("acme", "google", "ops@acme.test").access_token.reveal() == access
        finally:
            proc.terminate()
            proc.wait(20)
    text = log.read_text()
    assert "vault service on https://127.0.0.1" in text
    assert "GET /v1/tokens/acme/google/ops@acme.test 200 wizard" in text
    assert access not in text and token not in text


# --------------------------------------------------------------------------- the limits' and cache's rules


class Ticks:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_token_buckets_refill_at_the_rate_and_keys_are_apart():
    from vault.service_auth import RateLimiter

    ticks = Ticks()
    limits = RateLimiter(2.0, 3, monotonic=ticks)
    assert [limits.take("a") for _ in range(3)] == [None, None, None]
    assert limits.take("a") == pytest.approx(0.5)
    assert limits.take("b") is None
    ticks.t += 0.5
    assert limits.take("a") is None and limits.take("a") is not None
    ticks.t += 100
    assert [limits.take("a") for _ in range(4)][-1] is not None  # refills to the burst, not beyond


def test_a_cached_identity_is_trusted_for_the_ttl_then_its_revocation_counts(vault_):
    from vault.service_auth import Authenticator
    from vault.service_tokens import Unauthenticated

    tokens, ticks = ServiceTokens(vault_), Ticks()
    token = tokens.create(ADMIN, "cached", Role.VIEWER).token.reveal()
    auth = Authenticator(tokens, cache_ttl=1.0, monotonic=ticks)
    assert auth.identify(token).name == "cached"
    tokens.revoke(ADMIN, "cached")
    assert auth.identify(token).name == "cached"  # within the TTL: the documented revocation delay
    ticks.t += 1.0
    with pytest.raises(Unauthenticated):
        auth.identify(token)


def test_a_forwarded_for_header_does_not_change_who_the_caller_is(world):
    """The service terminates TLS itself and sits behind no proxy: a caller's address is its socket's peer.
    A header claiming another address must neither be written to the audit chain as the caller's nor give an
    unidentified caller a fresh rate-limit bucket per made-up address."""
    statuses = []
    with http(world) as h:
        for i in range(12):
            response = h.get(
                "/v1/tokens/acme/google/ops@acme.test",
                headers={"Authorization": "Bearer rvs_" + "y" * 43, "X-Forwarded-For": f"203.0.113.{i + 1}"},
            )
            statuses.append(response.status_code)
    assert 429 in statuses  # one bucket for all twelve (the default allows a burst of 10 a second)
    clients = {e.detail.get("client") for e in last_events(world, 20) if e.actor == "anonymous"}
    assert clients == {"127.0.0.1"}
