"""Kind ``env``: set, not a placeholder, shaped like its type, and never shown."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import string
from datetime import UTC, datetime

import httpx
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from checks.builtin.env import EnvParams, env
from checks.core.clock import FixedClock
from checks.core.hookspecs import KIND_ATTR
from checks.core.manifest import CheckSpec
from checks.core.manifest_load import parse_manifest
from checks.core.redact import Scrubber, fingerprint
from checks.core.result import Result
from checks.core.status import Status
from tests.checks.helpers import run_kind


def manifest_text(extra: str = "") -> str:
    """The smallest valid manifest: one area, one item, one contact, plus ``extra`` TOML."""
    return f"""
[release]
story = "STORY-TEST"
title = "Test release"
release_manager = "rm"
assessment_date = 2025-10-01
next_review = 2025-10-08
decision_point = 2025-10-15

[[areas]]
id = "oauth"
title = "OAuth"
priority = "critical"

[[items]]
id = "google-app"
title = "Google OAuth application"
area = "oauth"
priority = "critical"
owner = "rm"

[contacts.rm]
name = "Release Manager"
{extra}
"""


MANIFEST = parse_manifest(manifest_text())
CLIENT = httpx.AsyncClient(trust_env=False)  # the env kind never calls out; one client keeps the tests fast


def run_env(
    type_: str,
    value: str | None,
    *,
    name: str = "PROBE_VAR",
    required: bool = True,
    sources: dict[str, str] | None = None,
) -> Result:
    params = EnvParams(variable=name, type=type_, required=required)
    environ = {} if value is None else {name: value}
    return run_kind(
        lambda ctx: env(params, ctx),
        kind="env",
        params=params.model_dump(),
        manifest=MANIFEST,
        env=environ,
        check_id=f"env.{name}",
        item="google-app",
        extras={"env_sources": sources} if sources is not None else {},
        client=CLIENT,
    )


def rendered(result: Result) -> str:
    """Everything a result could show anywhere: its fields, serialised and repr'd."""
    return f"{dataclasses.asdict(result)!r} {result!r}"


def assert_not_shown(result: Result, value: str) -> None:
    assert value not in rendered(result)


KEY32 = base64.b64encode(bytes(range(32))).decode()
KEY32_URLSAFE = base64.urlsafe_b64encode(hashlib.sha256(b"readiness").digest()).decode()
GUID = "8f14e45f-ceea-4674-9c1b-2f3a5d6e7b8c"
GOOGLE_ID = "123456789012-q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6.apps.googleusercontent.com"
GOOGLE_SECRET = "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"
TOKEN = "9f86d081884c7d659a2feaa0c55ad015"
SID = "AC" + TOKEN
F, W = Status.FAIL, Status.WARN

GOOD = [
    ("google_client_id", GOOGLE_ID),
    ("google_client_secret", GOOGLE_SECRET),
    ("google_client_secret", "Qw3rTy8uIo1pAs5dFg7hJk2l"),  # legacy, 24 characters
    ("microsoft_client_id", GUID),
    ("microsoft_tenant_id", GUID.upper()),
    ("microsoft_tenant_id", "contoso.onmicrosoft.com"),
    ("microsoft_tenant_id", "fabrikam.co.uk"),
    ("microsoft_client_secret", "Q7x8Q~aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"),
    ("twilio_account_sid", SID),
    ("twilio_auth_token", TOKEN),
    ("retell_api_key", "key_3f9a8b7c6d5e4f3a2b1c"),
    ("api_key", "prx_4eC39HqLyjWDarjtT1zdp7dc"),
    ("url", "https://vault.acme-corp.io/api"),
    ("url", "http://127.0.0.1:8080/"),
    ("url", "http://127.8.9.1/health"),
    ("url", "http://localhost:9000"),
    ("url", "http://[::1]:8000/x"),
    ("vault_key", KEY32),
    ("vault_key", KEY32_URLSAFE),
    ("vault_key", KEY32_URLSAFE.rstrip("=")),
    ("id_list", "loc_1a2b3c"),
    ("id_list", "loc_1a2b3c, loc_4d5e6f"),
    ("string", "production-eu"),
]


