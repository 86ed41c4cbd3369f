"""Kind ``oauth_microsoft`` against the Microsoft stand-ins on loopback: every probe through every scenario.

The stand-ins speak real HTTP (``checks.standins.oauth.MicrosoftOAuthStandin`` for login.microsoftonline.com,
``checks.standins.microsoft.GraphStandin`` for graph.microsoft.com, which accepts only tokens the former
issued or that a test gave it); the kind reaches them through ``standins_url``, exactly as
``READINESS_STANDINS_URL`` reroutes it in a sweep.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from checks.builtin.microsoft_scopes import review_scopes
from checks.builtin.oauth_microsoft import OAuthMicrosoftParams, oauth_microsoft
from checks.core.clock import FixedClock
from checks.core.manifest import Manifest
from checks.core.manifest_load import load_manifest
from checks.core.runner import run_checks
from checks.core.status import Status
from checks.standins.microsoft import GRAPH_HOST, AppRegistration, GraphStandin, password_credential, set_scenario
from checks.standins.oauth import MicrosoftOAuthStandin
from checks.standins.server import StandinServer, json_response
from tests.checks.helpers import check_block, make_manifest, run_kind
from tests.valid_env import VALID_ENV
from vault import Actor, Role, StaticKeySource, Vault

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
CLIENT_ID = VALID_ENV["MICROSOFT_OAUTH_CLIENT_ID"]
SECRET = VALID_ENV["MICROSOFT_OAUTH_CLIENT_SECRET"]
TENANT_ID = VALID_ENV["MICROSOFT_TENANT_ID"]
DOMAIN = "maxaisandbox.onmicrosoft.com"
SECRET_KEY_ID = "5d3c1a2b-9e8f-4a7b-8c6d-0e1f2a3b4c5d"
OTHER_SECRET = "Ab1Q~SomeOtherSecretNotReal.zyxwvutsrqponmlkj"
CAL_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.calendar-test-token.0123456789abcdef"
REFRESH = "0.ARcalendar-refresh-test-token-0123456789"
ACCOUNT = "adelev@maxaisandbox.onmicrosoft.com"
VAULT_TENANT = "sandbox"
ADMIN = Actor("readiness-test", Role.ADMIN)
NOW = datetime(2025, 10, 6, 9, 0, tzinfo=UTC)
REDIRECTS = {
    "dev": "https://dev.maxai-platform.com/api/auth/oauth/microsoft/callback",
    "staging": "https://staging.maxai-platform.com/api/auth/oauth/microsoft/callback",
    "app": "https://app.maxai-platform.com/api/auth/oauth/microsoft/callback",
}
SEED_SCOPES = [
    "https://graph.microsoft.com/calendars.readwrite",
    "https://graph.microsoft.com/mail.read",
    "https://graph.microsoft.com/offline_access",
]
CANONICAL_SCOPES = [
    "https://graph.microsoft.com/Calendars.ReadWrite",
    "https://graph.microsoft.com/Mail.Read",
    "offline_access",
]
SEED_WARNING = (
    "3 scope fixes in [oauth_apps.microsoft]: "
    "write offline_access, not https://graph.microsoft.com/offline_access: the prefixed form yields no refresh token; "
    "write https://graph.microsoft.com/Calendars.ReadWrite, not https://graph.microsoft.com/calendars.readwrite "
    "(Graph's canonical casing); "
    "write https://graph.microsoft.com/Mail.Read, not https://graph.microsoft.com/mail.read (Graph's canonical casing)"
)
MISSING_STAGING = (
    f"the app registration lacks the staging redirect URI {REDIRECTS['staging']}: add it under Authentication › Web › "
    "Redirect URIs in Azure Portal › App registrations"
)


def clock() -> float:
    return NOW.timestamp()


def app_toml(scopes: list[str] = SEED_SCOPES, tenant_env: str | None = "MICROSOFT_TENANT_ID") -> str:
    uris = ", ".join(f'{{ environment = "{e}", uri = "{u}" }}' for e, u in REDIRECTS.items())
    tenant = f'tenant_id_env = "{tenant_env}"' if tenant_env else ""
    return f"""
[oauth_apps.microsoft]
item = "a.one"
provider = "microsoft"
title = "Microsoft OAuth Application"
apis = ["Microsoft Graph API"]
client_id_env = "MICROSOFT_OAUTH_CLIENT_ID"
client_secret_env = "MICROSOFT_OAUTH_CLIENT_SECRET"
{tenant}
redirect_uris = [{uris}]
scopes = {json.dumps(scopes)}

