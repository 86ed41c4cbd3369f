"""Kind ``oauth_google``: the Google OAuth app and the Google Workspace sandbox, asked of Google itself.

Four probes, each one check (``probe`` picks it), all unattended (no browser, no user):

* ``client``: the token endpoint judges the client id and secret before the code, so a deliberately bogus
  code draws ``invalid_grant`` for a good pair and ``invalid_client`` otherwise;
* ``redirect``: the authorize endpoint, not followed, redirects to the sign-in page for a registered
  redirect URI and to ``/signin/oauth/error?authError=...`` (a protobuf, field 1 the error code) otherwise;
* ``apis``: the Service Usage API says whether each API is enabled; Business Profile also needs Google's
  approval (quota 0 and 429 RESOURCE_EXHAUSTED until then);
* ``calendar``: the sandbox's sample events, read with a test account's token from the token vault.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs, quote, urlencode, urljoin, urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

from checks.builtin.sandbox_tokens import sandbox_credential
from checks.core.hookspecs import CheckContext, check_kind
from checks.core.manifest import OAuthApp
from checks.core.outbound import NoAnswer, display_url, json_body, request, server_error
from checks.core.redact import fingerprint
from checks.core.result import Condition, Result
from checks.core.status import Status, worst

if TYPE_CHECKING:
    from vault.store import CredentialInfo

__all__ = ["AuthError", "OAuthGoogleParams", "oauth_google", "read_auth_error", "wire_scope"]

TOKEN_URL = "https://oauth2.googleapis.com/token"
AUTHORIZE_URL = "https://accounts.google.com/o/oauth2/v2/auth"
SERVICE_USAGE_URL = "https://serviceusage.googleapis.com/v1/projects/{project}/services/{service}"
BUSINESS_ACCOUNTS_URL = "https://mybusinessaccountmanagement.googleapis.com/v1/accounts"
CALENDAR_EVENTS_URL = "https://www.googleapis.com/calendar/v3/calendars/{calendar}/events"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
BOGUS_CODE = "4/0readiness-probe-not-a-real-authorization-code"
CREDENTIALS_PAGE = "Google Cloud Console › APIs & Services › Credentials"

_BARE_SCOPES = frozenset({"openid", "email", "profile"})
_BUSINESS_PROFILE = "Google Business Profile API"
_SERVICES: Mapping[str, tuple[str, ...]] = {
    "google calendar api": ("calendar-json.googleapis.com",),
    # The Business Profile API is split in several services; these two are what reading accounts and
    # locations needs (account management is also what the approval probe calls).
    "google business profile api": (
        "mybusinessbusinessinformation.googleapis.com",
        "mybusinessaccountmanagement.googleapis.com",
    ),
    "google my business api": ("mybusiness.googleapis.com",),
    "gmail api": ("gmail.googleapis.com",),
    "google people api": ("people.googleapis.com",),
    "google drive api": ("drive.googleapis.com",),
}
"""The manifest's API names (lower case) -> Service Usage service names. A name already shaped like
``x.googleapis.com`` is used as given."""

_AUTH_ERRORS: Mapping[str, tuple[str, str]] = {
    "invalid_client": (
        "Google does not know this OAuth client",
        f"create it in {CREDENTIALS_PAGE} or fix {{id_env}}",
    ),
    "deleted_client": (
        "the OAuth client was deleted",
        f"restore it (within 30 days) in {CREDENTIALS_PAGE} › Deleted credentials, or create a new one and "
        "update {id_env} and the secret",
    ),
    "disabled_client": ("the OAuth client is disabled", f"enable it in {CREDENTIALS_PAGE}"),
    "unauthorized_client": (
        "this client may not use the authorization-code flow",
        "use an OAuth client of type Web application",
    ),
    "org_internal": (
        "the app is Internal: only its own Workspace organization may sign in",
        "make the user type External in the OAuth consent screen",
    ),
    "access_denied": (
        "Google denies access to this app (blocked by policy, or restricted to its test users)",
        "check the OAuth consent screen's publishing status and test users",
    ),
    "admin_policy_enforced": (
        "a Workspace admin policy blocks this app",
        "ask the Workspace admin to trust the app (Admin console › Security › API controls)",
    ),
    "policy_enforced": ("Google's account policy blocks this app", "check the OAuth consent screen and verification"),
    "invalid_request": (
        "Google refused the authorization request as malformed",
        "check the client id, scopes and redirect URI in the manifest",
    ),
}
_ERROR_WORDS = re.compile(r"\b(redirect_uri_mismatch|invalid_scope|" + "|".join(_AUTH_ERRORS) + r")\b")
_SIGNIN_WORDS = re.compile(r"signin|login|accountchooser|chooseaccount", re.IGNORECASE)
"""Path segments of Google's sign-in and account pages (``/v3/signin/identifier``, ``/ServiceLogin``,
``/AccountChooser``, ``/signin/oauth/consent``, ``/o/oauth2/auth/oauthchooseaccount``...)."""


class OAuthGoogleParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    probe: Literal["client", "redirect", "apis", "calendar"]
    """Which question to ask Google (see the module docstring)."""
    app: str = "google"
    """Key of the app in the manifest's ``[oauth_apps]``."""
    environment: str | None = None
    """``redirect``: which of the app's redirect URIs (``dev``, ``staging``, ``app``)."""
    access_token_env: str | None = None
    """``apis``: variable holding an access token allowed ``serviceusage.services.get`` and ``.use`` on the
    project (role Service Usage Consumer: the calls bill the project as quota project)."""
    service_account_env: str | None = None
    """``apis``: variable holding a service-account key (its JSON, or a path to the JSON file)."""
    project_env: str = "GOOGLE_CLOUD_PROJECT"
    """``apis``: variable holding the Google Cloud project id (or number) of the OAuth client."""
    tenant: str | None = None
    """``calendar``: the vault tenant of the test account (any tenant when unset)."""
    account: str | None = None
    """``calendar``: the test account (e.g. ``test@sandbox.example``); the first Google one when unset."""
    calendar_id: str = "primary"
    min_events: int = Field(default=1, ge=1, le=2500)

    @model_validator(mode="after")
    def _needs(self) -> OAuthGoogleParams:
        if self.probe == "redirect" and not self.environment:
            raise ValueError("probe 'redirect' needs 'environment' (one of the app's redirect_uris environments)")
        if self.probe != "apis" and (self.access_token_env or self.service_account_env):
            raise ValueError("'access_token_env' and 'service_account_env' belong to probe 'apis'")
        return self


