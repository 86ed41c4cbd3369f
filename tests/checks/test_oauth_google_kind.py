"""Kind ``oauth_google`` against the Google stand-ins on loopback: every probe through every scenario.

The stand-ins speak real HTTP (``checks.standins.google_*`` for accounts.google.com, Service Usage, Business
Profile and Calendar; ``checks.standins.oauth`` for the token endpoint); the kind reaches them through
``standins_url``, exactly as ``READINESS_STANDINS_URL`` reroutes it in a sweep.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import ValidationError

from checks.builtin.google_client import wire_scope
from checks.builtin.google_errors import read_auth_error
from checks.builtin.oauth_google import OAuthGoogleParams, oauth_google
from checks.core.clock import FixedClock
from checks.core.manifest import Manifest
from checks.core.manifest_load import load_manifest
from checks.core.runner import run_checks
from checks.core.status import Status
from checks.standins.google import BUSINESS_ACCOUNTS_HOST, set_scenario
from checks.standins.google_accounts import GoogleAccountsStandin, encode_auth_error
from checks.standins.google_apis import BusinessAccountsStandin, ServiceUsageStandin
from checks.standins.google_calendar import CalendarStandin
from checks.standins.oauth import GoogleOAuthStandin
from checks.standins.server import StandinServer, json_response
from tests.checks.helpers import check_block, make_manifest, run_kind
from tests.valid_env import VALID_ENV
from vault import Actor, Role, StaticKeySource, Vault

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
CLIENT_ID = VALID_ENV["GOOGLE_OAUTH_CLIENT_ID"]
SECRET = VALID_ENV["GOOGLE_OAUTH_CLIENT_SECRET"]
PROJECT = "maxai-readiness"
SU_TOKEN = "ya29.a0ServiceUsageTestToken0123456789abcdef"
CAL_TOKEN = "ya29.a0CalendarTestToken0123456789abcdefghij"
REFRESH = "1//0gCalendarRefreshTestToken0123456789"
ACCOUNT = "tester@maxai-sandbox.test"
TENANT = "sandbox"
ADMIN = Actor("readiness-test", Role.ADMIN)
NOW = datetime(2025, 10, 6, 9, 0, tzinfo=UTC)
REDIRECTS = {
    "dev": "https://dev.maxai-platform.com/api/auth/oauth/google/callback",
    "staging": "https://staging.maxai-platform.com/api/auth/oauth/google/callback",
    "app": "https://app.maxai-platform.com/api/auth/oauth/google/callback",
}
SHORT_SCOPES = ["calendar.readonly", "calendar.events", "business.manage", "openid", "email"]
FULL_SCOPES = [
    "https://www.googleapis.com/auth/calendar.readonly",
    "https://www.googleapis.com/auth/calendar.events",
    "https://www.googleapis.com/auth/business.manage",
    "openid",
    "email",
]
SECRETS = (SECRET, SU_TOKEN, CAL_TOKEN, REFRESH)


def app_toml(scopes: list[str] = SHORT_SCOPES, apis: list[str] | None = None) -> str:
    apis = ["Google Calendar API", "Google Business Profile API"] if apis is None else apis
    uris = ", ".join(f'{{ environment = "{e}", uri = "{u}" }}' for e, u in REDIRECTS.items())
    return f"""