[oauth_apps.google]
item = "a.one"
provider = "google"
title = "Google OAuth Application"
client_id_env = "GOOGLE_OAUTH_CLIENT_ID"
client_secret_env = "GOOGLE_OAUTH_CLIENT_SECRET"
"""


MANIFEST = make_manifest(check_block("m"), extra=app_toml())
BASE_ENV = {
    "MICROSOFT_OAUTH_CLIENT_ID": CLIENT_ID,
    "MICROSOFT_OAUTH_CLIENT_SECRET": SECRET,
    "MICROSOFT_TENANT_ID": TENANT_ID,
}


def registration(**changes: Any) -> AppRegistration:
    """The app as Azure holds it: the three redirect URIs, the secret in use (200 days left), an expired one."""
    app = AppRegistration(
        CLIENT_ID,
        web=dict(REDIRECTS),
        secrets=[
            password_credential("readiness", NOW + timedelta(days=200), hint=SECRET[:3], key_id=SECRET_KEY_ID),
            password_credential("old", NOW - timedelta(days=30), hint=OTHER_SECRET[:3]),
        ],
    )
    return dataclasses.replace(app, **changes)


@dataclasses.dataclass
class Microsoft:
    """The stand-ins of both hosts the kind calls, on one loopback server."""

    server: StandinServer
    login: MicrosoftOAuthStandin
    graph: GraphStandin

    @property
    def url(self) -> str:
        return self.server.url

    def scenario(self, name: str, **options: Any) -> None:
        set_scenario([self.login, self.graph], name, **options)

    def tokens(self) -> list[str]:
        return self.login.issued_tokens()


@pytest.fixture(scope="module")
def module_microsoft() -> Iterator[Microsoft]:
    login = MicrosoftOAuthStandin(clock=clock)
    graph = GraphStandin([registration()], accounts={CAL_TOKEN: ACCOUNT}, issuer=login, clock=clock)
    with StandinServer([login, graph]) as server:
        yield Microsoft(server, login, graph)


@pytest.fixture
def ms(module_microsoft: Microsoft) -> Microsoft:
    m = module_microsoft
    m.login.reset()
    m.login.add_tenant(TENANT_ID, domains=[DOMAIN])
    m.login.register_client(CLIENT_ID, SECRET, tenant=TENANT_ID, roles=["Application.Read.All"])
    m.graph.register_app(registration())
    m.graph.reset()
    return m


@pytest.fixture
def vault_(tmp_path) -> Iterator[Vault]:
    v = Vault.init(f"sqlite:///{tmp_path / 'vault.db'}", StaticKeySource(bytes(range(32))), FixedClock(NOW))
    yield v
    v.close()


def put_token(v: Vault, token: str = CAL_TOKEN, account: str = ACCOUNT) -> str:
    return v.put(
        ADMIN,
        VAULT_TENANT,
        "microsoft",
        account,
        token,
        refresh_token=REFRESH,
        expires_at=NOW + timedelta(hours=1),
        scopes=["https://graph.microsoft.com/Calendars.ReadWrite", "offline_access"],
    )


def run(
    params: dict[str, Any],
    standins_url: str | None,
    *,
    env: dict[str, str] | None = None,
    timeout_s: float | None = None,
    manifest: Manifest = MANIFEST,
    extras: dict[str, Any] | None = None,
) -> Any:
    validated = OAuthMicrosoftParams.model_validate(params)
    return run_kind(
        lambda ctx: oauth_microsoft(validated, ctx),
        kind="oauth_microsoft",
        params=params,
        manifest=manifest,
        env=BASE_ENV if env is None else env,
        check_id="oauth.microsoft.probe",
        timeout_s=timeout_s,
        clock=FixedClock(NOW),
        standins_url=standins_url,
        extras=extras or {},
        client_options={"timeout": 5.0},
    )


def assert_clean(result: Any, *extra: str) -> None:
    text = f"{dataclasses.asdict(result)!r} {result!r}"
    for secret in (SECRET, CAL_TOKEN, REFRESH, *extra):
        assert not secret or secret not in text, "a secret leaked into the result"


Arrange = Callable[[Microsoft], None]


def nothing(m: Microsoft) -> None:
    pass


def scenario(name: str, **options: Any) -> Arrange:
    return lambda m: m.scenario(name, **options)


def graph_only(name: str, **options: Any) -> Arrange:
    return lambda m: m.graph.set_scenario(name, **options)


FAULTS: list[tuple[str, Arrange, Status, str]] = [
    ("slow", scenario("slow", seconds=1.0), Status.ERROR, "did not answer within 0.3s"),
    ("500", scenario("500"), Status.ERROR, "answered 500 (server error)"),
    ("429", scenario("429", retry_after=0), Status.ERROR, "rate limiting (429)"),
    ("garbage", scenario("garbage"), Status.ERROR, "not a JSON object"),
]


def timeout_for(words: str) -> float | None:
    return 0.3 if "0.3s" in words else None


# --- tenant: the OpenID discovery document -----------------------------------------------------------------------

UNKNOWN_TENANT = (
    f"Microsoft knows no tenant {TENANT_ID} (AADSTS90002): fix MICROSOFT_TENANT_ID: copy the Directory (tenant) ID "
    "from Azure Portal › App registrations › your app › Overview"
)
TENANT_CASES: list[tuple[str, Arrange, dict[str, str], Status, str]] = [
    ("valid", nothing, {}, Status.PASS, f"tenant {TENANT_ID} exists, region NA"),
    (
        "valid-domain",
        nothing,
        {"MICROSOFT_TENANT_ID": DOMAIN},
        Status.PASS,
        f"tenant {DOMAIN} (Directory ID {TENANT_ID}) exists, region NA",
    ),
    ("unknown_tenant", scenario("unknown_tenant"), {}, Status.FAIL, UNKNOWN_TENANT),
    (
        "unknown_tenant-typo",
        nothing,
        {"MICROSOFT_TENANT_ID": "maxai-sandbox.onmicrosoft.com"},
        Status.FAIL,
        "Microsoft knows no tenant maxai-sandbox.onmicrosoft.com (AADSTS90002)",
    ),
    *(
        (
            f"alias-{alias}",
            nothing,
            {"MICROSOFT_TENANT_ID": alias},
            Status.FAIL,
            f"MICROSOFT_TENANT_ID is '{alias}', a multi-tenant alias: client credentials need the tenant itself",
        )
        for alias in ("common", "organizations", "consumers")
    ),
    ("tenant_missing", nothing, {"MICROSOFT_TENANT_ID": ""}, Status.FAIL, "MICROSOFT_TENANT_ID is not set"),
    *[(n, a, {}, s, w) for n, a, s, w in FAULTS],
]


@pytest.mark.parametrize(
    ("arrange", "env", "status", "words"), [c[1:] for c in TENANT_CASES], ids=[c[0] for c in TENANT_CASES]
)
def test_tenant_probe(ms: Microsoft, arrange: Arrange, env: dict[str, str], status: Status, words: str) -> None:
    arrange(ms)
    result = run({"probe": "tenant"}, ms.url, env={**BASE_ENV, **env}, timeout_s=timeout_for(words))
    assert result.status is status, result
    assert words in result.summary
    assert_clean(result)


def test_tenant_evidence_comes_from_the_discovery_document(ms: Microsoft) -> None:
    result = run({"probe": "tenant"}, ms.url, env={**BASE_ENV, "MICROSOFT_TENANT_ID": DOMAIN})
    assert result.evidence["issuer"] == f"https://login.microsoftonline.com/{TENANT_ID}/v2.0"
    assert result.evidence["tenant_id"] == TENANT_ID
    assert result.evidence["tenant_region_scope"] == "NA"
    assert result.evidence["token_endpoint"] == f"https://login.microsoftonline.com/{TENANT_ID}/oauth2/v2.0/token"


def test_tenant_alias_is_refused_without_asking(ms: Microsoft) -> None:
    result = run({"probe": "tenant"}, "http://127.0.0.1:9", env={**BASE_ENV, "MICROSOFT_TENANT_ID": "common"})
    assert result.status is Status.FAIL, "no request is sent (port 9 would refuse it)"


def test_unknown_tenant_reads_the_error_codes(ms: Microsoft) -> None:
    ms.scenario("unknown_tenant")
    result = run({"probe": "tenant"}, ms.url)
    assert result.summary == UNKNOWN_TENANT
    assert result.evidence["error_codes"] == [90002]
    assert result.evidence["error"] == "invalid_tenant"


def test_manifest_without_tenant_id_env_cannot_tell(ms: Microsoft) -> None:
    manifest = make_manifest(check_block("m"), extra=app_toml(tenant_env=None))
    result = run({"probe": "tenant"}, ms.url, manifest=manifest)
    assert result.status is Status.ERROR and "has no tenant_id_env" in result.summary


# --- client: the client-credentials grant ------------------------------------------------------------------------

SECRET_PAGE = "Azure Portal › App registrations › your app › Certificates & secrets"
CLIENT_CASES: list[tuple[str, Arrange, dict[str, str], Status, str]] = [
    (
        "valid",
        nothing,
        {},
        Status.PASS,
        f"Microsoft issues app {CLIENT_ID} a Graph token in tenant {TENANT_ID}: the client id and secret work",
    ),
    ("unknown_tenant", scenario("unknown_tenant"), {}, Status.FAIL, UNKNOWN_TENANT),
    (
        "unknown_client",
        scenario("unknown_client"),
        {},
        Status.FAIL,
        f"Microsoft knows no application {CLIENT_ID} in tenant {TENANT_ID} (AADSTS700016): fix "
        "MICROSOFT_OAUTH_CLIENT_ID, or MICROSOFT_TENANT_ID if the app is registered in another tenant",
    ),
    (
        "wrong_secret",
        scenario("wrong_secret"),
        {},
        Status.FAIL,
        f"Microsoft refuses MICROSOFT_OAUTH_CLIENT_SECRET for app {CLIENT_ID} (AADSTS7000215 invalid client secret): "
        f"often the secret's ID was pasted instead of its Value; copy the Value from {SECRET_PAGE}",
    ),
    (
        "wrong_secret-configured",
        nothing,
        {"MICROSOFT_OAUTH_CLIENT_SECRET": OTHER_SECRET},
        Status.FAIL,
        "(AADSTS7000215 invalid client secret): often the secret's ID was pasted instead of its Value",
    ),
    (
        "secret_id_pasted",
        scenario("secret_id_pasted"),
        {"MICROSOFT_OAUTH_CLIENT_SECRET": SECRET_KEY_ID},
        Status.FAIL,
        f"Microsoft refuses MICROSOFT_OAUTH_CLIENT_SECRET for app {CLIENT_ID} (AADSTS7000215 invalid client secret): "
        f"it holds a GUID, which is the secret's ID, not its Value; copy the Value from {SECRET_PAGE}",
    ),
    (
        "expired_secret",
        scenario("expired_secret"),
        {},
        Status.FAIL,
        f"the client secret in MICROSOFT_OAUTH_CLIENT_SECRET for app {CLIENT_ID} has expired (AADSTS7000222): "
        f"create a new one in {SECRET_PAGE} and update MICROSOFT_OAUTH_CLIENT_SECRET",
    ),
    (
        "alias-common",
        nothing,
        {"MICROSOFT_TENANT_ID": "common"},
        Status.FAIL,
        "MICROSOFT_TENANT_ID is 'common', a multi-tenant alias",
    ),
    (
        "client_id_missing",
        nothing,
        {"MICROSOFT_OAUTH_CLIENT_ID": ""},
        Status.FAIL,
        "MICROSOFT_OAUTH_CLIENT_ID is not set",
    ),
    (
        "secret_missing",
        nothing,
        {"MICROSOFT_OAUTH_CLIENT_SECRET": ""},
        Status.FAIL,
        "MICROSOFT_OAUTH_CLIENT_SECRET is not set: copy the client secret's Value",
    ),
    *[(n, a, {}, s, w) for n, a, s, w in FAULTS],
]


@pytest.mark.parametrize(
    ("arrange", "env", "status", "words"), [c[1:] for c in CLIENT_CASES], ids=[c[0] for c in CLIENT_CASES]
)
def test_client_probe(ms: Microsoft, arrange: Arrange, env: dict[str, str], status: Status, words: str) -> None:
    arrange(ms)
    result = run({"probe": "client"}, ms.url, env={**BASE_ENV, **env}, timeout_s=timeout_for(words))
    assert result.status is status, result
    assert words in result.summary
    assert_clean(result, env.get("MICROSOFT_OAUTH_CLIENT_SECRET", SECRET), *ms.tokens())


def test_client_evidence_shows_no_token(ms: Microsoft) -> None:
    result = run({"probe": "client"}, ms.url)
    assert result.status is Status.PASS
    assert result.evidence["token_type"] == "Bearer" and result.evidence["expires_in"] == 3599
    assert result.evidence["roles"] == ["Application.Read.All"]
    assert result.evidence["client_secret"].startswith("fp:")
    assert "access_token" not in result.evidence
    assert ms.tokens(), "a token was issued..."
    assert_clean(result, *ms.tokens())  # ...and appears nowhere in the result


def test_client_of_another_tenant_is_no_such_app(ms: Microsoft) -> None:
    other = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
    ms.login.add_tenant(other)
    result = run({"probe": "client"}, ms.url, env={**BASE_ENV, "MICROSOFT_TENANT_ID": other})
    assert result.status is Status.FAIL and "(AADSTS700016)" in result.summary
    assert result.evidence["error_codes"] == [700016]
    assert CLIENT_ID in result.evidence["error_description"], "client ids are not secret: AAD's text is kept"


class OddTokenEndpoint:
    """login.microsoftonline.com answering an AADSTS code the kind has no meaning for."""

    host = "login.microsoftonline.com"

    def handle(self, method, path, query, headers, body):
        return json_response(
            401,
            {
                "error": "invalid_client",
                "error_description": "AADSTS7009999: Client is odd so neither 'client_assertion' nor "
                f"'client_secret' should be presented. Secret was {SECRET}. Trace ID: abc Correlation ID: def",
                "error_codes": [7009999],
            },
        )


def test_client_other_codes_cannot_tell_and_are_scrubbed() -> None:
    with StandinServer([OddTokenEndpoint()]) as server:
        result = run({"probe": "client"}, server.url)
    assert result.status is Status.ERROR
    assert result.summary.startswith(
        "Microsoft's token endpoint answered 401 invalid_client AADSTS7009999 (Client is odd so neither"
    )
    assert result.evidence["error_codes"] == [7009999]
    assert_clean(result)


REFUSED = f"Microsoft refuses app {CLIENT_ID} in tenant {TENANT_ID}"
NA = "could not tell whether the app's credentials work; this probe signs no user in"
AADSTS_CASES: list[tuple[str, int, Status, str]] = [
    ("app-disabled", 7000112, Status.FAIL, f"{REFUSED} (AADSTS7000112: the application is disabled): enable it"),
    (
        "no-service-principal",
        7000229,
        Status.FAIL,
        "(AADSTS7000229: the app has no service principal in the tenant): "
        f"create it: `az ad sp create --id {CLIENT_ID}`",
    ),
    ("not-enabled-for-accounts", 70002, Status.FAIL, "(AADSTS70002: the client does not exist"),
    ("public-client", 700025, Status.FAIL, "(AADSTS700025: the app is a public client"),
    ("conditional-access", 53003, Status.FAIL, "(AADSTS53003: Conditional Access blocked the app)"),
    ("not-multi-tenant", 50194, Status.FAIL, "(AADSTS50194: the app is not multi-tenant)"),
    ("invalid-tenant-id", 900023, Status.FAIL, f"Microsoft does not accept as a tenant {TENANT_ID} (AADSTS900023)"),
    (
        "no-tenant-in-request",
        50059,
        Status.FAIL,
        "(AADSTS50059: no tenant named in the request): set MICROSOFT_TENANT_ID",
    ),
    ("secret-or-assertion-required", 7000218, Status.FAIL, "(AADSTS7000218: neither a client secret nor"),
    ("bad-client-assertion", 700027, Status.FAIL, "(AADSTS700027: the client assertion failed signature validation)"),
    ("missing-field", 90014, Status.FAIL, "(AADSTS90014: a required field is missing from the request)"),
    ("missing-client-id", 900144, Status.FAIL, "(AADSTS900144: a required parameter is missing"),
    ("invalid-scope", 70011, Status.FAIL, "(AADSTS70011: invalid scope): ask for RESOURCE/.default"),
    (
        "token-for-itself",
        90009,
        Status.FAIL,
        f"(AADSTS90009: the app asks a token for itself by name): name the "
        f"resource by its GUID-based App ID URI (api://{CLIENT_ID}/.default)",
    ),
    ("resource-not-in-tenant", 500011, Status.FAIL, "(AADSTS500011: the resource principal is not in the tenant)"),
    ("consent-not-granted", 65001, Status.FAIL, "(AADSTS65001: consent not granted): grant admin consent"),
    ("reply-url-mismatch", 50011, Status.FAIL, "(AADSTS50011: the reply (redirect) URI does not match the app's)"),
    ("id-token-not-enabled", 700054, Status.FAIL, "(AADSTS700054: response_type id_token is not enabled for the app)"),
    ("malformed-request", 9002313, Status.ERROR, "AADSTS9002313 (invalid request, without saying which part)"),
    ("user-not-found-na", 50034, Status.ERROR, f"AADSTS50034 (the user account does not exist): {NA}"),
    ("bad-password-na", 50126, Status.ERROR, f"AADSTS50126 (invalid user name or password): {NA}"),
    ("mfa-na", 50076, Status.ERROR, f"AADSTS50076 (multi-factor authentication required): {NA}"),
    ("mfa-enroll-na", 50079, Status.ERROR, f"AADSTS50079 (the user must enroll in multi-factor authentication): {NA}"),
    ("locked-throttled", 50053, Status.ERROR, "AADSTS50053 (sign-in locked or blocked"),
    ("request-loop-throttled", 50196, Status.ERROR, "AADSTS50196 (client request loop (throttled)): could not tell"),
]


@pytest.mark.parametrize(("code", "status", "words"), [c[1:] for c in AADSTS_CASES], ids=[c[0] for c in AADSTS_CASES])
def test_client_reads_every_aadsts_code_a_misconfigured_app_draws(
    ms: Microsoft, code: int, status: Status, words: str
) -> None:
    ms.scenario("aadsts", code=code)
    result = run({"probe": "client"}, ms.url)
    assert result.status is status, result
    assert words in result.summary
    assert f"AADSTS{code}" in result.summary
    assert "could not tell" in result.summary or status is Status.FAIL
    assert result.evidence["error_codes"] == [code]
    assert_clean(result, *ms.tokens())


def test_an_invalid_tenant_identifier_fails_with_the_fix(ms: Microsoft) -> None:
    # AADSTS900023 (neither a GUID nor a DNS name): the release manager is told which variable to fix and how.
    ms.scenario("aadsts", code=900023)
    result = run({"probe": "client"}, ms.url)
    assert result.status is Status.FAIL, result
    assert result.summary == (
        f"Microsoft does not accept as a tenant {TENANT_ID} (AADSTS900023): fix MICROSOFT_TENANT_ID: a GUID or "
        "verified domain from Azure Portal › App registrations › your app › Overview"
    )
    assert result.remediation.startswith("Use the GUID (or a verified domain such as contoso.onmicrosoft.com)")
    assert result.evidence["error_codes"] == [900023]
    assert_clean(result, *ms.tokens())


def test_the_aadsts_scenario_over_the_control_surface(ms: Microsoft) -> None:
    control = f"{ms.url}/_standins/login.microsoftonline.com"
    assert httpx.post(f"{control}/scenario", json={"name": "aadsts", "code": 7000229}).status_code == 200
    result = run({"probe": "client"}, ms.url)
    assert result.status is Status.FAIL and "AADSTS7000229" in result.summary


def test_client_credentials_go_to_the_tenant_with_the_default_scope(ms: Microsoft) -> None:
    seen: list[dict[str, Any]] = []

    class Spy:
        host = "login.microsoftonline.com"

        def handle(self, method, path, query, headers, body):
            seen.append({"path": path, "form": dict(httpx.QueryParams(body.decode()))})
            return ms.login.handle(method, path, query, headers, body)

    with StandinServer([Spy()]) as server:
        assert run({"probe": "client"}, server.url).status is Status.PASS
    assert seen[0]["path"] == f"/{TENANT_ID}/oauth2/v2.0/token"
    form = seen[0]["form"]
    assert form["grant_type"] == "client_credentials" and form["client_id"] == CLIENT_ID
    assert form["scope"] == "https://graph.microsoft.com/.default"


# --- registration: the app as Graph holds it ---------------------------------------------------------------------

REGISTRATION_CASES: list[tuple[str, Arrange, Status, str]] = [
    (
        "valid",
        nothing,
        Status.PASS,
        "the app registration MaxAI Platform lists all 3 redirect URIs (dev, staging, app); the client secret in use "
        "(readiness) expires in 200 days (2026-04-24)",
    ),
    ("redirect_missing", scenario("redirect_missing", environment="staging"), Status.FAIL, MISSING_STAGING),
    (
        "secret_expiring",
        scenario("secret_expiring", days=12),
        Status.WARN,
        "the client secret in use (readiness) expires in 12 days (2025-10-18): create a new one in "
        f"{SECRET_PAGE} and update MICROSOFT_OAUTH_CLIENT_SECRET before then",
    ),
    (
        "expired_secret-graph",
        graph_only("expired_secret"),
        Status.FAIL,
        f"the client secret in use (readiness) expired on 2025-10-05: create a new one in {SECRET_PAGE}",
    ),
    (
        "registration_forbidden",
        scenario("registration_forbidden"),
        Status.ERROR,
        "could not tell: the app may not read its own registration (403 Authorization_RequestDenied); grant "
        "Application.Read.All (admin consent) to let this check compare redirect URIs and secret expiry",
    ),
    (
        "unknown_client-graph",
        graph_only("unknown_client"),
        Status.ERROR,
        f"could not tell: Graph finds no application {CLIENT_ID} in tenant {TENANT_ID} (404 Request_ResourceNotFound)",
    ),
    (
        "token_expired",
        scenario("token_expired"),
        Status.ERROR,
        "Microsoft Graph answered 401 InvalidAuthenticationToken",
    ),
    (
        "wrong_secret",
        scenario("wrong_secret"),
        Status.ERROR,
        "cannot read the app registration without an app token: Microsoft refuses MICROSOFT_OAUTH_CLIENT_SECRET",
    ),
    ("unknown_tenant", scenario("unknown_tenant"), Status.ERROR, "without an app token: Microsoft knows no tenant"),
    *FAULTS,
]


@pytest.mark.parametrize(
    ("arrange", "status", "words"), [c[1:] for c in REGISTRATION_CASES], ids=[c[0] for c in REGISTRATION_CASES]
)
def test_registration_probe(ms: Microsoft, arrange: Arrange, status: Status, words: str) -> None:
    arrange(ms)
    result = run({"probe": "registration"}, ms.url, timeout_s=timeout_for(words))
    assert result.status is status, result
    assert words in result.summary
    assert_clean(result, *ms.tokens())


def test_registration_reads_the_app_with_the_app_token(ms: Microsoft) -> None:
    result = run({"probe": "registration"}, ms.url)
    assert result.status is Status.PASS
    call = ms.graph.calls[-1]
    assert call.bearer and call.path == f"/v1.0/applications(appId='{CLIENT_ID}')"
    assert call.query["$select"] == ["web,spa,publicClient,passwordCredentials,displayName"]
    assert result.evidence["secret_in_use"] == {"keyId": SECRET_KEY_ID, "identified_by": "hint"}
    assert result.evidence["secret_days_left"] == 200
    assert {s["displayName"] for s in result.evidence["client_secrets"]} == {"readiness", "old"}
    assert all("hint" not in s for s in result.evidence["client_secrets"]), "not even 3 characters of a secret"
    assert [c.passed for c in result.conditions] == [True, True, True, True]


def test_redirect_missing_names_each_environment(ms: Microsoft) -> None:
    ms.scenario("redirect_missing", environment="staging")
    ms.graph.set_scenario("redirect_missing", environment="app")
    result = run({"probe": "registration"}, ms.url)
    assert result.status is Status.FAIL
    assert result.summary.startswith(
        f"the app registration lacks the staging redirect URI {REDIRECTS['staging']}, the app redirect URI "
        f"{REDIRECTS['app']}: add them under Authentication › Web"
    )
    assert result.evidence["missing_redirect_uris"] == {"staging": REDIRECTS["staging"], "app": REDIRECTS["app"]}
    assert [c.passed for c in result.conditions[:3]] == [True, False, False]


def test_registration_lists_extra_uris_and_near_misses(ms: Microsoft) -> None:
    web = {"dev": REDIRECTS["dev"], "staging": REDIRECTS["staging"] + "/", "local": "https://localhost:3000/callback"}
    ms.graph.register_app(registration(web=web, spa=[REDIRECTS["app"]], public_client=["msal://redirect"]))
    ms.graph.reset()
    result = run({"probe": "registration"}, ms.url)
    assert result.status is Status.FAIL
    assert f"the staging redirect URI {REDIRECTS['staging']} (registered as {REDIRECTS['staging']}/" in result.summary
    assert result.summary.endswith("(and 1 more)"), "the SPA-only app URI is the second problem"
    assert result.evidence["extra_redirect_uris"] == [
        REDIRECTS["staging"] + "/",
        "https://localhost:3000/callback",
        "msal://redirect",
    ]


def test_spa_only_redirect_uri_warns(ms: Microsoft) -> None:
    web = {k: v for k, v in REDIRECTS.items() if k != "app"}
    ms.graph.register_app(registration(web=web, spa=[REDIRECTS["app"]]))
    ms.graph.reset()
    result = run({"probe": "registration"}, ms.url)
    assert result.status is Status.WARN
    assert result.summary.startswith(
        f"the app redirect URI {REDIRECTS['app']} is registered for a single-page application, not Web"
    )


IN_USE = "the client secret in use (readiness)"
EXPIRY_CASES: list[tuple[str, timedelta, Status, str]] = [
    ("expired-a-second-ago", -timedelta(seconds=1), Status.FAIL, f"{IN_USE} expired on 2025-10-06: create a new one"),
    ("expires-this-instant", timedelta(0), Status.FAIL, f"{IN_USE} expired on 2025-10-06: create a new one"),
    ("a-second-left", timedelta(seconds=1), Status.WARN, f"{IN_USE} expires in 0 days (2025-10-06): create a new"),
    ("exactly-30-days", timedelta(days=30), Status.WARN, f"{IN_USE} expires in 30 days (2025-11-05): create a new"),
    (
        "a-second-short-of-31-days",
        timedelta(days=31, seconds=-1),
        Status.WARN,
        f"{IN_USE} expires in 30 days (2025-11-06): create a new",
    ),
    ("exactly-31-days", timedelta(days=31), Status.PASS, f"{IN_USE} expires in 31 days (2025-11-06)"),
    ("31-days-and-a-second", timedelta(days=31, seconds=1), Status.PASS, f"{IN_USE} expires in 31 days (2025-11-06)"),
]


@pytest.mark.parametrize(("left", "status", "words"), [c[1:] for c in EXPIRY_CASES], ids=[c[0] for c in EXPIRY_CASES])
def test_secret_expiry_thresholds(ms: Microsoft, left: timedelta, status: Status, words: str) -> None:
    # Expired at the instant of its endDateTime; warns while the days shown (whole days left) are 30 or fewer.
    in_use = password_credential("readiness", NOW + left, hint=SECRET[:3], key_id=SECRET_KEY_ID)
    ms.graph.register_app(registration(secrets=[in_use]))
    ms.graph.reset()
    result = run({"probe": "registration"}, ms.url)
    assert result.status is status, result
    assert words in result.summary
    assert result.evidence["secret_days_left"] == (left // timedelta(days=1))


def unidentified(*ends: datetime) -> AppRegistration:
    """Secrets without hints: the kind cannot tell which one is in use."""
    return registration(secrets=[password_credential(f"s{i}", end) for i, end in enumerate(ends)])


SOONEST_CASES: list[tuple[str, tuple[datetime, ...], Status, str]] = [
    (
        "soonest-within-30-days",
        (NOW + timedelta(days=20), NOW + timedelta(days=300)),
        Status.WARN,
        "the soonest-expiring client secret (s0) expires in 20 days (2025-10-26): create a new one in",
    ),
    (
        "expired-one-ignored",
        (NOW - timedelta(days=2), NOW + timedelta(days=20)),
        Status.WARN,
        "(s1) expires in 20 days",
    ),
    (
        "all-expired",
        (NOW - timedelta(days=2), NOW - timedelta(days=1)),
        Status.FAIL,
        "every client secret of the app has expired (2): create a new one in",
    ),
    (
        "31-days-passes",
        (NOW + timedelta(days=31),),
        Status.PASS,
        "the soonest-expiring client secret (s0) expires in 31",
    ),
    ("no-secrets", (), Status.PASS, "it holds no client secret to judge"),
]


@pytest.mark.parametrize(("ends", "status", "words"), [c[1:] for c in SOONEST_CASES], ids=[c[0] for c in SOONEST_CASES])
def test_secret_in_use_unknown_judges_the_soonest(
    ms: Microsoft, ends: tuple[datetime, ...], status: Status, words: str
) -> None:
    ms.graph.register_app(unidentified(*ends))
    ms.graph.reset()
    result = run({"probe": "registration"}, ms.url)
    assert result.status is status, result
    assert words in result.summary
    if status is Status.WARN:
        assert "(if it is the one in MICROSOFT_OAUTH_CLIENT_SECRET)" in result.summary


# --- scopes: manifest hygiene ------------------------------------------------------------------------------------

SCOPE_CASES: list[tuple[str, list[str], Status, str]] = [
    ("seed", SEED_SCOPES, Status.WARN, SEED_WARNING),
    ("canonical", CANONICAL_SCOPES, Status.PASS, "[oauth_apps.microsoft] scopes are canonical"),
    (
        "short-canonical",
        ["Calendars.ReadWrite", "Mail.Read", "offline_access", "openid"],
        Status.PASS,
        "scopes are canonical",
    ),
    (
        "no-offline_access",
        ["https://graph.microsoft.com/Calendars.ReadWrite"],
        Status.WARN,
        "1 scope fix in [oauth_apps.microsoft]: add offline_access: without it Microsoft issues no refresh token",
    ),
    (
        "prefixed-openid",
        ["https://graph.microsoft.com/openid", "offline_access"],
        Status.WARN,
        "write openid, not https://graph.microsoft.com/openid: OpenID Connect scopes go unprefixed",
    ),
    ("upper-offline", ["Calendars.Read", "Offline_Access"], Status.WARN, "write offline_access, not Offline_Access"),
    (
        "other-api-left-alone",
        ["api://8a1d2f0c/Custom.Scope", "Calendars.Read", "offline_access"],
        Status.PASS,
        "scopes are canonical",
    ),
    ("empty", [], Status.WARN, "lists no scopes"),
]


@pytest.mark.parametrize(("scopes", "status", "words"), [c[1:] for c in SCOPE_CASES], ids=[c[0] for c in SCOPE_CASES])
def test_scopes_probe(scopes: list[str], status: Status, words: str) -> None:
    manifest = make_manifest(check_block("m"), extra=app_toml(scopes=scopes))
    result = run({"probe": "scopes"}, None, env={}, manifest=manifest)  # no network, no credentials
    assert result.status is status, result
    assert words in result.summary


def test_seed_scopes_warn_with_each_fix_and_the_corrected_line() -> None:
    result = run({"probe": "scopes"}, None, env={})
    assert result.summary == SEED_WARNING
    assert len(result.evidence["fixes"]) == 3
    assert result.evidence["suggested"] == [
        "https://graph.microsoft.com/Calendars.ReadWrite",
        "https://graph.microsoft.com/Mail.Read",
        "offline_access",
    ]
    assert json.dumps(result.evidence["suggested"]) in result.remediation


def test_default_manifest_scopes_get_the_warning() -> None:
    manifest = load_manifest(ROOT / "readiness.toml")
    result = run({"probe": "scopes"}, None, env={}, manifest=manifest)
    assert result.status is Status.WARN and result.summary == SEED_WARNING


def test_review_scopes_keeps_order_and_drops_duplicates() -> None:
    review = review_scopes(["mail.read", "Mail.Read", "https://graph.microsoft.com/offline_access", "x.y"])
    assert review.suggested == ["Mail.Read", "offline_access", "x.y"]
    assert review.unchecked == ["x.y"]


# --- calendar: the Microsoft 365 developer tenant through the vault -----------------------------------------------

CALENDAR = {"probe": "calendar", "tenant": VAULT_TENANT, "account": ACCOUNT}
CALENDAR_CASES: list[tuple[str, Arrange, Status, str]] = [
    (
        "valid",
        nothing,
        Status.PASS,
        f"Microsoft 365 developer tenant reachable: the calendar of {ACCOUNT} has 3 event(s) (at least 1 wanted)",
    ),
    (
        "no_events",
        scenario("no_events"),
        Status.FAIL,
        f"the calendar of {ACCOUNT} has 0 event(s), fewer than 1: add the sample calendar events to the developer "
        "tenant",
    ),
    (
        "token_expired",
        scenario("token_expired"),
        Status.FAIL,
        f"Microsoft Graph refuses {ACCOUNT}'s token (401 InvalidAuthenticationToken): it expired or was revoked",
    ),
    *FAULTS,
]


@pytest.mark.parametrize(
    ("arrange", "status", "words"), [c[1:] for c in CALENDAR_CASES], ids=[c[0] for c in CALENDAR_CASES]
)
def test_calendar_probe(ms: Microsoft, vault_: Vault, arrange: Arrange, status: Status, words: str) -> None:
    put_token(vault_)
    arrange(ms)
    extras = {"vault": vault_, "vault_actor": ADMIN}
    result = run(CALENDAR, ms.url, extras=extras, timeout_s=timeout_for(words))
    assert result.status is status, result
    assert words in result.summary
    assert_clean(result)
    assert result.evidence["token_fingerprint"].startswith("hmac:")


def test_calendar_sends_the_vault_token_as_bearer(ms: Microsoft, vault_: Vault) -> None:
    put_token(vault_)
    result = run({**CALENDAR, "min_events": 3}, ms.url, extras={"vault": vault_, "vault_actor": ADMIN})
    assert result.status is Status.PASS
    call = ms.graph.calls[-1]
    assert call.bearer and call.path == "/v1.0/me/events"
    assert call.query["$top"] == ["10"]
    events = [e for e in vault_.audit_events(ADMIN) if e.op == "get"]
    assert events and events[-1].actor == ADMIN.name, "the token read is audited"


def test_calendar_with_a_token_the_identity_platform_issued(ms: Microsoft, vault_: Vault) -> None:
    """A delegated token from a real refresh at the stand-in is one Graph accepts."""
    refresh = ms.login.grant(ACCOUNT, CLIENT_ID, tenant=TENANT_ID)
    answer = httpx.post(
        f"{ms.url}/login.microsoftonline.com/{TENANT_ID}/oauth2/v2.0/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh, "client_id": CLIENT_ID, "client_secret": SECRET},
    ).json()
    put_token(vault_, token=answer["access_token"])
    result = run(CALENDAR, ms.url, extras={"vault": vault_, "vault_actor": ADMIN})
    assert result.status is Status.PASS, result
    assert_clean(result, *ms.tokens())


def test_calendar_with_an_app_only_token_fails(ms: Microsoft, vault_: Vault) -> None:
    answer = httpx.post(
        f"{ms.url}/login.microsoftonline.com/{TENANT_ID}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
            "scope": "https://graph.microsoft.com/.default",
        },
    ).json()
    put_token(vault_, token=answer["access_token"])
    result = run(CALENDAR, ms.url, extras={"vault": vault_, "vault_actor": ADMIN})
    assert result.status is Status.FAIL
    assert result.summary.startswith(f"the vault holds an app-only token for {ACCOUNT}")
    assert_clean(result, *ms.tokens())


def test_calendar_wants_more_events_than_there_are(ms: Microsoft, vault_: Vault) -> None:
    put_token(vault_)
    result = run({**CALENDAR, "min_events": 4}, ms.url, extras={"vault": vault_, "vault_actor": ADMIN})
    assert result.status is Status.FAIL and "3 event(s), fewer than 4" in result.summary


@pytest.mark.parametrize(
    "extras",
    [{}, {"vault_actor": ADMIN}, "vault-only"],
    ids=["no-vault", "actor-without-vault", "vault-without-actor"],
)
def test_calendar_without_a_vault_is_pending(ms: Microsoft, vault_: Vault, extras: Any) -> None:
    extras = {"vault": vault_} if extras == "vault-only" else extras
    result = run(CALENDAR, ms.url, extras=extras)
    assert result.status is Status.PENDING
    assert result.summary.startswith("waiting for a test account's token in the vault")
    assert "readiness vault put` with provider microsoft" in result.summary
    assert ms.graph.calls == []


def test_calendar_with_no_credential_in_the_vault_is_pending(ms: Microsoft, vault_: Vault) -> None:
    put_token(vault_, account="someone.else@maxaisandbox.onmicrosoft.com")
    vault_.put(ADMIN, VAULT_TENANT, "google", ACCOUNT, "ya29.not-microsoft")
    result = run(CALENDAR, ms.url, extras={"vault": vault_, "vault_actor": ADMIN})
    assert result.status is Status.PENDING
    assert f"no Microsoft credential for tenant {VAULT_TENANT} account {ACCOUNT}" in result.summary


def test_calendar_with_a_revoked_credential_fails(ms: Microsoft, vault_: Vault) -> None:
    cid = put_token(vault_)
    vault_.revoke(ADMIN, VAULT_TENANT, cid)
    result = run(CALENDAR, ms.url, extras={"vault": vault_, "vault_actor": ADMIN})
    assert result.status is Status.FAIL and "Microsoft credential is revoked: re-authorize it" in result.summary


def test_calendar_actor_the_vault_refuses_cannot_tell(ms: Microsoft, vault_: Vault) -> None:
    put_token(vault_)
    viewer = Actor("dashboard", Role.VIEWER)  # may list, may not read tokens
    result = run(CALENDAR, ms.url, extras={"vault": vault_, "vault_actor": viewer})
    assert result.status is Status.ERROR and "AccessDenied" in result.summary
    assert ms.graph.calls == []


# --- params, the runner, the stand-ins ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"probe": "client", "account": ACCOUNT}, "belong to probe 'calendar'"),
        ({"probe": "registration", "min_events": 2}, "belong to probe 'calendar'"),
        ({"probe": "nope"}, "probe"),
        ({"probe": "calendar", "min_events": 0}, "min_events"),
        ({"probe": "tenant", "surprise": 1}, "surprise"),
    ],
    ids=["account-outside-calendar", "min-events-outside-calendar", "unknown-probe", "min-events-zero", "unknown-key"],
)
def test_params_are_validated(params: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        OAuthMicrosoftParams.model_validate(params)


@pytest.mark.parametrize("app", ["apple", "google"], ids=["unknown-app", "not-a-microsoft-app"])
def test_unknown_app_cannot_tell(ms: Microsoft, app: str) -> None:
    result = run({"probe": "client", "app": app}, ms.url)
    assert result.status is Status.ERROR
    assert f"no Microsoft app [oauth_apps.{app}] (Microsoft apps: microsoft)" in result.summary


def test_runner_sweep_with_every_probe(ms: Microsoft, vault_: Vault) -> None:
    """Through the registry and the runner, as a manifest writes it (kind = "oauth_microsoft")."""
    put_token(vault_)
    blocks = [
        check_block("oauth.microsoft.tenant", kind="oauth_microsoft", probe="tenant"),
        check_block(
            "oauth.microsoft.client", kind="oauth_microsoft", probe="client", depends_on=["oauth.microsoft.tenant"]
        ),
        check_block(
            "oauth.microsoft.registration",
            kind="oauth_microsoft",
            severity="major",
            depends_on=["oauth.microsoft.client"],
            probe="registration",
        ),
        check_block("oauth.microsoft.scopes", kind="oauth_microsoft", severity="minor", probe="scopes"),
        check_block(
            "sandbox.microsoft365.calendar",
            kind="oauth_microsoft",
            severity="major",
            probe="calendar",
            tenant=VAULT_TENANT,
            account=ACCOUNT,
        ),
    ]
    manifest = make_manifest(*blocks, extra=app_toml())

    async def go():
        return await run_checks(
            manifest,
            manifest.checks,
            clock=FixedClock(NOW),
            env=BASE_ENV,
            standins_url=ms.url,
            extras={"vault": vault_, "vault_actor": ADMIN},
        )

    results = {r.id: r for r in asyncio.run(go())}
    assert {k: r.status for k, r in results.items()} == {
        "oauth.microsoft.tenant": Status.PASS,
        "oauth.microsoft.client": Status.PASS,
        "oauth.microsoft.registration": Status.PASS,
        "oauth.microsoft.scopes": Status.WARN,
        "sandbox.microsoft365.calendar": Status.PASS,
    }
    text = json.dumps([r.to_dict() for r in results.values()], default=str)
    assert not any(s in text for s in (SECRET, CAL_TOKEN, REFRESH, *ms.tokens()))


def test_scenarios_through_the_control_surface(ms: Microsoft) -> None:
    base = f"{ms.url}/_standins"
    assert httpx.post(f"{base}/login.microsoftonline.com/scenario", json={"name": "unknown_tenant"}).status_code == 200
    assert httpx.get(f"{base}/login.microsoftonline.com/state").json()["scenario"] == "unknown_tenant"
    assert run({"probe": "tenant"}, ms.url).summary == UNKNOWN_TENANT
    httpx.post(f"{base}/login.microsoftonline.com/scenario", json={"name": "valid"})
    assert run({"probe": "tenant"}, ms.url).status is Status.PASS

    answer = httpx.post(
        f"{base}/graph.microsoft.com/scenario", json={"name": "redirect_missing", "environment": "staging"}
    )
    assert answer.status_code == 200
    state = httpx.get(f"{base}/graph.microsoft.com/state").json()
    assert REDIRECTS["staging"] not in state["apps"][CLIENT_ID]["web"]["redirectUris"]
    assert run({"probe": "registration"}, ms.url).summary == MISSING_STAGING
    assert httpx.post(f"{base}/graph.microsoft.com/scenario", json={"name": "bogus"}).status_code == 400
    for name in ("registration_forbidden", "secret_expiring", "no_events", "token_expired", "valid"):
        assert httpx.post(f"{base}/graph.microsoft.com/scenario", json={"name": name}).status_code == 200
    for name in ("unknown_client", "wrong_secret", "secret_id_pasted", "expired_secret", "no_events", "valid"):
        assert httpx.post(f"{base}/login.microsoftonline.com/scenario", json={"name": name}).status_code == 200
    assert run({"probe": "registration"}, ms.url).status is Status.PASS


def test_fault_for_a_number_of_requests_then_recovers(ms: Microsoft) -> None:
    ms.login.set_scenario("500", times=1)
    result = run({"probe": "tenant"}, ms.url)
    assert result.status is Status.PASS, "one 500 is retried away"


def test_429_is_retried_honouring_retry_after_then_reported(ms: Microsoft) -> None:
    ms.graph.set_scenario("429", retry_after=1)
    result = run({"probe": "registration"}, ms.url)
    assert result.status is Status.ERROR and result.evidence["retry_after"] == "1"
    assert len(ms.graph.calls) == 3, "two retries, then the 429 is the answer"


class TestStandins:
    """The stand-ins answer in the providers' real shapes."""

    def test_discovery_document(self, ms: Microsoft) -> None:
        doc = httpx.get(f"{ms.url}/login.microsoftonline.com/{TENANT_ID}/v2.0/.well-known/openid-configuration").json()
        base = f"https://login.microsoftonline.com/{TENANT_ID}"
        assert doc["issuer"] == f"{base}/v2.0"
        assert doc["token_endpoint"] == f"{base}/oauth2/v2.0/token"
        assert doc["authorization_endpoint"] == f"{base}/oauth2/v2.0/authorize"
        assert doc["jwks_uri"] == f"{base}/discovery/v2.0/keys"
        assert doc["tenant_region_scope"] == "NA" and doc["msgraph_host"] == "graph.microsoft.com"

    def test_discovery_of_common(self, ms: Microsoft) -> None:
        doc = httpx.get(f"{ms.url}/login.microsoftonline.com/common/v2.0/.well-known/openid-configuration").json()
        assert doc["issuer"] == "https://login.microsoftonline.com/{tenantid}/v2.0"
        assert doc["token_endpoint"] == "https://login.microsoftonline.com/common/oauth2/v2.0/token"
        assert doc["tenant_region_scope"] is None

    def test_unknown_tenant_body(self, ms: Microsoft) -> None:
        answer = httpx.get(f"{ms.url}/login.microsoftonline.com/nope.example/v2.0/.well-known/openid-configuration")
        body = answer.json()
        assert answer.status_code == 400 and body["error"] == "invalid_tenant" and body["error_codes"] == [90002]
        assert body["error_description"].startswith("AADSTS90002: Tenant 'nope.example' not found.")
        assert {"timestamp", "trace_id", "correlation_id"} <= set(body)

    @pytest.mark.parametrize(
        ("tenant", "scope", "code"),
        [
            (TENANT_ID, "https://graph.microsoft.com/Mail.Read", 1002012),
            ("common", "https://graph.microsoft.com/.default", 50059),
        ],
        ids=["scope-without-default", "shared-tenant"],
    )
    def test_client_credentials_refusals(self, ms: Microsoft, tenant: str, scope: str, code: int) -> None:
        form = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET, "scope": scope}
        answer = httpx.post(f"{ms.url}/login.microsoftonline.com/{tenant}/oauth2/v2.0/token", data=form)
        assert answer.status_code == 400 and answer.json()["error_codes"] == [code]

    def test_graph_refuses_unknown_and_missing_tokens(self, ms: Microsoft) -> None:
        url = f"{ms.url}/graph.microsoft.com/v1.0/applications(appId='{CLIENT_ID}')"
        unknown = httpx.get(url, headers={"Authorization": "Bearer not-issued"})
        assert unknown.status_code == 401 and unknown.json()["error"]["code"] == "InvalidAuthenticationToken"
        assert "authorization_uri" in unknown.headers["www-authenticate"]
        assert httpx.get(url).json()["error"]["message"] == "Access token is empty."

    def test_graph_not_found_shape(self, ms: Microsoft) -> None:
        ms.graph.set_scenario("unknown_client")
        answer = httpx.get(
            f"{ms.url}/graph.microsoft.com/v1.0/applications(appId='{CLIENT_ID}')",
            headers={"Authorization": f"Bearer {CAL_TOKEN}"},
        )
        error = answer.json()["error"]
        assert answer.status_code == 404 and error["code"] == "Request_ResourceNotFound"
        assert {"date", "request-id", "client-request-id"} <= set(error["innerError"])

    def test_unknown_scenario_is_refused(self, ms: Microsoft) -> None:
        with pytest.raises(ValueError, match="unknown scenario"):
            ms.graph.set_scenario("bogus")
        with pytest.raises(ValueError, match="unknown scenario"):
            ms.login.set_scenario("bogus")