@check_kind("oauth_google", params=OAuthGoogleParams)
async def oauth_google(params: OAuthGoogleParams, ctx: CheckContext) -> Result:
    """Asks Google about the OAuth app: ``client`` posts a bogus code to the token endpoint
    (``invalid_grant`` means the id and secret are good; ``invalid_client`` names a missing client or a
    wrong secret); ``redirect`` opens the authorize endpoint for one environment's redirect URI without
    following it and decodes Google's ``authError`` (``redirect_uri_mismatch``, ``invalid_client``,
    ``deleted_client``, ``invalid_scope``); ``apis`` asks the Service Usage API whether each API is
    enabled and whether Business Profile access is approved; ``calendar`` reads the Google Workspace
    sandbox's sample events with a test account's token from the vault."""
    try:
        if params.probe == "calendar":
            return await _calendar(params, ctx)
        app = ctx.manifest.oauth_apps.get(params.app)
        if app is None:
            known = ", ".join(sorted(ctx.manifest.oauth_apps)) or "none"
            return Result.errored(
                f"the manifest has no [oauth_apps.{params.app}] (known: {known}): could not tell",
                remediation="Fix the check's 'app' param or add the app to the manifest",
            )
        if params.probe == "client":
            return await _client(app, ctx)
        if params.probe == "redirect":
            return await _redirect(app, params.environment or "", ctx)
        return await _apis(app, params, ctx)
    except NoAnswer as no:
        return no.result


# --- client: the token endpoint ------------------------------------------------------------------------------