@pytest.mark.parametrize(("type_", "value"), GOOD, ids=[f"{t}-{n}" for n, (t, _) in enumerate(GOOD)])
def test_good_values_pass(type_: str, value: str) -> None:
    result = run_env(type_, value)
    assert result.status is Status.PASS, result.summary
    assert result.evidence["fingerprint"] == fingerprint(value)
    assert result.evidence["length"] == len(value)
    assert result.evidence["present"] is True
    assert_not_shown(result, value)


RANDOM_SECRETS = [(t, v) for t, v in GOOD if t.endswith(("_secret", "_token", "_key", "_sid"))]


@pytest.mark.parametrize(("type_", "value"), RANDOM_SECRETS, ids=[t for t, _ in RANDOM_SECRETS])
@pytest.mark.parametrize("mangle", ["as-is", "cut-short"])
def test_random_secrets_are_not_shown_even_partially(type_: str, value: str, mangle: str) -> None:
    value = value if mangle == "as-is" else value[:14]
    text = rendered(run_env(type_, value))
    body = value.removeprefix("GOCSPX-")  # the format's public prefix may be named; the rest never
    windows = {body[i : i + 6] for i in range(len(body) - 5)}
    assert not [w for w in windows if w in text]


BAD = [
    # (id, type, value, status, words the summary must contain)
    ("gid-digits-only", "google_client_id", "123456789012", F, "expected <digits>-<id>"),
    ("gid-no-number", "google_client_id", "abcdefgh.apps.googleusercontent.com", F, "Credentials"),
    ("gid-is-secret", "google_client_id", GOOGLE_SECRET, F, "client secret"),
    ("gsecret-short", "google_client_secret", "Qw3rTy8uIo1p", F, "too short"),
    ("gsecret-cut", "google_client_secret", "GOCSPX-Qw3rTy8uIo1p", F, "cut short"),
    ("gsecret-is-id", "google_client_secret", GOOGLE_ID, F, "client ID"),
    ("msid-not-guid", "microsoft_client_id", "my-app-registration", F, "expected a GUID"),
    ("msid-short-guid", "microsoft_client_id", GUID[:-1], F, "expected a GUID"),
    ("tenant-common", "microsoft_tenant_id", "common", F, "client credentials need the tenant"),
    ("tenant-orgs", "microsoft_tenant_id", "organizations", F, "multi-tenant alias"),
    ("tenant-consumers", "microsoft_tenant_id", "consumers", F, "multi-tenant alias"),
    ("tenant-bare-word", "microsoft_tenant_id", "contoso", F, "verified domain"),
    ("mssecret-is-id", "microsoft_client_secret", GUID, F, "copy the Value column"),
    ("mssecret-tiny", "microsoft_client_secret", "Q7x8Q~aBcD", F, "too short"),
    ("mssecret-shortish", "microsoft_client_secret", "Q7x8Q~aBcDeFgHiJkLmN", W, "whole Value"),
    ("sid-uppercase", "twilio_account_sid", SID.upper(), F, "lowercase hex"),
    ("sid-api-key", "twilio_account_sid", "SK" + TOKEN, F, "API key SID"),
    ("sid-short", "twilio_account_sid", SID[:16], F, "Twilio Console"),
    ("token-31-hex", "twilio_auth_token", TOKEN[:-1], F, "32 hex"),
    ("token-not-hex", "twilio_auth_token", TOKEN[:-1] + "g", F, "32 hex"),
    ("token-is-sid", "twilio_auth_token", SID, F, "Account SID"),
    ("retell-short", "retell_api_key", "key_3f9a8b", F, "too short"),
    ("apikey-short", "api_key", "prx_4eC39Hq", F, "too short"),
    ("apikey-space", "api_key", "prx_4eC39Hq LyjWDarjtT1zdp7dc", F, "whitespace"),
    ("url-http-remote", "url", "http://vault.acme-corp.io/api", F, "plain http:// off loopback"),
    ("url-http-128", "url", "http://128.0.0.1/", F, "off loopback"),
    ("url-no-scheme", "url", "vault.acme-corp.io/api", F, "absolute http(s)"),
    ("url-ftp", "url", "ftp://files.acme-corp.io/", F, "absolute http(s)"),
    ("url-bad-port", "url", "https://vault.acme-corp.io:99999/", F, "does not parse"),
    ("url-bad-ipv6", "url", "https://[::1/api", F, "does not parse"),
    ("key-not-base64", "vault_key", "not base64 at all!!", F, "not base64"),
    ("key-16-bytes", "vault_key", base64.b64encode(b"0123456789abcdef").decode(), F, "16 bytes"),
    ("key-hex", "vault_key", hashlib.sha256(b"k").hexdigest(), F, "looks like hex"),
    ("key-zeros", "vault_key", base64.b64encode(bytes(32)).decode(), F, "not random"),
    ("key-constant", "vault_key", base64.b64encode(b"\x07" * 32).decode(), F, "not random"),
    ("ids-double-comma", "id_list", "loc_1a2b,,loc_3c4d", F, "blank entry"),
    ("ids-trailing-comma", "id_list", "loc_1a2b,", F, "blank entry"),
    ("ids-space-inside", "id_list", "loc 1a2b,loc_3c4d", F, "whitespace inside"),
    ("ids-duplicate", "id_list", "loc_1a2b,loc_1a2b", F, "twice"),
    ("leading-space", "microsoft_client_id", f" {GUID}", F, "leading or trailing whitespace"),
    ("trailing-newline", "twilio_auth_token", TOKEN + "\n", F, "whitespace"),
    ("quoted", "api_key", '"prx_4eC39HqLyjWDarjtT1zdp7dc"', F, "wrapped in quotes"),
]