def test_every_aadsts_code_the_kind_reads_is_in_the_docs_table() -> None:
    from checks.builtin.aadsts import AADSTS

    doc = (ROOT / "docs" / "checks.md").read_text()
    section = doc[doc.index("## `oauth_microsoft`") : doc.index("## `vault`")]
    for code, entry in AADSTS.items():
        assert f"| {code} | {entry.meaning} | {entry.flow} | `{entry.status.value}` |" in section, code


# What the release manager reads for a code of each kind, whole: the summary with the fix (its template filled
# with the app's ids and variables), and Microsoft's own words (error, code, description without its "AADSTS...:"
# prefix, cut at 200 characters) as the remediation.
AADSTS_WHOLE = [
    (
        7000112,
        Status.FAIL,
        f"{REFUSED} (AADSTS7000112: the application is disabled): enable it: Microsoft Entra admin center › "
        "Enterprise applications › the app › Properties › Enabled for users to sign in = Yes",
        f"Microsoft said: unauthorized_client AADSTS7000112 (Application '{CLIENT_ID}'(MaxAI) is disabled.)",
        {"code": 7000112, "meaning": "the application is disabled", "flow": "client"},
    ),
    (
        50194,
        Status.FAIL,
        f"{REFUSED} (AADSTS50194: the app is not multi-tenant): ask a tenant-specific endpoint (MICROSOFT_TENANT_ID), "
        "or set Azure Portal › App registrations › your app › Authentication › Supported account types to multitenant",
        f"Microsoft said: invalid_request AADSTS50194 (Application '{CLIENT_ID}'(MaxAI) is not configured as a "
        "multi-tenant application. Usage of the /common endpoint is not supported for such applications created "
        "after '10/15/201)",
        {"code": 50194, "meaning": "the app is not multi-tenant", "flow": "client"},
    ),
    (
        500011,
        Status.FAIL,
        f"{REFUSED} (AADSTS500011: the resource principal is not in the tenant): check the scope's resource URI, and "
        f"grant admin consent so the resource's service principal exists in {TENANT_ID}",
        "Microsoft said: invalid_resource AADSTS500011 (The resource principal named https://graph.microsoft.com was "
        f"not found in the tenant named {TENANT_ID}. This can happen if the application has not been installed by the "
        "admini)",
        {"code": 500011, "meaning": "the resource principal is not in the tenant", "flow": "client"},
    ),
    (
        90009,
        Status.FAIL,
        f"{REFUSED} (AADSTS90009: the app asks a token for itself by name): name the resource by its GUID-based App ID "
        f"URI (api://{CLIENT_ID}/.default), or ask Graph",
        f"Microsoft said: invalid_request AADSTS90009 (Application '{CLIENT_ID}'(MaxAI) is requesting a token for "
        "itself. This scenario is supported only if resource is specified using the GUID based App Identifier.)",
        {"code": 90009, "meaning": "the app asks a token for itself by name", "flow": "client"},
    ),
    (
        50011,
        Status.FAIL,
        f"{REFUSED} (AADSTS50011: the reply (redirect) URI does not match the app's): add the redirect URI exactly "
        "under Azure Portal › App registrations › your app › Authentication › Web",
        "Microsoft said: invalid_request AADSTS50011 (The redirect URI 'https://app.example/callback' specified in the "
        f"request does not match the redirect URIs configured for the application '{CLIENT_ID}'.)",
        {"code": 50011, "meaning": "the reply (redirect) URI does not match the app's", "flow": "authorize"},
    ),
    (
        50126,
        Status.ERROR,
        "Microsoft's token endpoint answered 400 AADSTS50126 (invalid user name or password): could not tell whether "
        "the app's credentials work; this probe signs no user in (client-credentials grant): the code is about a "
        "user's sign-in, not the app",
        "Microsoft said: invalid_grant AADSTS50126 (Error validating credentials due to invalid username or password.)",
        {"code": 50126, "meaning": "invalid user name or password", "flow": "user"},
    ),
    (
        50196,
        Status.ERROR,
        "Microsoft's token endpoint answered 400 AADSTS50196 (client request loop (throttled)): could not tell whether "
        "the app's credentials work; wait and retry; the app asked for tokens too often",
        "Microsoft said: invalid_request AADSTS50196 (The server terminated an operation because it encountered a "
        "client request loop. Please contact your app vendor.)",
        {"code": 50196, "meaning": "client request loop (throttled)", "flow": "client"},
    ),
]