async def _client(app: OAuthApp, ctx: CheckContext) -> Result:
    client_id, secret = ctx.value(app.client_id_env), ctx.secret(app.client_secret_env)
    missing = _missing(app.client_id_env, client_id) or _missing(app.client_secret_env, secret)
    if missing:
        return missing
    assert client_id and secret
    what = "Google's token endpoint"
    form = {"client_id": client_id, "client_secret": secret, "code": BOGUS_CODE, "grant_type": "authorization_code"}
    if app.redirect_uris:
        form["redirect_uri"] = app.redirect_uris[0].uri
    # A bogus code can never be redeemed, so repeating the call changes nothing: safe to retry.
    response = await request(ctx, "POST", TOKEN_URL, what=what, idempotent=True, data=form)
    code = response.status_code
    if code == 429 or code >= 500:
        return server_error(response, what, TOKEN_URL, ctx)
    body = json_body(response, what, TOKEN_URL, ctx)
    error = ctx.scrubber.clip(str(body.get("error", "")), 64)
    description = ctx.scrubber.clip(str(body.get("error_description", "")), 300)
    evidence: dict[str, Any] = {
        "url": TOKEN_URL,
        "status_code": code,
        "error": error,
        "error_description": description,
        "client_id": client_id,
        "client_secret": fingerprint(secret),
    }
    said = f"{error}: {description}" if description else error
    if error == "invalid_grant":
        return Result.passed(
            "Google accepts the OAuth client id and secret (a bogus code drew invalid_grant)", **evidence
        )
    if error == "invalid_client" and "not found" in description.lower():
        return Result.failed(
            f"Google does not know OAuth client {client_id} ({said}): create it in {CREDENTIALS_PAGE} "
            f"or fix {app.client_id_env}",
            remediation=f"Copy the Client ID of the Web application client from {CREDENTIALS_PAGE} into "
            f"{app.client_id_env}; if there is none, create one (Create credentials › OAuth client ID)",
            **evidence,
        )
    if error == "invalid_client" and description.lower() == "unauthorized":
        return Result.failed(
            f"Google refuses {app.client_secret_env} for client {client_id} ({said}): the secret is wrong; "
            f"copy it again from {CREDENTIALS_PAGE}",
            remediation=f"Open the OAuth client in {CREDENTIALS_PAGE}, copy a current client secret (or add a new "
            f"one) into {app.client_secret_env}; a secret from another client or a disabled one fails the same way",
            **evidence,
        )
    if error in ("deleted_client", "disabled_client"):
        meaning, fix = _AUTH_ERRORS[error]
        return Result.failed(f"Google answers {said}: {meaning}; {fix.format(id_env=app.client_id_env)}", **evidence)
    return Result.errored(
        f"{what} answered {code} {said or 'without an error code'}: could not tell whether the client is valid",
        remediation="Unexpected answer to a bogus code: read the evidence and retry; Google may have changed it",
        **evidence,
    )


# --- redirect: the authorize endpoint ------------------------------------------------------------------------


def wire_scope(scope: str) -> str:
    """The scope as Google wants it on the wire: ``calendar.readonly`` ->
    ``https://www.googleapis.com/auth/calendar.readonly``; ``openid``, ``email``, ``profile`` and full
    URLs stay as they are."""
    scope = scope.strip()
    if scope in _BARE_SCOPES or "://" in scope:
        return scope
    return f"https://www.googleapis.com/auth/{scope}"


@dataclass(frozen=True)
class AuthError:
    """What Google's ``authError`` carries: field 1 the error code, field 2 its description."""

    code: str
    description: str = ""


def read_auth_error(blob: str) -> AuthError | None:
    """Decode an ``authError`` value (urlsafe or standard base64, padding optional) holding a protobuf
    message whose field 1 is the error code; None when it is not one."""
    text = blob.strip().replace(" ", "+").replace("-", "+").replace("_", "/").rstrip("=")
    if not text or not re.fullmatch(r"[A-Za-z0-9+/]+", text):
        return None
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    fields = _proto_fields(raw)
    code, description = fields.get(1), fields.get(2)
    if not isinstance(code, bytes):
        return None
    try:
        code_text = code.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not re.fullmatch(r"[a-z][a-z0-9_]{2,63}", code_text):
        return None
    shown = description.decode("utf-8", "replace") if isinstance(description, bytes) else ""
    return AuthError(code_text, shown)


def _proto_fields(raw: bytes) -> dict[int, bytes | int]:
    """The first value of each field of a protobuf message; stops quietly at anything malformed or cut short."""
    fields: dict[int, bytes | int] = {}
    pos = 0
    try:
        while pos < len(raw):
            key, pos = _varint(raw, pos)
            number, wire = key >> 3, key & 7
            if number == 0:
                break
            value: bytes | int
            if wire == 0:
                value, pos = _varint(raw, pos)
            elif wire == 2:
                length, pos = _varint(raw, pos)
                if pos + length > len(raw):
                    break
                value, pos = raw[pos : pos + length], pos + length
            elif wire in (1, 5):
                size = 8 if wire == 1 else 4
                if pos + size > len(raw):
                    break
                value, pos = int.from_bytes(raw[pos : pos + size], "little"), pos + size
            else:
                break
            fields.setdefault(number, value)
    except IndexError:
        pass
    return fields