[oauth_apps.google]
item = "a.one"
provider = "google"
title = "Google OAuth Application"
apis = {json.dumps(apis)}
client_id_env = "GOOGLE_OAUTH_CLIENT_ID"
client_secret_env = "GOOGLE_OAUTH_CLIENT_SECRET"
redirect_uris = [{uris}]
scopes = {json.dumps(scopes)}
"""


MANIFEST = make_manifest(check_block("g"), extra=app_toml())
BASE_ENV = {
    "GOOGLE_OAUTH_CLIENT_ID": CLIENT_ID,
    "GOOGLE_OAUTH_CLIENT_SECRET": SECRET,
    "GOOGLE_SERVICE_USAGE_TOKEN": SU_TOKEN,
    "GOOGLE_CLOUD_PROJECT": PROJECT,
}


@dataclasses.dataclass
class Google:
    """The stand-ins of every host the kind calls, on one loopback server."""

    server: StandinServer
    token: GoogleOAuthStandin
    accounts: GoogleAccountsStandin
    usage: ServiceUsageStandin
    business: BusinessAccountsStandin
    calendar: CalendarStandin

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def hosts(self) -> list[Any]:
        return [self.accounts, self.usage, self.business, self.calendar]

    def scenario(self, name: str, **options: Any) -> None:
        """One scenario on every Google host; the faults reach the token endpoint too."""
        set_scenario(self.hosts, name, **options)
        if name in ("slow", "500", "429", "garbage"):
            self.token.set_scenario(
                name, **{k: v for k, v in options.items() if k != "retry_after"}, retry_after=options.get("retry_after")
            )


@pytest.fixture(scope="module")
def module_google() -> Iterator[Google]:
    token = GoogleOAuthStandin()
    accounts = GoogleAccountsStandin({CLIENT_ID: REDIRECTS})
    usage = ServiceUsageStandin(tokens={SU_TOKEN})
    business = BusinessAccountsStandin(tokens={SU_TOKEN})
    calendar = CalendarStandin(accounts={CAL_TOKEN: ACCOUNT})
    with StandinServer([token, accounts, usage, business, calendar]) as server:
        yield Google(server, token, accounts, usage, business, calendar)


@pytest.fixture
def google(module_google: Google) -> Google:
    g = module_google
    g.token.reset()
    g.token.register_client(CLIENT_ID, SECRET)
    for provider in g.hosts:
        provider.reset()
    return g


@pytest.fixture
def vault_(tmp_path) -> Iterator[Vault]:
    v = Vault.init(f"sqlite:///{tmp_path / 'vault.db'}", StaticKeySource(bytes(range(32))), FixedClock(NOW))
    yield v
    v.close()


def put_token(v: Vault, token: str = CAL_TOKEN, account: str = ACCOUNT) -> str:
    return v.put(
        ADMIN,
        TENANT,
        "google",
        account,
        token,
        refresh_token=REFRESH,
        expires_at=NOW + timedelta(hours=1),
        scopes=["https://www.googleapis.com/auth/calendar.readonly"],
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
    validated = OAuthGoogleParams.model_validate(params)
    return run_kind(
        lambda ctx: oauth_google(validated, ctx),
        kind="oauth_google",
        params=params,
        manifest=manifest,
        env=BASE_ENV if env is None else env,
        check_id="oauth.google.probe",
        timeout_s=timeout_s,
        clock=FixedClock(NOW),
        standins_url=standins_url,
        extras=extras or {},
        client_options={"timeout": 5.0},
    )


def assert_clean(result: Any, *extra: str) -> None:
    text = f"{dataclasses.asdict(result)!r} {result!r}"
    for secret in (*SECRETS, *extra):
        assert not secret or secret not in text, "a secret leaked into the result"


Arrange = Callable[[Google], None]


def nothing(g: Google) -> None:
    pass


def scenario(name: str, **options: Any) -> Arrange:
    return lambda g: g.scenario(name, **options)


# --- client: the token endpoint ------------------------------------------------------------------------------

CLIENT_CASES: list[tuple[str, Arrange, dict[str, str], Status, str]] = [
    ("valid", nothing, {}, Status.PASS, "accepts the OAuth client id and secret"),
    (
        "unknown_client",
        lambda g: g.token.reset(),
        {},
        Status.FAIL,
        f"Google does not know OAuth client {CLIENT_ID} (invalid_client: The OAuth client was not found.): create it "
        "in Google Cloud Console › APIs & Services › Credentials or fix GOOGLE_OAUTH_CLIENT_ID",
    ),
    (
        "wrong_secret",
        nothing,
        {"GOOGLE_OAUTH_CLIENT_SECRET": "GOCSPX-SomeOtherSecretNotReal_9876"},
        Status.FAIL,
        "Google refuses GOOGLE_OAUTH_CLIENT_SECRET for client",
    ),
    ("client_id_missing", nothing, {"GOOGLE_OAUTH_CLIENT_ID": ""}, Status.FAIL, "GOOGLE_OAUTH_CLIENT_ID is not set"),
    (
        "secret_missing",
        nothing,
        {"GOOGLE_OAUTH_CLIENT_SECRET": ""},
        Status.FAIL,
        "GOOGLE_OAUTH_CLIENT_SECRET is not set",
    ),
    ("slow", scenario("slow", seconds=1.0), {}, Status.ERROR, "did not answer within 0.3s"),
    ("500", scenario("500"), {}, Status.ERROR, "answered 500 (server error)"),
    ("429", scenario("429", retry_after=0), {}, Status.ERROR, "rate limiting (429)"),
    ("garbage", scenario("garbage"), {}, Status.ERROR, "not a JSON object"),
]


@pytest.mark.parametrize(
    ("arrange", "env", "status", "words"), [c[1:] for c in CLIENT_CASES], ids=[c[0] for c in CLIENT_CASES]
)
def test_client_probe(google: Google, arrange: Arrange, env: dict[str, str], status: Status, words: str) -> None:
    arrange(google)
    timeout = 0.3 if "0.3s" in words else None
    result = run({"probe": "client"}, google.url, env={**BASE_ENV, **env}, timeout_s=timeout)
    assert result.status is status, result
    assert words in result.summary
    assert_clean(result, env.get("GOOGLE_OAUTH_CLIENT_SECRET", SECRET))


def test_a_disabled_client_fails_at_the_token_endpoint_with_the_fix(google: Google) -> None:
    google.token.disable_client(CLIENT_ID)
    result = run({"probe": "client"}, google.url)
    assert result.status is Status.FAIL, result
    assert result.summary == (
        "Google answers disabled_client: The OAuth client was disabled.: the OAuth client is disabled; "
        "enable it in Google Cloud Console › APIs & Services › Credentials"
    )
    assert (result.evidence["error"], result.evidence["status_code"]) == ("disabled_client", 401)
    assert_clean(result)


def test_a_disabled_client_fails_at_the_authorize_endpoint_with_the_fix(google: Google) -> None:
    google.scenario("disabled_client")
    result = run({"probe": "redirect", "environment": "dev"}, google.url)
    assert result.status is Status.FAIL, result
    assert result.summary.startswith(
        "Google answers disabled_client for the dev redirect URI: the OAuth client is disabled; "
        "enable it in Google Cloud Console › APIs & Services › Credentials"
    )
    assert result.evidence["auth_error"] == "disabled_client"
    assert_clean(result)


def test_client_probe_sends_a_bogus_code_and_the_first_redirect_uri(google: Google) -> None:
    result = run({"probe": "client"}, google.url)
    assert result.status is Status.PASS
    assert result.evidence["error"] == "invalid_grant"
    assert result.evidence["client_secret"].startswith("fp:")
    assert result.evidence["client_id"] == CLIENT_ID


# --- redirect: the authorize endpoint ------------------------------------------------------------------------

MISMATCH = (
    "Google answers redirect_uri_mismatch for https://staging.maxai-platform.com/api/auth/oauth/google/callback: "
    "add it to the OAuth client's Authorized redirect URIs"
)
REDIRECT_CASES: list[tuple[str, Arrange, str, Status, str]] = [
    ("valid-dev", nothing, "dev", Status.PASS, f"Google accepts the dev redirect URI {REDIRECTS['dev']}: registered"),
    ("valid-staging", nothing, "staging", Status.PASS, "registered"),
    ("valid-app", nothing, "app", Status.PASS, "registered"),
    (
        "redirect_mismatch-staging",
        scenario("redirect_mismatch", environment="staging"),
        "staging",
        Status.FAIL,
        MISMATCH,
    ),
    (
        "redirect_mismatch-staging-leaves-dev",
        scenario("redirect_mismatch", environment="staging"),
        "dev",
        Status.PASS,
        "registered",
    ),
    (
        "unknown_client",
        scenario("unknown_client"),
        "dev",
        Status.FAIL,
        "Google answers invalid_client for the dev redirect URI: Google does not know this OAuth client; create it in "
        "Google Cloud Console › APIs & Services › Credentials or fix GOOGLE_OAUTH_CLIENT_ID",
    ),
    (
        "deleted_client",
        scenario("deleted_client"),
        "dev",
        Status.FAIL,
        "Google answers deleted_client for the dev redirect URI: the OAuth client was deleted; restore it",
    ),
    (
        "invalid_scope",
        scenario("invalid_scope"),
        "app",
        Status.FAIL,
        "Google answers invalid_scope for scope https://www.googleapis.com/auth/business.manage: fix the app's scopes",
    ),
    ("slow", scenario("slow", seconds=1.0), "dev", Status.ERROR, "did not answer within 0.3s"),
    ("500", scenario("500"), "dev", Status.ERROR, "answered 500 (server error)"),
    ("429", scenario("429", retry_after=1), "dev", Status.ERROR, "rate limiting (429)"),
    ("garbage", scenario("garbage"), "dev", Status.ERROR, "could not read Google's error"),
]


@pytest.mark.parametrize(
    ("arrange", "environment", "status", "words"), [c[1:] for c in REDIRECT_CASES], ids=[c[0] for c in REDIRECT_CASES]
)
def test_redirect_probe(google: Google, arrange: Arrange, environment: str, status: Status, words: str) -> None:
    arrange(google)
    timeout = 0.3 if "0.3s" in words else None
    result = run({"probe": "redirect", "environment": environment}, google.url, timeout_s=timeout)
    assert result.status is status, result
    assert words in result.summary
    assert_clean(result)
    if status is not Status.ERROR:
        assert result.evidence["environment"] == environment
        assert result.evidence["redirect_uri"] == REDIRECTS[environment]


SIGNIN_CASES: list[tuple[str, str, str, Status, str]] = [
    ("oauth2-v2-identifier", "accounts.google.com", "/o/oauth2/v2/auth/identifier", Status.PASS, "registered"),
    ("v3-signin-identifier", "accounts.google.com", "/v3/signin/identifier", Status.PASS, "registered"),
    ("v3-signin-accountchooser", "accounts.google.com", "/v3/signin/accountchooser", Status.PASS, "registered"),
    ("AccountChooser", "accounts.google.com", "/AccountChooser", Status.PASS, "registered"),
    ("ServiceLogin", "accounts.google.com", "/ServiceLogin", Status.PASS, "registered"),
    ("signin-oauth-id", "accounts.google.com", "/signin/oauth/id", Status.PASS, "registered"),
    ("signin-oauth-v2-consent", "accounts.google.com", "/signin/oauth/v2/consentsummary", Status.PASS, "registered"),
    ("oauthchooseaccount", "accounts.google.com", "/o/oauth2/auth/oauthchooseaccount", Status.PASS, "registered"),
    ("unknown-path", "accounts.google.com", "/b/0/ManageAccount", Status.ERROR, "redirected somewhere unexpected"),
    ("error-page-without-autherror", "accounts.google.com", "/signin/oauth/error", Status.ERROR, "could not read"),
    # An error page is never a sign-in page, wherever it sits: not taken for "registered".
    ("error-under-oauth2", "accounts.google.com", "/o/oauth2/v2/auth/error", Status.ERROR, "somewhere unexpected"),
    ("error-under-signin", "accounts.google.com", "/v3/signin/error", Status.ERROR, "somewhere unexpected"),
    ("unknown-host", "accounts.google.com.evil.example", "/v3/signin/identifier", Status.ERROR, "unexpected"),
    ("other-google-host", "myaccount.google.com", "/signin/oauth/id", Status.ERROR, "redirected somewhere unexpected"),
]


@pytest.mark.parametrize(
    ("host", "path", "status", "words"), [c[1:] for c in SIGNIN_CASES], ids=[c[0] for c in SIGNIN_CASES]
)
def test_redirect_to_any_google_signin_page_is_registered(
    google: Google, host: str, path: str, status: Status, words: str
) -> None:
    google.scenario("signin_page", host=host, path=path)
    result = run({"probe": "redirect", "environment": "dev"}, google.url)
    assert result.status is status, result
    assert words in result.summary
    assert_clean(result)


def test_a_signin_page_carrying_an_auth_error_is_decoded(google: Google) -> None:
    google.scenario(
        "signin_page",
        path="/v3/signin/identifier?"
        + urlencode({"authError": encode_auth_error("disabled_client", "The OAuth client was disabled.", 401)}),
    )
    result = run({"probe": "redirect", "environment": "dev"}, google.url)
    assert result.status is Status.FAIL, result
    assert "Google answers disabled_client for the dev redirect URI: the OAuth client is disabled" in result.summary


@pytest.mark.parametrize(
    ("path", "length"),
    [("/signin/oauth/error", 0), ("/signin/oauth/error?authError=bm90IGEgcHJvdG9idWY", 19)],  # "not a protobuf"
    ids=["no-auth-error", "not-a-protobuf"],
)
def test_an_error_page_whose_auth_error_cannot_be_read_cannot_tell(google: Google, path: str, length: int) -> None:
    google.scenario("signin_page", path=path)
    result = run({"probe": "redirect", "environment": "dev"}, google.url)
    assert (result.status, result.summary, result.remediation) == (
        Status.ERROR,
        "could not read Google's error: the authError in its redirect is not the protobuf Google sends; could not "
        f"tell whether {REDIRECTS['dev']} is registered",
        "Open the authorize URL in a browser to see Google's error page",
    )
    assert result.evidence["auth_error_length"] == length  # how much came, never what


def test_redirect_mismatch_summary_is_exactly_actionable(google: Google) -> None:
    google.scenario("redirect_mismatch", environment="staging")
    result = run({"probe": "redirect", "environment": "staging"}, google.url)
    assert result.summary == MISMATCH
    assert "staging redirect URI is not registered" in result.remediation
    assert result.evidence["auth_error"] == "redirect_uri_mismatch"


def test_429_is_retried_honouring_retry_after_then_reported(google: Google) -> None:
    google.scenario("429", retry_after=1)
    result = run({"probe": "redirect", "environment": "dev"}, google.url)
    assert result.status is Status.ERROR
    assert result.evidence["retry_after"] == "1"
    assert len(google.accounts.calls) == 3, "two retries, then the 429 is the answer"


def test_short_scopes_become_full_urls_on_the_wire(google: Google) -> None:
    result = run({"probe": "redirect", "environment": "dev"}, google.url)
    assert result.status is Status.PASS, result
    sent = google.accounts.calls[-1].query
    assert sent["scope"][0].split(" ") == FULL_SCOPES
    assert sent["client_id"] == [CLIENT_ID]
    assert sent["redirect_uri"] == [REDIRECTS["dev"]]
    assert sent["response_type"] == ["code"]
    assert sent["access_type"] == ["offline"]


def test_an_unprefixed_scope_would_be_refused_by_google(google: Google) -> None:
    """What the mapping saves us from: the stand-in, like Google, refuses ``calendar.readonly`` as sent."""
    location = httpx.get(
        f"{google.url}/accounts.google.com/o/oauth2/v2/auth",
        params={
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECTS["dev"],
            "response_type": "code",
            "scope": "calendar.readonly",
        },
    ).headers["location"]
    error = read_auth_error(httpx.URL(location).params["authError"])
    assert error is not None and error.code == "invalid_scope"
    assert "invalid=[calendar.readonly]" in error.description


def test_redirect_for_every_environment_of_the_default_manifest(google: Google) -> None:
    manifest = load_manifest(ROOT / "readiness.toml")
    google.scenario("redirect_mismatch", environment="app")
    statuses = {
        env: run({"probe": "redirect", "environment": env}, google.url, manifest=manifest).status
        for env in ("dev", "staging", "app")
    }
    assert statuses == {"dev": Status.PASS, "staging": Status.PASS, "app": Status.FAIL}


def test_redirect_with_an_unknown_environment_cannot_tell(google: Google) -> None:
    result = run({"probe": "redirect", "environment": "qa"}, google.url)
    assert result.status is Status.ERROR
    assert "no qa redirect URI" in result.summary and "dev, staging, app" in result.summary


def test_redirect_without_a_client_id_fails_naming_it(google: Google) -> None:
    result = run({"probe": "redirect", "environment": "dev"}, google.url, env={})
    assert result.status is Status.FAIL and "GOOGLE_OAUTH_CLIENT_ID is not set" in result.summary


class ErrorPage:
    """accounts.google.com answering with an HTML error page (no redirect), or an unknown page."""

    host = "accounts.google.com"

    def __init__(self, html: str, status: int = 400) -> None:
        self.html, self.status = html, status

    def handle(self, method, path, query, headers, body):
        return self.status, {"Content-Type": "text/html; charset=utf-8"}, self.html.encode()


@pytest.mark.parametrize(
    ("html", "status", "expected", "words"),
    [
        (
            "<html><body><p>Error 400: redirect_uri_mismatch</p></body></html>",
            400,
            Status.FAIL,
            "Google answers redirect_uri_mismatch for",
        ),
        (
            "<html><body>Error 400: invalid_scope Some requested scopes were invalid. "
            "{valid=[openid], invalid=[email]}</body></html>",
            400,
            Status.FAIL,
            "invalid_scope for scope email",
        ),
        ("<html><body>Choose an account</body></html>", 200, Status.ERROR, "neither a redirect nor a known error"),
    ],
    ids=["mismatch-page", "invalid-scope-page", "unknown-page"],
)
def test_redirect_reads_an_error_page(html: str, status: int, expected: Status, words: str) -> None:
    with StandinServer([ErrorPage(html, status)]) as server:
        result = run({"probe": "redirect", "environment": "staging"}, server.url)
    assert result.status is expected, result
    assert words in result.summary


# --- the authError decoder -------------------------------------------------------------------------------------


def _pb_string(field: int, text: bytes) -> bytes:
    assert len(text) < 128 or field == 2
    length = len(text)
    varint = bytes([length]) if length < 128 else bytes([length & 0x7F | 0x80, length >> 7])
    return bytes([field << 3 | 2]) + varint + text


@pytest.mark.parametrize(
    ("blob", "code", "description"),
    [
        # Hand-built: field 1 "redirect_uri_mismatch", field 2 of 150 bytes (two-byte varint length), field 4 = 400.
        (
            base64.urlsafe_b64encode(
                _pb_string(1, b"redirect_uri_mismatch") + _pb_string(2, b"x" * 150) + b"\x20\x90\x03"
            )
            .decode()
            .rstrip("="),
            "redirect_uri_mismatch",
            "x" * 150,
        ),
        # Google's own answer for an unknown client, as it appears in the wild (standard alphabet, padded).
        (
            "Cg5pbnZhbGlkX2NsaWVudBIfVGhlIE9BdXRoIGNsaWVudCB3YXMgbm90IGZvdW5kLiCRAw==",
            "invalid_client",
            "The OAuth client was not found.",
        ),
        # ... and for a deleted one, padding stripped.
        (
            "Cg5kZWxldGVkX2NsaWVudBIdVGhlIE9BdXRoIGNsaWVudCB3YXMgZGVsZXRlZC4gkQM",
            "deleted_client",
            "The OAuth client was deleted.",
        ),
        # Field 2 cut short (a truncated URL): field 1 is still read.
        (base64.b64encode(_pb_string(1, b"invalid_scope") + b"\x12\x40short").decode(), "invalid_scope", ""),
        # Fields in another order, an unknown varint field first.
        (
            base64.b64encode(b"\x20\x90\x03" + _pb_string(2, b"why") + _pb_string(1, b"access_denied")).decode(),
            "access_denied",
            "why",
        ),
        # A '+' turned into a space by a careless decoder (">>>??" encodes to a '+' and a '/'), and '-'/'_' of
        # the urlsafe alphabet.
        (encode_auth_error("org_internal", ">>>??", 403).replace("+", " "), "org_internal", ">>>??"),
        (
            base64.urlsafe_b64encode(_pb_string(1, b"admin_policy_enforced") + _pb_string(2, b"\xfb\xff")).decode(),
            "admin_policy_enforced",
            "\ufffd\ufffd",
        ),
    ],
    ids=[
        "built-two-byte-length",
        "google-invalid-client",
        "google-deleted-unpadded",
        "truncated-description",
        "fields-reordered",
        "space-for-plus",
        "urlsafe-alphabet",
    ],
)
def test_read_auth_error(blob: str, code: str, description: str) -> None:
    if code == "org_internal":
        assert " " in blob  # the space-for-plus case does hold a space where the '+' was
    error = read_auth_error(blob)
    assert error is not None
    assert (error.code, error.description) == (code, description)


@pytest.mark.parametrize(
    "blob",
    [
        "",
        "not base64 !!",
        "A",  # one character: not decodable
        base64.b64encode(b"\xff\xfe<html>not a protobuf</html>").decode(),
        base64.b64encode(b"\x0a\x05ab").decode(),  # length beyond the end
        base64.b64encode(b"\x0a\x03\xff\xfe\xfd").decode(),  # not UTF-8
        base64.b64encode(b"\x0a\x0bHello World").decode(),  # not an error code's shape
        base64.b64encode(b"\x08\x96\x01").decode(),  # field 1 as a varint, not a string
        base64.b64encode(b"\xff" * 12).decode(),  # an endless varint
        base64.b64encode(b"\x0f\x00").decode(),  # wire type 7 does not exist
    ],
    ids=[
        "empty",
        "not-base64",
        "one-char",
        "html",
        "length-overflow",
        "not-utf8",
        "not-a-code",
        "varint-field-1",
        "endless-varint",
        "bad-wire-type",
    ],
)
def test_read_auth_error_garbage_is_none(blob: str) -> None:
    assert read_auth_error(blob) is None


def test_stand_in_auth_error_round_trips() -> None:
    error = read_auth_error(encode_auth_error("redirect_uri_mismatch", "r" * 300, 400))
    assert error is not None and error.code == "redirect_uri_mismatch" and error.description == "r" * 300


@pytest.mark.parametrize(
    ("scope", "wire"),
    [
        ("calendar.readonly", "https://www.googleapis.com/auth/calendar.readonly"),
        ("business.manage", "https://www.googleapis.com/auth/business.manage"),
        ("https://www.googleapis.com/auth/calendar.events", "https://www.googleapis.com/auth/calendar.events"),
        ("openid", "openid"),
        ("email", "email"),
        ("profile", "profile"),
    ],
)
def test_wire_scope(scope: str, wire: str) -> None:
    assert wire_scope(scope) == wire


# --- apis: Service Usage and Business Profile approval ----------------------------------------------------------

APIS = {"probe": "apis", "access_token_env": "GOOGLE_SERVICE_USAGE_TOKEN"}
APIS_CASES: list[tuple[str, Arrange, Status, str]] = [
    (
        "valid",
        nothing,
        Status.PASS,
        "Google Calendar API and Google Business Profile API enabled in project maxai-readiness; Business Profile "
        "access approved",
    ),
    (
        "api_disabled",
        scenario("api_disabled"),
        Status.FAIL,
        "Google Business Profile API (mybusinessbusinessinformation.googleapis.com) is DISABLED in project "
        "maxai-readiness: enable it in APIs & Services › Library",
    ),
    (
        "api_disabled-calendar",
        scenario("api_disabled", service="calendar-json.googleapis.com"),
        Status.FAIL,
        "Google Calendar API (calendar-json.googleapis.com) is DISABLED",
    ),
    (
        "no_permission",
        scenario("no_permission"),
        Status.FAIL,
        "may not read project maxai-readiness's services (403 PERMISSION_DENIED): grant it serviceusage.services.get",
    ),
    (
        "quota_denied",
        scenario("quota_denied"),
        Status.FAIL,
        "Google refuses project maxai-readiness as the quota project (403 USER_PROJECT_DENIED): grant the "
        "credential's principal serviceusage.services.use on maxai-readiness (role Service Usage Consumer)",
    ),
    (
        "approval_pending",
        scenario("approval_pending"),
        Status.PENDING,
        "waiting on Google's Business Profile API approval",
    ),
    ("token_expired", scenario("token_expired"), Status.FAIL, "Google refuses the Service Usage credential (401"),
    ("slow", scenario("slow", seconds=1.0), Status.ERROR, "did not answer within 0.3s"),
    ("500", scenario("500"), Status.ERROR, "answered 500 (server error)"),
    ("429", scenario("429", retry_after=0), Status.ERROR, "rate limiting (429)"),
    ("garbage", scenario("garbage"), Status.ERROR, "not a JSON object"),
]


@pytest.mark.parametrize(("arrange", "status", "words"), [c[1:] for c in APIS_CASES], ids=[c[0] for c in APIS_CASES])
def test_apis_probe(google: Google, arrange: Arrange, status: Status, words: str) -> None:
    arrange(google)
    result = run(APIS, google.url, timeout_s=0.3 if "0.3s" in words else None)
    assert result.status is status, result
    assert words in result.summary
    assert_clean(result)


def test_apis_probe_asks_for_each_service_with_the_project_billed(google: Google) -> None:
    result = run(APIS, google.url)
    assert result.evidence["services"] == {
        "calendar-json.googleapis.com": "ENABLED",
        "mybusinessbusinessinformation.googleapis.com": "ENABLED",
        "mybusinessaccountmanagement.googleapis.com": "ENABLED",
    }
    paths = [c.path for c in google.usage.calls]
    assert "/v1/projects/maxai-readiness/services/calendar-json.googleapis.com" in paths
    assert all(c.bearer for c in google.usage.calls + google.business.calls)
    assert google.business.calls[-1].headers.get("x-goog-user-project") == PROJECT
    assert [c.name for c in result.conditions][-1] == "Business Profile access approved"


@pytest.mark.parametrize("name", ["quota_denied", "no_permission"], ids=["user-project-denied", "permission-denied"])
def test_service_usage_403_names_the_consumer_role_never_the_viewer(google: Google, name: str) -> None:
    google.scenario(name)
    result = run(APIS, google.url)
    assert result.status is Status.FAIL, result
    assert "roles/serviceusage.serviceUsageConsumer" in result.remediation
    assert "Viewer role" not in result.remediation
    assert result.evidence["error_reason"] in ("USER_PROJECT_DENIED", "AUTH_PERMISSION_DENIED")


def test_approval_pending_says_what_google_waits_for(google: Google) -> None:
    google.scenario("approval_pending")
    result = run(APIS, google.url)
    assert "quota is 0" in result.summary and "429 RESOURCE_EXHAUSTED" in result.summary
    assert result.evidence["business_profile"]["error_status"] == "RESOURCE_EXHAUSTED"
    assert len(google.business.calls) == 1, "a quota of 0 is not retried"


def test_approval_that_could_not_be_read_is_an_error_not_a_pass(google: Google) -> None:
    google.business.set_scenario("token_expired")  # Business Profile alone refuses the token: 401
    result = run(APIS, google.url)
    assert result.status is Status.ERROR and not result.status.ok
    assert result.summary.startswith("could not tell whether Business Profile access is approved")


class BusinessAnswering:
    """Business Profile answering every call with one Google-style error body (shapes its stand-in never sends)."""

    host = BUSINESS_ACCOUNTS_HOST

    def __init__(self, code: int, body: Any) -> None:
        self.code, self.body = code, body

    def handle(self, method, path, query, headers, body):
        return json_response(self.code, self.body)


@pytest.mark.parametrize(
    ("code", "body", "status", "evidence"),
    [
        # A quota-0 429 without a status is still the approval Google has not given.
        (
            429,
            {"error": {"code": 429, "message": "Quota exceeded for quota metric 'Requests'."}},
            Status.PENDING,
            ("", "", "Quota exceeded for quota metric 'Requests'."),
        ),
        (
            403,
            {"error": {"code": 403, "status": "PERMISSION_DENIED"}},
            Status.ERROR,
            ("PERMISSION_DENIED", "", ""),
        ),
        # An OAuth-style body: the error is a plain string, kept as the message.
        (401, {"error": "invalid_token", "error_description": "Invalid Credentials"}, Status.ERROR,
         ("", "", "invalid_token")),
        (
            403,
            {"error": {"code": 403, "message": "No access.", "status": "PERMISSION_DENIED",
                       "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                    "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT"}]}},
            Status.ERROR,
            ("PERMISSION_DENIED", "ACCESS_TOKEN_SCOPE_INSUFFICIENT", "No access."),
        ),
    ],
    ids=["429-without-status", "403-without-message", "string-error", "whole-error"],
)  # fmt: skip
def test_business_profile_errors_are_read_field_by_field(code: int, body: Any, status: Status, evidence: tuple) -> None:
    usage = ServiceUsageStandin(tokens={SU_TOKEN})
    with StandinServer([usage, BusinessAnswering(code, body)]) as server:
        result = run(APIS, server.url)
    assert result.status is status, result
    error_status, error_reason, error_message = evidence
    assert result.evidence["business_profile"] == {
        "status_code": code,
        "error_status": error_status,
        "error_reason": error_reason,
        "error_message": error_message,
    }
    if status is Status.ERROR:
        assert result.summary == (
            "could not tell whether Business Profile access is approved: Google's Business Profile API answered "
            f"{code} {error_status}"
        )


def test_disabled_business_profile_is_not_asked_for_approval(google: Google) -> None:
    google.scenario("api_disabled")
    google.scenario("approval_pending")
    result = run(APIS, google.url)
    assert result.status is Status.FAIL
    assert google.business.calls == []


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"GOOGLE_CLOUD_PROJECT": PROJECT}, "set GOOGLE_SERVICE_USAGE_TOKEN"),
        ({"GOOGLE_SERVICE_USAGE_TOKEN": SU_TOKEN}, "and GOOGLE_CLOUD_PROJECT"),
        ({}, "to let this check ask the Service Usage API"),
    ],
    ids=["no-token", "no-project", "nothing"],
)
def test_apis_without_a_credential_is_not_checked(google: Google, env: dict[str, str], words: str) -> None:
    # Could not look is not passed: skipped "not configured", never warn (which counts as met).
    result = run(APIS, google.url, env=env)
    assert result.status is Status.SKIPPED and not result.status.ok
    assert result.summary.startswith(
        "not configured: could not check whether the APIs are enabled; set GOOGLE_SERVICE_USAGE_TOKEN"
    )
    assert words in result.summary
    assert "Business Profile access also needs Google's approval" in result.summary
    assert google.usage.calls == []


def test_apis_without_credential_params_names_the_params(google: Google) -> None:
    result = run({"probe": "apis"}, google.url)
    assert result.status is Status.SKIPPED and "access_token_env (e.g. GOOGLE_SERVICE_USAGE_TOKEN)" in result.summary


def test_apis_unknown_api_name_cannot_tell(google: Google) -> None:
    manifest = make_manifest(check_block("g"), extra=app_toml(apis=["Google Calendar API", "Google Fax API"]))
    result = run(APIS, google.url, manifest=manifest)
    assert result.status is Status.ERROR and "'Google Fax API'" in result.summary
    assert result.evidence["services"] == {"calendar-json.googleapis.com": "ENABLED"}


# A service-account key: the kind mints its own token at the token endpoint (JWT bearer grant), which the
# token stand-in in checks/standins/oauth.py does not speak; this minimal one (test-only) does.

SA_TOKEN = "ya29.c.ServiceAccountMintedToken0123456789"
SA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SA_INFO = {
    "type": "service_account",
    "project_id": PROJECT,
    "private_key_id": "0123456789abcdef0123456789abcdef01234567",
    "private_key": SA_KEY.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode(),
    "client_email": f"readiness-probe@{PROJECT}.iam.gserviceaccount.com",
    "token_uri": "https://oauth2.googleapis.com/token",
}


class JwtTokenEndpoint:
    """``oauth2.googleapis.com/token`` for the JWT bearer grant only: verifies the assertion's signature."""

    host = "oauth2.googleapis.com"

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self.public = key.public_key()
        self.assertions: list[dict[str, Any]] = []

    def handle(self, method, path, query, headers, body):
        from urllib.parse import parse_qs

        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return json_response(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"})
        head, claims, sig = form["assertion"].split(".")
        pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
        try:
            self.public.verify(
                base64.urlsafe_b64decode(pad(sig)), f"{head}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except Exception:
            return json_response(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
        self.assertions.append(json.loads(base64.urlsafe_b64decode(pad(claims))))
        return json_response(200, {"access_token": SA_TOKEN, "expires_in": 3599, "token_type": "Bearer"})


@pytest.mark.parametrize("as_file", [False, True], ids=["inline-json", "file-path"])
def test_apis_with_a_service_account_key(tmp_path, as_file: bool) -> None:
    endpoint = JwtTokenEndpoint(SA_KEY)
    key_text = json.dumps(SA_INFO)
    if as_file:
        (tmp_path / "key.json").write_text(key_text)
        key_text = str(tmp_path / "key.json")
    env = {"GOOGLE_SERVICE_USAGE_KEY": key_text, "GOOGLE_CLOUD_PROJECT": PROJECT}
    params = {"probe": "apis", "service_account_env": "GOOGLE_SERVICE_USAGE_KEY"}
    usage, business = ServiceUsageStandin(tokens={SA_TOKEN}), BusinessAccountsStandin(approved=False, tokens={SA_TOKEN})
    with StandinServer([endpoint, usage, business]) as server:
        result = run(params, server.url, env=env)
    assert result.status is Status.PENDING, result
    claims = endpoint.assertions[0]
    assert claims["iss"] == SA_INFO["client_email"] and claims["aud"] == SA_INFO["token_uri"]
    assert "https://www.googleapis.com/auth/cloud-platform" in claims["scope"].split()
    assert claims["iat"] == int(NOW.timestamp())
    assert_clean(result, SA_TOKEN, SA_INFO["private_key"])


def test_apis_with_a_refused_service_account_key() -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    env = {"GOOGLE_SERVICE_USAGE_KEY": json.dumps(SA_INFO), "GOOGLE_CLOUD_PROJECT": PROJECT}
    with StandinServer([JwtTokenEndpoint(other), ServiceUsageStandin()]) as server:
        result = run({"probe": "apis", "service_account_env": "GOOGLE_SERVICE_USAGE_KEY"}, server.url, env=env)
    assert result.status is Status.FAIL
    assert "Google refuses the service-account key in GOOGLE_SERVICE_USAGE_KEY (invalid_grant" in result.summary
    assert SA_INFO["client_email"] in result.summary


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("/nowhere/key.json", "neither a service-account key's JSON nor a readable file path"),
        ('{"type": "authorized_user"}', "is not a service-account key"),
        ("{not json", "does not hold valid JSON"),
    ],
    ids=["missing-file", "user-credentials", "bad-json"],
)
def test_apis_with_an_unusable_service_account_key(value: str, words: str) -> None:
    env = {"GOOGLE_SERVICE_USAGE_KEY": value, "GOOGLE_CLOUD_PROJECT": PROJECT}
    result = run({"probe": "apis", "service_account_env": "GOOGLE_SERVICE_USAGE_KEY"}, None, env=env)
    assert result.status is Status.FAIL and words in result.summary


# --- calendar: the Google Workspace sandbox through the vault ----------------------------------------------------

CALENDAR = {"probe": "calendar", "tenant": TENANT, "account": ACCOUNT}
CALENDAR_CASES: list[tuple[str, Arrange, Status, str]] = [
    (
        "valid",
        nothing,
        Status.PASS,
        f"Google Workspace sandbox reachable: calendar primary of {ACCOUNT} has 3 event(s) (at least 1 wanted)",
    ),
    (
        "no_events",
        scenario("no_events"),
        Status.FAIL,
        f"calendar primary of {ACCOUNT} has 0 event(s), fewer than 1: add the sample calendar events to the sandbox",
    ),
    (
        "token_expired",
        scenario("token_expired"),
        Status.FAIL,
        f"Google refuses {ACCOUNT}'s token (401 UNAUTHENTICATED): it expired or was revoked",
    ),
    ("slow", scenario("slow", seconds=1.0), Status.ERROR, "did not answer within 0.3s"),
    ("500", scenario("500"), Status.ERROR, "answered 500 (server error)"),
    ("429", scenario("429", retry_after=0), Status.ERROR, "rate limiting (429)"),
    ("garbage", scenario("garbage"), Status.ERROR, "not a JSON object"),
]


@pytest.mark.parametrize(
    ("arrange", "status", "words"), [c[1:] for c in CALENDAR_CASES], ids=[c[0] for c in CALENDAR_CASES]
)
def test_calendar_probe(google: Google, vault_: Vault, arrange: Arrange, status: Status, words: str) -> None:
    put_token(vault_)
    arrange(google)
    extras = {"vault": vault_, "vault_actor": ADMIN}
    result = run(CALENDAR, google.url, extras=extras, timeout_s=0.3 if "0.3s" in words else None)
    assert result.status is status, result
    assert words in result.summary
    assert_clean(result)
    assert result.evidence["token_fingerprint"].startswith("hmac:")


def test_calendar_sends_the_vault_token_as_bearer(google: Google, vault_: Vault) -> None:
    put_token(vault_)
    result = run({**CALENDAR, "min_events": 3}, google.url, extras={"vault": vault_, "vault_actor": ADMIN})
    assert result.status is Status.PASS
    call = google.calendar.calls[-1]
    assert call.bearer and call.path == "/calendar/v3/calendars/primary/events"
    assert call.query["maxResults"] == ["10"]
    events = [e for e in vault_.audit_events(ADMIN) if e.op == "get"]
    assert events and events[-1].actor == ADMIN.name, "the token read is audited"


def test_calendar_wants_more_events_than_there_are(google: Google, vault_: Vault) -> None:
    put_token(vault_)
    result = run({**CALENDAR, "min_events": 4}, google.url, extras={"vault": vault_, "vault_actor": ADMIN})
    assert result.status is Status.FAIL and "3 event(s), fewer than 4" in result.summary


@pytest.mark.parametrize(
    "extras",
    [{}, {"vault_actor": ADMIN}, "vault-only"],
    ids=["no-vault", "actor-without-vault", "vault-without-actor"],
)
def test_calendar_without_a_vault_is_pending(google: Google, vault_: Vault, extras: Any) -> None:
    extras = {"vault": vault_} if extras == "vault-only" else extras
    result = run(CALENDAR, google.url, extras=extras)
    assert result.status is Status.PENDING
    assert result.summary.startswith("waiting for a test account's token in the vault")
    assert "readiness vault put" in result.summary
    assert google.calendar.calls == []


def test_calendar_with_no_credential_in_the_vault_is_pending(google: Google, vault_: Vault) -> None:
    put_token(vault_, account="someone.else@maxai-sandbox.test")
    result = run(CALENDAR, google.url, extras={"vault": vault_, "vault_actor": ADMIN})
    assert result.status is Status.PENDING
    assert f"no Google credential for tenant {TENANT} account {ACCOUNT}" in result.summary


def test_calendar_with_a_revoked_credential_fails(google: Google, vault_: Vault) -> None:
    cid = put_token(vault_)
    vault_.revoke(ADMIN, TENANT, cid)
    result = run(CALENDAR, google.url, extras={"vault": vault_, "vault_actor": ADMIN})
    assert result.status is Status.FAIL and "is revoked: re-authorize it" in result.summary


def test_calendar_actor_the_vault_refuses_cannot_tell(google: Google, vault_: Vault) -> None:
    put_token(vault_)
    viewer = Actor("dashboard", Role.VIEWER)  # may list, may not read tokens
    result = run(CALENDAR, google.url, extras={"vault": vault_, "vault_actor": viewer})
    assert result.status is Status.ERROR and "AccessDenied" in result.summary
    assert google.calendar.calls == []


def test_calendar_any_account_when_none_is_named(google: Google, vault_: Vault) -> None:
    put_token(vault_)
    result = run({"probe": "calendar"}, google.url, extras={"vault": vault_, "vault_actor": ADMIN})
    assert result.status is Status.PASS and result.evidence["account"] == ACCOUNT


# --- params, the runner, the stand-ins' control surface ----------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"probe": "redirect"}, "needs 'environment'"),
        ({"probe": "client", "access_token_env": "X"}, "belong to probe 'apis'"),
        ({"probe": "nope"}, "probe"),
        ({"probe": "calendar", "min_events": 0}, "min_events"),
        ({"probe": "client", "surprise": 1}, "surprise"),
    ],
    ids=["redirect-needs-environment", "token-env-outside-apis", "unknown-probe", "min-events-zero", "unknown-key"],
)
def test_params_are_validated(params: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        OAuthGoogleParams.model_validate(params)


def test_unknown_app_cannot_tell(google: Google) -> None:
    result = run({"probe": "client", "app": "apple"}, google.url)
    assert result.status is Status.ERROR and "no [oauth_apps.apple]" in result.summary and "google" in result.summary


def test_runner_sweep_with_every_probe(google: Google, vault_: Vault) -> None:
    """Through the registry and the runner, as a manifest writes it (kind = "oauth_google")."""
    put_token(vault_)
    google.scenario("redirect_mismatch", environment="staging")
    blocks = [
        check_block("oauth.google.client", kind="oauth_google", probe="client"),
        *(
            check_block(f"oauth.google.redirect.{e}", kind="oauth_google", probe="redirect", environment=e)
            for e in REDIRECTS
        ),
        check_block(
            "oauth.google.apis",
            kind="oauth_google",
            severity="major",
            probe="apis",
            access_token_env="GOOGLE_SERVICE_USAGE_TOKEN",
            project_env="GOOGLE_CLOUD_PROJECT",
        ),
        check_block(
            "sandbox.google_workspace.calendar",
            kind="oauth_google",
            severity="major",
            probe="calendar",
            tenant=TENANT,
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
            standins_url=google.url,
            extras={"vault": vault_, "vault_actor": ADMIN},
        )

    results = {r.id: r for r in asyncio.run(go())}
    assert {k: r.status for k, r in results.items()} == {
        "oauth.google.client": Status.PASS,
        "oauth.google.redirect.dev": Status.PASS,
        "oauth.google.redirect.staging": Status.FAIL,
        "oauth.google.redirect.app": Status.PASS,
        "oauth.google.apis": Status.PASS,
        "sandbox.google_workspace.calendar": Status.PASS,
    }
    assert results["oauth.google.redirect.staging"].result.summary == MISMATCH
    text = json.dumps([r.to_dict() for r in results.values()], default=str)
    assert not any(s in text for s in SECRETS)


def test_scenarios_through_the_control_surface(google: Google) -> None:
    base = f"{google.url}/_standins"
    assert (
        httpx.post(
            f"{base}/accounts.google.com/scenario", json={"name": "redirect_mismatch", "environment": "staging"}
        ).status_code
        == 200
    )
    assert (
        httpx.post(
            f"{base}/mybusinessaccountmanagement.googleapis.com/scenario", json={"name": "approval_pending"}
        ).status_code
        == 200
    )
    assert httpx.post(f"{base}/www.googleapis.com/scenario", json={"name": "no_events"}).status_code == 200
    assert httpx.post(f"{base}/www.googleapis.com/scenario", json={"name": "bogus"}).status_code == 400
    state = httpx.get(f"{base}/accounts.google.com/state").json()
    assert REDIRECTS["staging"] not in state["clients"][CLIENT_ID]["redirect_uris"].values()
    assert httpx.get(f"{base}/mybusinessaccountmanagement.googleapis.com/state").json()["approved"] is False
    assert httpx.get(f"{base}/www.googleapis.com/state").json()["events"][ACCOUNT] == 0
    assert run({"probe": "redirect", "environment": "staging"}, google.url).summary == MISMATCH
    httpx.post(f"{base}/accounts.google.com/scenario", json={"name": "valid"})
    assert run({"probe": "redirect", "environment": "staging"}, google.url).status is Status.PASS


def test_fault_for_a_number_of_requests_then_recovers(google: Google) -> None:
    google.accounts.set_scenario("500", times=1)
    started = time.perf_counter()
    result = run({"probe": "redirect", "environment": "dev"}, google.url)
    assert result.status is Status.PASS, "one 500 is retried away"
    assert time.perf_counter() - started < 3
    assert len(google.accounts.calls) == 2


class LeakyAccounts:
    """accounts.google.com whose authError description reflects a token and runs long."""

    host = "accounts.google.com"

    def handle(self, method, path, query, headers, body):
        blob = encode_auth_error("access_denied", f"Request details: token={SU_TOKEN} " + "d" * 1000, 403)
        location = f"https://accounts.google.com/signin/oauth/error?{urlencode({'authError': blob})}"
        return 302, {"Location": location}, b""


def test_redirect_auth_error_description_is_scrubbed_then_cut() -> None:
    with StandinServer([LeakyAccounts()]) as server:
        result = run({"probe": "redirect", "environment": "dev"}, server.url)
    assert result.status is Status.FAIL and "access_denied" in result.summary
    assert len(result.evidence["auth_error_description"]) <= 300
    assert len(result.remediation) <= 300
    assert_clean(result)


# Each of Google's documented authorize errors as the release manager reads it, whole: the summary names the
# error, what it means and the fix; the remediation is Google's own description.
CONSOLE = "Google Cloud Console › APIs & Services › Credentials"
SCOPE_FIX = (
    "Use each scope's full URL (https://www.googleapis.com/auth/...); enable the API it belongs to and add the scope "
    "to the OAuth consent screen's Data Access"
)
AUTH_ERRORS: list[tuple[str, str, str, str]] = [
    (
        "invalid_client",
        "The OAuth client was not found.",
        f"Google does not know this OAuth client; create it in {CONSOLE} or fix GOOGLE_OAUTH_CLIENT_ID",
        "The OAuth client was not found.",
    ),
    (
        "deleted_client",
        "The OAuth client was deleted.",
        f"the OAuth client was deleted; restore it (within 30 days) in {CONSOLE} › Deleted credentials, or create a "
        "new one and update GOOGLE_OAUTH_CLIENT_ID and the secret",
        "The OAuth client was deleted.",
    ),
    (
        "disabled_client",
        "The OAuth client was disabled.",
        f"the OAuth client is disabled; enable it in {CONSOLE}",
        "The OAuth client was disabled.",
    ),
    (
        "unauthorized_client",
        "Unauthorized",
        "this client may not use the authorization-code flow; use an OAuth client of type Web application",
        "Unauthorized",
    ),
    (
        "org_internal",
        "This client is restricted to users within its organization.",
        "the app is Internal: only its own Workspace organization may sign in; make the user type External in the "
        "OAuth consent screen",
        "This client is restricted to users within its organization.",
    ),
    (
        "access_denied",
        "Access blocked",
        "Google denies access to this app (blocked by policy, or restricted to its test users); check the OAuth "
        "consent screen's publishing status and test users",
        "Access blocked",
    ),
    (
        "admin_policy_enforced",
        "Blocked by admin",
        "a Workspace admin policy blocks this app; ask the Workspace admin to trust the app (Admin console › Security "
        "› API controls)",
        "Blocked by admin",
    ),
    (
        "policy_enforced",
        "Policy",
        "Google's account policy blocks this app; check the OAuth consent screen and verification",
        "Policy",
    ),
    (
        "invalid_request",
        "Missing required parameter: response_type",
        "Google refused the authorization request as malformed; check the client id, scopes and redirect URI in the "
        "manifest",
        "Missing required parameter: response_type",
    ),
    (
        "some_new_error",
        "Something new",
        "Google refuses the authorization request (some_new_error); read the evidence and the OAuth client's settings",
        "Something new",
    ),
]


def _auth_error_at_signin(google: Google, code: str, description: str) -> Any:
    query = urlencode({"authError": encode_auth_error(code, description, 400)})
    google.scenario("signin_page", path=f"/v3/signin/identifier?{query}")
    return run({"probe": "redirect", "environment": "dev"}, google.url)


@pytest.mark.parametrize(
    ("code", "description", "meaning", "remediation"), AUTH_ERRORS, ids=[c[0] for c in AUTH_ERRORS]
)
def test_each_authorize_error_reads_whole(google: Google, code, description, meaning, remediation) -> None:
    result = _auth_error_at_signin(google, code, description)
    assert result.status is Status.FAIL
    assert result.summary == f"Google answers {code} for the dev redirect URI: {meaning}"
    assert result.remediation == remediation
    assert (result.evidence["auth_error"], result.evidence["auth_error_description"]) == (code, description)


@pytest.mark.parametrize(
    ("description", "named", "invalid"),
    [
        (
            "Some requested scopes were invalid. {valid=[openid], invalid=[https://www.googleapis.com/auth/a, b]}",
            "scope https://www.googleapis.com/auth/a, b",
            ["https://www.googleapis.com/auth/a", "b"],
        ),
        (
            "Some requested scopes were invalid.",
            "one of the scopes https://www.googleapis.com/auth/calendar.readonly "
            "https://www.googleapis.com/auth/calendar.events https://www.googleapis.com/auth/business.manage openid "
            "email",
            [],
        ),
    ],
    ids=["names-them", "names-none"],
)
def test_invalid_scope_names_the_scopes_google_lists(google: Google, description, named, invalid) -> None:
    result = _auth_error_at_signin(google, "invalid_scope", description)
    assert result.status is Status.FAIL
    assert result.summary == f"Google answers invalid_scope for {named}: fix the app's scopes in the manifest"
    assert result.remediation == SCOPE_FIX
    assert result.evidence["invalid_scopes"] == invalid