@pytest.mark.parametrize(
    ("code", "status", "summary", "remediation", "aadsts"), AADSTS_WHOLE, ids=[str(c[0]) for c in AADSTS_WHOLE]
)
def test_an_aadsts_code_reads_whole(ms: Microsoft, code, status, summary, remediation, aadsts) -> None:
    ms.scenario("aadsts", code=code)
    result = run({"probe": "client"}, ms.url)
    assert (result.status, result.summary, result.remediation) == (status, summary, remediation)
    assert result.evidence["aadsts"] == aadsts


# The registration probe as the release manager reads it, whole: summary, fix, each condition and what the
# evidence says the registration holds. {dev}, {staging}, {app} are the redirect URIs; {key_id} the secret's id.
ALL_WEB = [
    ("dev redirect URI {dev} registered", True, "web"),
    ("staging redirect URI {staging} registered", True, "web"),
    ("app redirect URI {app} registered", True, "web"),
]
REGISTRATION_WHOLE = [
    (
        "valid",
        registration(),
        Status.PASS,
        "the app registration MaxAI Platform lists all 3 redirect URIs (dev, staging, app); the client secret in use "
        "(readiness) expires in 200 days (2026-04-24)",
        "",
        [*ALL_WEB, ("the client secret in use (readiness) valid over 30 days", True, "200 days left")],
        {"web": ["{dev}", "{staging}", "{app}"], "spa": [], "publicClient": []},
    ),
    (
        "near-miss-spa-public",
        registration(
            web={"dev": REDIRECTS["dev"], "staging": REDIRECTS["staging"] + "/", "local": "https://localhost:3000/cb"},
            spa=[REDIRECTS["app"]],
            public_client=["msal://redirect"],
        ),
        Status.FAIL,
        "the app registration lacks the staging redirect URI {staging} (registered as {staging}/: the URI must match "
        "exactly): add it under Authentication › Web › Redirect URIs in Azure Portal › App registrations (and 1 more)",
        "Each environment's callback must be registered exactly (scheme, host, path, no trailing slash) under the Web "
        "platform; Microsoft answers AADSTS50011 at sign-in otherwise",
        [
            ("dev redirect URI {dev} registered", True, "web"),
            ("staging redirect URI {staging} registered", False, "missing"),
            ("app redirect URI {app} registered", True, "spa only"),
            ("the client secret in use (readiness) valid over 30 days", True, "200 days left"),
        ],
        {
            "web": ["{dev}", "{staging}/", "https://localhost:3000/cb"],
            "spa": ["{app}"],
            "publicClient": ["msal://redirect"],
        },
    ),
    (
        "every-secret-expired",
        registration(
            secrets=[
                password_credential("a", NOW - timedelta(days=3), hint="zzz"),
                password_credential("b", NOW - timedelta(days=1), hint="yyy"),
            ]
        ),
        Status.FAIL,
        "every client secret of the app has expired (2): create a new one in Azure Portal › App registrations › your "
        "app › Certificates & secrets and update MICROSOFT_OAUTH_CLIENT_SECRET",
        "Add a new client secret in Azure Portal › App registrations › your app › Certificates & secrets, put its "
        "Value in MICROSOFT_OAUTH_CLIENT_SECRET, then delete the old one",
        [*ALL_WEB, ("a client secret is unexpired", False, "2 expired")],
        {"web": ["{dev}", "{staging}", "{app}"], "spa": [], "publicClient": []},
    ),
    (
        "unnamed-secret-not-identified",
        registration(
            secrets=[
                password_credential("", NOW + timedelta(days=90), hint="zzz", key_id=SECRET_KEY_ID),
                password_credential("later", NOW + timedelta(days=120), hint="yyy"),
            ]
        ),
        Status.PASS,
        "the app registration MaxAI Platform lists all 3 redirect URIs (dev, staging, app); the soonest-expiring "
        "client secret ({key_id}) expires in 90 days (2026-01-04)",
        "",
        [*ALL_WEB, ("the soonest-expiring client secret ({key_id}) valid over 30 days", True, "90 days left")],
        {"web": ["{dev}", "{staging}", "{app}"], "spa": [], "publicClient": []},
    ),
    (
        "spa-only-app-uri",
        registration(web={k: v for k, v in REDIRECTS.items() if k != "app"}, spa=[REDIRECTS["app"]]),
        Status.WARN,
        "the app redirect URI {app} is registered for a single-page application, not Web: move it to Authentication "
        "› Web (a server callback that redeems the code with the client secret is refused for SPA URIs, "
        "AADSTS9002327)",
        "",
        [
            ("dev redirect URI {dev} registered", True, "web"),
            ("staging redirect URI {staging} registered", True, "web"),
            ("app redirect URI {app} registered", True, "spa only"),
            ("the client secret in use (readiness) valid over 30 days", True, "200 days left"),
        ],
        {"web": ["{dev}", "{staging}"], "spa": ["{app}"], "publicClient": []},
    ),
    (
        "secret-in-use-expired",
        registration(
            secrets=[
                password_credential("readiness", NOW - timedelta(days=2), hint=SECRET[:3], key_id=SECRET_KEY_ID),
                password_credential("later", NOW + timedelta(days=120), hint="yyy"),
            ]
        ),
        Status.FAIL,
        "the client secret in use (readiness) expired on 2025-10-04: create a new one in Azure Portal › App "
        "registrations › your app › Certificates & secrets",
        "Add a new client secret in Azure Portal › App registrations › your app › Certificates & secrets, put its "
        "Value in MICROSOFT_OAUTH_CLIENT_SECRET, then delete the old one",
        [*ALL_WEB, ("the client secret in use (readiness) valid over 30 days", False, "-2 days left")],
        {"web": ["{dev}", "{staging}", "{app}"], "spa": [], "publicClient": []},
    ),
    (
        "secret-in-use-expiring",
        registration(
            secrets=[password_credential("readiness", NOW + timedelta(days=12), hint=SECRET[:3], key_id=SECRET_KEY_ID)]
        ),
        Status.WARN,
        "the client secret in use (readiness) expires in 12 days (2025-10-18): create a new one in Azure Portal › App "
        "registrations › your app › Certificates & secrets and update MICROSOFT_OAUTH_CLIENT_SECRET before then",
        "Add a new client secret in Azure Portal › App registrations › your app › Certificates & secrets, put its "
        "Value in MICROSOFT_OAUTH_CLIENT_SECRET, then delete the old one",
        [*ALL_WEB, ("the client secret in use (readiness) valid over 30 days", False, "12 days left")],
        {"web": ["{dev}", "{staging}", "{app}"], "spa": [], "publicClient": []},
    ),
]