def _varint(raw: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    for _ in range(10):
        byte = raw[pos]  # IndexError when cut short
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise IndexError("varint longer than 10 bytes")


async def _redirect(app: OAuthApp, environment: str, ctx: CheckContext) -> Result:
    entry = next((r for r in app.redirect_uris if r.environment == environment), None)
    if entry is None:
        known = ", ".join(r.environment for r in app.redirect_uris) or "none"
        return Result.errored(
            f"the manifest lists no {environment} redirect URI for [oauth_apps.{app.provider}] (it has: {known}): "
            "could not tell",
            remediation="Add { environment, uri } to the app's redirect_uris, or fix the check's 'environment'",
        )
    client_id = ctx.value(app.client_id_env)
    missing = _missing(app.client_id_env, client_id)
    if missing:
        return missing
    uri = entry.uri
    scopes = [wire_scope(s) for s in app.scopes] or ["openid"]
    query = {
        "client_id": client_id,
        "redirect_uri": uri,
        "response_type": "code",
        "scope": " ".join(scopes),
        "access_type": "offline",
    }
    url = f"{AUTHORIZE_URL}?{urlencode(query, quote_via=quote)}"
    what = "Google's authorize endpoint"
    response = await request(ctx, "GET", url, what=what, follow_redirects=False)
    code = response.status_code
    evidence: dict[str, Any] = {
        "environment": environment,
        "redirect_uri": uri,
        "client_id": client_id,
        "scopes": scopes,
        "status_code": code,
    }
    if code == 429 or code >= 500:
        return server_error(response, what, AUTHORIZE_URL, ctx)
    if 300 <= code < 400 and "location" in response.headers:
        location = urljoin(AUTHORIZE_URL, response.headers["location"])
        evidence["location"] = display_url(location, ctx.scrubber)
        return _judge_location(location, app, environment, uri, scopes, ctx, evidence)
    found = _ERROR_WORDS.search(response.text)
    if found:
        invalid = re.search(r"invalid=\[([^\]]*)\]", response.text)
        described = f"invalid=[{invalid.group(1)}]" if invalid else ""
        evidence["source"] = "error page"
        return _judge_error(AuthError(found.group(1), described), app, environment, uri, scopes, ctx, evidence)
    return Result.errored(
        f"{what} answered {code} with neither a redirect nor a known error: could not tell whether {uri} is registered",
        remediation="Open the authorize URL in a browser to see what Google shows; retry later",
        body_excerpt=ctx.scrubber.clip(response.text, 200),
        **evidence,
    )


def _judge_location(
    location: str,
    app: OAuthApp,
    environment: str,
    uri: str,
    scopes: list[str],
    ctx: CheckContext,
    evidence: dict[str, Any],
) -> Result:
    parts = urlsplit(location)
    query = parse_qs(parts.query, keep_blank_values=True)
    google = parts.hostname == "accounts.google.com"
    if google and ("authError" in query or parts.path.startswith("/signin/oauth/error")):
        blob = (query.get("authError") or [""])[0]
        error = read_auth_error(blob)
        if error is None:
            return Result.errored(
                "could not read Google's error: the authError in its redirect is not the protobuf Google sends; "
                f"could not tell whether {uri} is registered",
                remediation="Open the authorize URL in a browser to see Google's error page",
                auth_error_length=len(blob),
                **evidence,
            )
        return _judge_error(error, app, environment, uri, scopes, ctx, evidence)
    if location.startswith(uri) and "error" in query:
        return _judge_error(AuthError(query["error"][0]), app, environment, uri, scopes, ctx, evidence)
    if google and _signin_page(parts.path):
        return Result.passed(
            f"Google accepts the {environment} redirect URI {uri}: registered (it sends the user on to sign in)",
            **evidence,
        )
    return Result.errored(
        f"Google redirected somewhere unexpected ({evidence['location']}): could not tell whether {uri} is registered",
        remediation="Open the authorize URL in a browser to see where it leads",
        **evidence,
    )


def _signin_page(path: str) -> bool:
    """Whether a path of accounts.google.com is a sign-in or account page: under the OAuth endpoints
    (``/o/oauth2/...``) or with a segment naming sign-in, login or an account chooser; never an error page.
    A rule rather than a list: Google moves these pages (``/v3/signin/``, ``/o/oauth2/v2/auth/identifier``)."""
    segments = [s.lower() for s in path.split("/") if s]
    if not segments or any("error" in s for s in segments):
        return False
    return segments[:2] == ["o", "oauth2"] or any(_SIGNIN_WORDS.search(s) for s in segments)


def _judge_error(
    error: AuthError,
    app: OAuthApp,
    environment: str,
    uri: str,
    scopes: list[str],
    ctx: CheckContext,
    evidence: dict[str, Any],
) -> Result:
    described = ctx.scrubber.clip(error.description, 300)
    code = ctx.scrubber.clip(error.code, 64)
    error = AuthError(code, described)
    evidence.update(auth_error=error.code, auth_error_description=described)
    if error.code == "redirect_uri_mismatch":
        return Result.failed(
            f"Google answers redirect_uri_mismatch for {uri}: add it to the OAuth client's Authorized redirect URIs",
            remediation=f"The {environment} redirect URI is not registered: in {CREDENTIALS_PAGE} › the OAuth "
            f"client › Authorized redirect URIs, add {uri} exactly (scheme, host, path, no trailing slash); "
            "Google can take a few minutes to apply it",
            **evidence,
        )
    if error.code == "invalid_scope":
        listed = re.search(r"invalid=\[([^\]]*)\]", error.description)
        invalid = [s.strip() for s in listed.group(1).split(",") if s.strip()] if listed else []
        evidence["invalid_scopes"] = invalid
        named = f"scope {', '.join(invalid)}" if invalid else f"one of the scopes {' '.join(scopes)}"
        return Result.failed(
            f"Google answers invalid_scope for {named}: fix the app's scopes in the manifest",
            remediation="Use each scope's full URL (https://www.googleapis.com/auth/...); enable the API it "
            "belongs to and add the scope to the OAuth consent screen's Data Access",
            **evidence,
        )
    meaning, fix = _AUTH_ERRORS.get(error.code, (f"Google refuses the authorization request ({error.code})", ""))
    fix = fix.format(id_env=app.client_id_env) if fix else "read the evidence and the OAuth client's settings"
    return Result.failed(
        f"Google answers {error.code} for the {environment} redirect URI: {meaning}; {fix}",
        remediation=described,
        **evidence,
    )


# --- apis: the Service Usage API ------------------------------------------------------------------------------


def _services(api: str) -> tuple[str, ...]:
    if re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)*\.googleapis\.com", api):
        return (api,)
    return _SERVICES.get(api.strip().lower(), ())