@pytest.mark.parametrize(
    ("type_", "value", "status", "words"),
    [case[1:] for case in BAD],
    ids=[case[0] for case in BAD],
)
def test_bad_values_say_what_is_wrong_and_how_to_fix(type_, value, status, words) -> None:
    result = run_env(type_, value, name="SOME_CREDENTIAL")
    assert result.status is status, result.summary
    assert result.summary.startswith("SOME_CREDENTIAL ")
    assert words in result.summary
    assert ":" in result.summary  # "<what is wrong>: <what to do>"
    assert result.remediation
    assert result.evidence["present"] is True
    assert_not_shown(result, value)


PLACEHOLDERS = [
    ("seed-template", "google_client_id", "<from_google_console>"),
    ("template-inside-url", "url", "https://<vault_service_endpoint>/v1"),
    ("changeme", "api_key", "changeme"),
    ("change-me", "api_key", "change-me"),
    ("change_me-upper", "string", "CHANGE_ME"),
    ("todo", "string", "TODO"),
    ("xxx", "twilio_auth_token", "xxx"),
    ("x-filled-sid", "twilio_account_sid", "AC" + "x" * 32),
    ("placeholder", "retell_api_key", "placeholder"),
    ("your-dash", "google_client_secret", "your-client-secret-here"),
    ("your-underscore", "api_key", "your_api_key_goes_here"),
    ("example-word", "string", "example"),
    ("example-domain", "url", "https://vault.example.com/api"),
    ("empty", "string", ""),
    ("whitespace", "microsoft_client_id", "   "),
    ("unexpanded-reference", "api_key", "${GHL_PROXY_API_KEY}"),
    ("quoted-null", "string", '"null"'),
    ("ellipsis", "retell_api_key", "..."),
]


@pytest.mark.parametrize(("type_", "value"), [c[1:] for c in PLACEHOLDERS], ids=[c[0] for c in PLACEHOLDERS])
def test_placeholders_fail(type_: str, value: str) -> None:
    result = run_env(type_, value, name="GOOGLE_OAUTH_CLIENT_ID")
    assert result.status is Status.FAIL
    assert result.evidence["placeholder"] is True
    assert result.summary.startswith("GOOGLE_OAUTH_CLIENT_ID ")
    assert any(word in result.summary for word in ("placeholder", "empty", "unexpanded"))
    if len(value.strip()) >= 8 and not value.isalpha():  # a bare word may be a word of the message
        assert_not_shown(result, value)