@pytest.mark.parametrize(
    ("app", "status", "summary", "remediation", "conditions", "uris"),
    [c[1:] for c in REGISTRATION_WHOLE],
    ids=[c[0] for c in REGISTRATION_WHOLE],
)
def test_the_registration_reads_whole(ms: Microsoft, app, status, summary, remediation, conditions, uris) -> None:
    ms.graph.register_app(app)
    ms.graph.reset()
    result = run({"probe": "registration"}, ms.url)

    def filled(text: str) -> str:
        return text.format(key_id=SECRET_KEY_ID, **REDIRECTS)

    assert (result.status, result.summary, result.remediation) == (status, filled(summary), filled(remediation))
    assert [(c.name, c.passed, c.detail) for c in result.conditions] == [
        (filled(n), passed, filled(d)) for n, passed, d in conditions
    ]
    assert result.evidence["display_name"] == "MaxAI Platform"
    assert result.evidence["redirect_uris"] == {k: [filled(u) for u in v] for k, v in uris.items()}


CLIENT_REMEDIATIONS = [
    (
        "unknown_tenant",
        [90002],
        "Use the GUID (or a verified domain such as contoso.onmicrosoft.com) of the directory the app is registered "
        "in; a typo, another cloud (Azure Government, China) or a deleted tenant answers this way",
    ),
    (
        "unknown_client",
        [700016],
        "Copy the Application (client) ID and the Directory (tenant) ID from Azure Portal › App registrations › your "
        "app › Overview; a multi-tenant app must also be consented to in the tenant asked",
    ),
    (
        "wrong_secret",
        [7000215],
        "The Value is shown only once, when the secret is created: if it is hidden, add a new client secret, copy its "
        "Value into MICROSOFT_OAUTH_CLIENT_SECRET, and delete the old one",
    ),
    (
        "expired_secret",
        [7000222],
        "New client secret › choose an expiry › copy its Value (shown once); the registration probe warns 30 days "
        "before the next one expires",
    ),
]