async def _apis(app: OAuthApp, params: OAuthGoogleParams, ctx: CheckContext) -> Result:
    if not app.apis:
        return Result.skipped(
            f"not configured: the manifest lists no APIs for [oauth_apps.{params.app}], so there is nothing to check",
            remediation=f"List the APIs the app needs in [oauth_apps.{params.app}] apis",
        )
    approval = (
        " Business Profile access also needs Google's approval (until then its quota is 0)."
        if any(a.lower() == _BUSINESS_PROFILE.lower() for a in app.apis)
        else ""
    )
    project = ctx.value(params.project_env)
    credential_vars = [v for v in (params.access_token_env, params.service_account_env) if v]
    has_credential = any(ctx.env.get(v) for v in credential_vars)
    if not project or not has_credential:
        names = " or ".join(credential_vars) or "access_token_env (e.g. GOOGLE_SERVICE_USAGE_TOKEN)"
        return Result.skipped(
            f"not configured: could not check whether the APIs are enabled; set {names} (a credential allowed "
            f"serviceusage.services.get and .use, role Service Usage Consumer) and {params.project_env} to let "
            "this check ask the Service Usage API." + approval,
            remediation="Meanwhile check APIs & Services › Enabled APIs & services in Google Cloud Console: "
            + ", ".join(app.apis),
            apis=list(app.apis),
            project_set=bool(project),
            credential_set=has_credential,
        )
    token = await _service_usage_token(params, ctx)
    if isinstance(token, Result):
        return token
    headers = {"Authorization": f"Bearer {token}", "X-Goog-User-Project": project}
    conditions: list[Condition] = []
    problems: list[Result] = []
    states: dict[str, str] = {}
    for api in app.apis:
        services = _services(api)
        if not services:
            problems.append(
                Result.errored(f"no Service Usage name known for API {api!r}: write it as NAME.googleapis.com")
            )
            conditions.append(Condition(f"{api} enabled", False, "unknown service name"))
            continue
        for service in services:
            outcome = await _service_state(ctx, project, service, api, headers)
            if isinstance(outcome, Result):
                return outcome  # the credential or the project is the problem: the same for every API
            states[service] = outcome
            conditions.append(Condition(f"{service} ENABLED", outcome == "ENABLED", f"state {outcome}"))
            if outcome != "ENABLED":
                problems.append(
                    Result.failed(
                        f"{api} ({service}) is {outcome} in project {project}: enable it in APIs & Services › Library",
                        remediation=f"Google Cloud Console › APIs & Services › Library › {api} › Enable "
                        f"(project {project}), or `gcloud services enable {service} --project {project}`",
                    )
                )
    evidence: dict[str, Any] = {"project": project, "services": states}
    business = _services(_BUSINESS_PROFILE)
    if approval and all(states.get(s) == "ENABLED" for s in business):
        judged = await _business_approval(ctx, headers)
        conditions.append(Condition("Business Profile access approved", judged.status is Status.PASS, judged.summary))
        evidence["business_profile"] = judged.evidence
        if judged.status is not Status.PASS:
            problems.append(judged)
    status = worst(r.status for r in problems)
    if not problems:
        summary = f"{' and '.join(app.apis)} enabled in project {project}"
        return Result(
            Status.PASS,
            summary + ("; Business Profile access approved" if approval else ""),
            evidence,
            "",
            tuple(conditions),
        )
    first = next(r for r in problems if r.status is status)
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return Result(status, first.summary + more, evidence, first.remediation, tuple(conditions))