def test_missing_names_the_variable_and_where_to_get_it() -> None:
    result = run_env("google_client_id", None, name="GOOGLE_OAUTH_CLIENT_ID")
    assert result.status is Status.FAIL
    assert result.summary.startswith("GOOGLE_OAUTH_CLIENT_ID is not set")
    assert "Google Cloud Console" in result.summary
    assert ".env" in result.remediation
    assert result.evidence["present"] is False
    assert "fingerprint" not in result.evidence


def test_optional_and_missing_passes_but_optional_and_wrong_fails() -> None:
    assert run_env("url", None, required=False).status is Status.PASS
    assert run_env("url", "http://vault.acme-corp.io", required=False).status is Status.FAIL


@pytest.mark.parametrize(
    ("sources", "expected"),
    [(None, None), ({"PROBE_VAR": ".env file"}, ".env file"), ({"PROBE_VAR": "environment"}, "environment")],
    ids=["unknown", "dotenv", "environment"],
)
def test_source_is_reported_when_the_engine_knows_it(sources, expected) -> None:
    result = run_env("api_key", "short", sources=sources)
    assert result.evidence["source"] == expected
    if expected:
        assert f"comes from the {expected}" in result.remediation


@pytest.mark.parametrize(("secret", "registered"), [(True, True), (False, False)], ids=["secret", "plain"])
def test_secret_values_are_registered_with_the_scrubber(secret: bool, registered: bool) -> None:
    value = "prx_4eC39HqLyjWDarjtT1zdp7dc"
    params = EnvParams(variable="PROBE_VAR", type="api_key", secret=secret)
    scrubber = Scrubber()
    result = run_kind(
        lambda ctx: env(params, ctx),
        manifest=MANIFEST,
        env={"PROBE_VAR": value},
        check=CheckSpec(id="env.PROBE_VAR", item="google-app", kind="env"),
        clock=FixedClock(datetime(2025, 10, 6, tzinfo=UTC)),
        scrubber=scrubber,
        client=CLIENT,
    )
    assert (value not in scrubber(f"boom: {value}")) is registered
    assert value not in rendered(result)


SECRET_ALPHABET = string.ascii_letters + string.digits + "-_~+/=.:@!%"


@settings(max_examples=60, deadline=None)
@given(
    type_=st.sampled_from(sorted({t for t, _ in GOOD})),
    value=st.text(alphabet=SECRET_ALPHABET, min_size=10, max_size=60),
)
def test_any_value_is_never_shown(type_: str, value: str) -> None:
    # A value made only of, say, lowercase letters can be a word of the message ("remediatio");
    # one that mixes cases and digits, like a real secret, cannot.
    assume(any(c.isupper() for c in value) and any(c.islower() for c in value) and any(c.isdigit() for c in value))
    assert value not in rendered(run_env(type_, value))


def test_manifest_env_entries_feed_the_kind() -> None:
    manifest = parse_manifest(
        manifest_text(
            """
[[env]]
name = "GOOGLE_OAUTH_CLIENT_ID"
type = "google_client_id"
item = "google-app"

[[env]]
name = "MICROSOFT_TENANT_ID"
type = "microsoft_tenant_id"
item = "google-app"
required = false
"""
        )
    )
    checks = {c.id: c for c in manifest.env_checks()}
    params = EnvParams.model_validate(checks["env.MICROSOFT_TENANT_ID"].params)
    assert (params.type, params.required, params.secret) == ("microsoft_tenant_id", False, False)
    assert EnvParams.model_validate(checks["env.GOOGLE_OAUTH_CLIENT_ID"].params).type == "google_client_id"


@pytest.mark.parametrize(
    "params",
    [{"variable": "X", "type": "password"}, {"variable": ""}, {"variable": "X", "value": "nope"}],
    ids=["unknown-type", "empty-name", "unknown-key"],
)
def test_params_are_validated(params) -> None:
    with pytest.raises(ValidationError):
        EnvParams.model_validate(params)


def test_kind_is_marked_and_documented() -> None:
    spec = getattr(env, KIND_ATTR)
    assert spec.name == "env"
    assert spec.params is EnvParams
    assert "placeholder" in spec.doc