@pytest.mark.parametrize(("name", "codes", "remediation"), CLIENT_REMEDIATIONS, ids=[c[0] for c in CLIENT_REMEDIATIONS])
def test_client_refusals_say_how_to_fix_them(ms: Microsoft, name, codes, remediation) -> None:
    ms.scenario(name)
    result = run({"probe": "client"}, ms.url)
    assert result.status is Status.FAIL
    assert result.remediation == remediation
    assert result.evidence["error_codes"] == codes
    assert result.evidence["client_id"] == CLIENT_ID


class ScriptedTokenEndpoint:
    """login.microsoftonline.com answering one error body, for the shapes Microsoft's answers take."""

    host = "login.microsoftonline.com"

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    def handle(self, method, path, query, headers, body):
        return json_response(400, self.body)


@pytest.mark.parametrize(
    ("body", "summary", "remediation", "codes"),
    [
        (  # codes as strings, as some proxies re-encode them
            {
                "error": "invalid_client",
                "error_description": "AADSTS7000222: expired. Trace ID: x",
                "error_codes": ["7000222"],
            },
            f"the client secret in MICROSOFT_OAUTH_CLIENT_SECRET for app {CLIENT_ID} has expired (AADSTS7000222)",
            None,
            [7000222],
        ),
        (  # no error_codes: the codes are read from the description
            {"error": "invalid_request", "error_description": "AADSTS65001: AADSTS50011 not consented. Trace ID: x"},
            f"{REFUSED} (AADSTS65001: consent not granted)",
            "Microsoft said: invalid_request AADSTS65001 (AADSTS50011 not consented.)",
            [65001, 50011],
        ),
        (  # nothing but a status: an error, named as such, and no code
            {},
            "Microsoft's token endpoint answered 400 an error: could not tell whether the app's credentials work",
            "Look the code up at https://login.microsoftonline.com/error and read the evidence",
            [],
        ),
        (
            {"error": "invalid_request", "error_description": "AADSTS65001: " + "w" * 300, "error_codes": [65001]},
            f"{REFUSED} (AADSTS65001: consent not granted)",
            "Microsoft said: invalid_request AADSTS65001 (" + "w" * 200 + ")",
            [65001],
        ),
    ],
    ids=["string-codes", "codes-in-description", "empty-body", "long-description"],
)
def test_token_endpoint_error_shapes(body, summary, remediation, codes) -> None:
    with StandinServer([ScriptedTokenEndpoint(body)]) as server:
        result = run({"probe": "client"}, server.url)
    assert result.summary.startswith(summary), result.summary
    if remediation is not None:
        assert result.remediation == remediation
    assert result.evidence["error_codes"] == codes
    assert result.evidence["error_description"] == (body.get("error_description") or "")[:500]