async def _service_usage_token(params: OAuthGoogleParams, ctx: CheckContext) -> str | Result:
    """A bearer token for the Service Usage API: the access token, or one minted from the service-account key."""
    if params.access_token_env and ctx.env.get(params.access_token_env):
        return ctx.secret(params.access_token_env) or ""
    name = params.service_account_env or ""
    raw = ctx.secret(name) or ""
    info = _service_account_info(raw)
    if isinstance(info, str):
        return Result.failed(
            f"{name} {info}: set it to a service-account key (its JSON, or the file's path)",
            remediation="Google Cloud Console › IAM & Admin › Service accounts › Keys › Add key › JSON",
        )
    ctx.scrubber.add(info["private_key"])
    token_uri = str(info.get("token_uri") or TOKEN_URL)
    assertion = _jwt_assertion(info, token_uri, int(ctx.clock.now().timestamp()))
    ctx.scrubber.add(assertion)
    what = "Google's token endpoint (service-account grant)"
    form = {"grant_type": JWT_BEARER, "assertion": assertion}
    response = await request(ctx, "POST", token_uri, what=what, idempotent=True, data=form)
    if response.status_code == 429 or response.status_code >= 500:
        return server_error(response, what, token_uri, ctx)
    body = json_body(response, what, token_uri, ctx)
    token = body.get("access_token")
    if response.status_code == 200 and isinstance(token, str) and token:
        ctx.scrubber.add(token)
        return token
    said = f"{ctx.scrubber.clip(str(body.get('error', '')), 64)}: "
    said += ctx.scrubber.clip(str(body.get("error_description", "")), 300)
    return Result.failed(
        f"Google refuses the service-account key in {name} ({said}): create a new key for "
        f"{info.get('client_email', 'the service account')}",
        remediation="A deleted or disabled key, or a deleted service account, is refused this way",
        status_code=response.status_code,
        service_account=str(info.get("client_email", "")),
        key_id=str(info.get("private_key_id", "")),
    )


def _service_account_info(raw: str) -> dict[str, Any] | str:
    """The key's JSON (given inline or as a file path), or why it is not usable (in words, never the value)."""
    text = raw.strip()
    if not text:
        return "is not set"
    if not text.startswith("{"):
        try:
            text = Path(text).expanduser().read_text()
        except (OSError, ValueError):
            return "is neither a service-account key's JSON nor a readable file path"
    try:
        info = json.loads(text)
    except ValueError:
        return "does not hold valid JSON"
    if not isinstance(info, dict) or info.get("type") != "service_account":
        return 'is not a service-account key (its JSON has no "type": "service_account")'
    if not info.get("client_email") or not info.get("private_key"):
        return "lacks client_email or private_key"
    return info


def _jwt_assertion(info: Mapping[str, Any], audience: str, now: int) -> str:
    """An RS256-signed JWT asking for a cloud-platform token, as google-auth's service-account flow sends."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    header = {"alg": "RS256", "typ": "JWT", **({"kid": info["private_key_id"]} if info.get("private_key_id") else {})}
    claims = {
        "iss": info["client_email"],
        "scope": "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/business.manage",
        "aud": audience,
        "iat": now,
        "exp": now + 3600,
    }
    signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
    key = serialization.load_pem_private_key(str(info["private_key"]).encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the service-account key is not an RSA key")
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64url(signature)}"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def _service_state(
    ctx: CheckContext, project: str, service: str, api: str, headers: dict[str, str]
) -> str | Result:
    """The service's state (``ENABLED``, ``DISABLED``), or a Result for an answer that ends the probe."""
    url = SERVICE_USAGE_URL.format(project=quote(project, safe=""), service=service)
    what = "Google's Service Usage API"
    response = await request(ctx, "GET", url, what=what, headers=headers)
    code = response.status_code
    if code == 429 or code >= 500:
        return server_error(response, what, url, ctx)
    body = json_body(response, what, url, ctx)
    if code == 200:
        state = body.get("state")
        if isinstance(state, str) and state:
            return state
        raise NoAnswer(
            Result.errored(
                f"{what} answered 200 without a state for {service}: could not tell",
                url=url,
                body_excerpt=ctx.scrubber.clip(response.text, 200),
            )
        )
    status, message, reason = _google_error(body)
    evidence: dict[str, Any] = {
        "url": url,
        "status_code": code,
        "error_status": status,
        "error_reason": reason,
        "error_message": ctx.scrubber.clip(message, 300),
        "project": project,
    }
    if code == 401:
        return Result.failed(
            f"Google refuses the Service Usage credential (401 {status}): it expired or is not a valid token",
            remediation="Set a fresh access token, or use service_account_env so the check mints its own",
            **evidence,
        )
    if reason == "SERVICE_DISABLED" or "has not been used in project" in message:
        return Result.failed(
            f"the Service Usage API itself is disabled for the credential's project: enable "
            f"serviceusage.googleapis.com to let this check tell whether {api} is enabled",
            remediation=f"`gcloud services enable serviceusage.googleapis.com --project {project}`",
            **evidence,
        )
    if reason == "USER_PROJECT_DENIED":
        return Result.failed(
            f"Google refuses project {project} as the quota project (403 USER_PROJECT_DENIED): grant the "
            f"credential's principal serviceusage.services.use on {project} (role Service Usage Consumer)",
            remediation=f"`gcloud projects add-iam-policy-binding {project} --member=PRINCIPAL "
            "--role=roles/serviceusage.serviceUsageConsumer` (IAM & Admin › IAM › Grant access › Service Usage "
            "Consumer); the check bills its calls to the project (X-Goog-User-Project), which needs "
            "serviceusage.services.use; Service Usage Viewer does not grant it",
            **evidence,
        )
    if code == 403:
        return Result.failed(
            f"the Service Usage credential may not read project {project}'s services (403 {status}): grant it "
            "serviceusage.services.get",
            remediation=f"Give the credential's principal the Service Usage Consumer role (roles/serviceusage."
            f"serviceUsageConsumer: services.get, and services.use for the quota project) on project {project}, "
            f"and check {project} is the OAuth client's project",
            **evidence,
        )
    if code == 404:
        return Result.failed(f"Google knows no project {project} (404): fix {project!r}", **evidence)
    return Result.errored(f"{what} answered {code} {status}: could not tell whether {api} is enabled", **evidence)


def _google_error(body: Mapping[str, Any]) -> tuple[str, str, str]:
    """(status, message, ErrorInfo reason) of Google's ``{"error": {...}}`` body; blanks when absent."""
    error = body.get("error")
    if not isinstance(error, dict):
        return "", str(error or ""), ""
    reason = ""
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("reason"):
            reason = str(detail["reason"])
            break
    return str(error.get("status", "")), str(error.get("message", "")), reason


async def _business_approval(ctx: CheckContext, headers: dict[str, str]) -> Result:
    """Whether Google approved this project's Business Profile API access: quota 0 (429) until it does."""
    what = "Google's Business Profile API"
    # A quota of 0 does not lift within seconds: no retries, the 429 is the answer.
    response = await request(ctx, "GET", BUSINESS_ACCOUNTS_URL, what=what, retries=0, headers=headers)
    code = response.status_code
    if code == 200:
        return Result.passed("Business Profile access approved", status_code=200)
    if code >= 500:
        return server_error(response, what, BUSINESS_ACCOUNTS_URL, ctx)
    try:
        body = response.json()
    except ValueError:
        body = {}
    status, message, reason = _google_error(body if isinstance(body, dict) else {})
    evidence: dict[str, Any] = {
        "status_code": code,
        "error_status": status,
        "error_reason": reason,
        "error_message": ctx.scrubber.clip(message, 300),
    }
    if code == 429 and status in ("RESOURCE_EXHAUSTED", ""):
        return Result.pending(
            "waiting on Google's Business Profile API approval: until Google approves access the quota is 0 "
            "and calls answer 429 RESOURCE_EXHAUSTED",
            remediation="Request access with Google's Business Profile API access form (developers.google.com/"
            "my-business/content/prereqs); once approved the quota becomes non-zero (check IAM & Admin › Quotas)",
            **evidence,
        )
    return Result.errored(
        f"could not tell whether Business Profile access is approved: {what} answered {code} {status}",
        remediation="The Service Usage credential may lack the business.manage scope; this is not a verdict",
        **evidence,
    )