def test_the_evidence_lists_each_secret_by_id_name_and_end_never_its_hint(ms: Microsoft) -> None:
    old_id = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    secrets = [
        password_credential("readiness", NOW + timedelta(days=200), hint=SECRET[:3], key_id=SECRET_KEY_ID),
        password_credential("old", NOW - timedelta(days=30, hours=1), hint=OTHER_SECRET[:3], key_id=old_id),
    ]
    ms.graph.register_app(registration(secrets=secrets))
    ms.graph.reset()
    result = run({"probe": "registration"}, ms.url)
    assert result.evidence["client_secrets"] == [
        {
            "keyId": SECRET_KEY_ID,
            "displayName": "readiness",
            "endDateTime": "2026-04-24T09:00:00+00:00",
            "days_left": 200,
        },
        {"keyId": old_id, "displayName": "old", "endDateTime": "2025-09-06T08:00:00+00:00", "days_left": -31},
    ]


def test_an_app_without_redirect_uris_says_so(ms: Microsoft) -> None:
    toml = "\n".join(line for line in app_toml().splitlines() if not line.startswith("redirect_uris"))
    result = run({"probe": "registration"}, ms.url, manifest=make_manifest(check_block("m"), extra=toml))
    assert (result.status, result.summary) == (
        Status.PASS,
        "the app registration MaxAI Platform lists no redirect URIs; the client secret in use (readiness) expires in "
        "200 days (2026-04-24)",
    )
    assert result.evidence["extra_redirect_uris"] == list(REDIRECTS.values())


class ScriptedGraph:
    """graph.microsoft.com answering every call with one status and body."""

    host = GRAPH_HOST

    def __init__(self, code: int, body: Any) -> None:
        self.code, self.body = code, body

    def handle(self, method, path, query, headers, body):
        return json_response(self.code, self.body)


@pytest.mark.parametrize(
    ("body", "error_code", "error_message"),
    [
        ({"error": {"code": "Request_BadRequest", "message": "Bad request."}}, "Request_BadRequest", "Bad request."),
        ({"error": "m" * 400}, "", "m" * 299 + "…"),  # an error that is a plain string: its text, cut
        ({}, "", ""),
    ],
    ids=["graph-shape", "string-error", "no-error"],
)
def test_graph_error_shapes_on_the_registration(ms: Microsoft, body: Any, error_code: str, error_message: str) -> None:
    with StandinServer([ms.login, ScriptedGraph(400, body)]) as server:
        result = run({"probe": "registration"}, server.url)
    assert result.status is Status.ERROR
    assert (result.evidence["error_code"], result.evidence["error_message"]) == (error_code, error_message)
    assert result.summary == (
        f"Microsoft Graph answered 400 {error_code} ({error_message[:200]}): could not tell what the registration holds"
    )