# --- calendar: the Google Workspace sandbox -------------------------------------------------------------------


async def _calendar(params: OAuthGoogleParams, ctx: CheckContext) -> Result:
    found = await sandbox_credential(
        ctx,
        provider="google",
        label="Google",
        sandbox="Google Workspace",
        where="sandbox workspace",
        consent="sandbox workspace",
        tenant=params.tenant,
        account=params.account,
    )
    if isinstance(found, Result):
        return found
    return await _read_events(params, ctx, *found)


async def _read_events(
    params: OAuthGoogleParams, ctx: CheckContext, vault: Any, actor: Any, info: CredentialInfo
) -> Result:
    from vault.errors import VaultError

    url = CALENDAR_EVENTS_URL.format(calendar=quote(params.calendar_id, safe=""))
    query = {"maxResults": str(max(params.min_events, 10)), "singleEvents": "true"}
    what = "Google Calendar API"
    evidence: dict[str, Any] = {
        "tenant": info.tenant,
        "account": info.account,
        "credential_id": info.id,
        "token_fingerprint": info.token_fingerprint,
        "calendar_id": params.calendar_id,
        "expires_at": info.expires_at.isoformat() if info.expires_at else None,
        "has_refresh_token": info.has_refresh_token,
    }
    try:
        tokens = await asyncio.to_thread(vault.get, actor, info.tenant, info.id)
    except VaultError as exc:
        return Result.errored(
            f"the vault refused the test account's token ({type(exc).__name__}: {exc}): could not tell", **evidence
        )
    try:
        headers = {"Authorization": f"Bearer {tokens.access_token.reveal()}"}
        response = await request(ctx, "GET", url, what=what, params=query, headers=headers)
    except NoAnswer as no:
        return _with_evidence(no.result, evidence)
    finally:
        headers = {}
        tokens.wipe()
    code = response.status_code
    evidence["status_code"] = code
    if code == 429 or code >= 500:
        return _with_evidence(server_error(response, what, url, ctx), evidence)
    try:
        body = json_body(response, what, url, ctx)
    except NoAnswer as no:
        return _with_evidence(no.result, evidence)
    if code == 200:
        items = body.get("items")
        count = len(items) if isinstance(items, list) else 0
        evidence["events"] = count
        if count >= params.min_events:
            return Result.passed(
                f"Google Workspace sandbox reachable: calendar {params.calendar_id} of {info.account} has {count} "
                f"event(s) (at least {params.min_events} wanted)",
                **evidence,
            )
        return Result.failed(
            f"calendar {params.calendar_id} of {info.account} has {count} event(s), fewer than {params.min_events}: "
            "add the sample calendar events to the sandbox",
            remediation="Create the sample events the test plan needs in the test account's calendar "
            "(Google Calendar, or the Calendar API's events.insert)",
            **evidence,
        )
    status, message, reason = _google_error(body)
    evidence.update(error_status=status, error_reason=reason, error_message=ctx.scrubber.clip(message, 300))
    if code == 401:
        return Result.failed(
            f"Google refuses {info.account}'s token (401 {status}): it expired or was revoked; let the refresher "
            "renew it or re-authorize the account",
            remediation="`readiness vault refresh` renews it when a refresh token is stored; otherwise re-run the "
            "consent for the test account and " + "`readiness vault put` the new tokens",
            **evidence,
        )
    if code == 403:
        return Result.failed(
            f"Google forbids reading calendar {params.calendar_id} with {info.account}'s token "
            f"(403 {reason or status}): enable the Calendar API or grant the calendar scope",
            remediation="Enable Google Calendar API for the OAuth client's project and re-consent with "
            "https://www.googleapis.com/auth/calendar.readonly",
            **evidence,
        )
    if code == 404:
        return Result.failed(
            f"Google knows no calendar {params.calendar_id} for {info.account} (404): fix calendar_id or share it",
            **evidence,
        )
    return Result.errored(f"{what} answered {code} {status}: could not tell", **evidence)


def _with_evidence(result: Result, evidence: Mapping[str, Any]) -> Result:
    return replace(result, evidence={**evidence, **result.evidence})


def _missing(name: str, value: str | None) -> Result | None:
    if value:
        return None
    return Result.failed(
        f"{name} is not set: copy it from {CREDENTIALS_PAGE}",
        remediation=f"Set {name} in the process environment or the .env file next to the manifest",
        variable=name,
    )
