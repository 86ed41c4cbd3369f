"""The ``client`` and ``redirect`` probes of ``oauth_google``: the OAuth client as Google's token endpoint
and authorize endpoint judge it (the id and secret; each environment's redirect URI and the app's scopes)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urljoin, urlsplit

from checks.builtin.google_common import AUTHORIZE_URL, CREDENTIALS_PAGE, TOKEN_URL, missing_variable
from checks.builtin.google_errors import AUTH_ERRORS, AuthError, read_auth_error
from checks.core.hookspecs import CheckContext
from checks.core.manifest import OAuthApp
from checks.core.outbound import display_url, json_body, request, server_error
from checks.core.redact import fingerprint
from checks.core.result import Result

__all__ = ["probe_client", "probe_redirect", "wire_scope"]


BOGUS_CODE = "4/0readiness-probe-not-a-real-authorization-code"
_BARE_SCOPES = frozenset({"openid", "email", "profile"})
_ERROR_WORDS = re.compile(r"\b(redirect_uri_mismatch|invalid_scope|" + "|".join(AUTH_ERRORS) + r")\b")
_SIGNIN_WORDS = re.compile(r"signin|login|accountchooser|chooseaccount", re.IGNORECASE)
"""Path segments of Google's sign-in and account pages (``/v3/signin/identifier``, ``/ServiceLogin``,
``/AccountChooser``, ``/signin/oauth/consent``, ``/o/oauth2/auth/oauthchooseaccount``...)."""


# --- client: the token endpoint ------------------------------------------------------------------------------


async def probe_client(app: OAuthApp, ctx: CheckContext) -> Result:
    client_id, secret = ctx.value(app.client_id_env), ctx.secret(app.client_secret_env)
    missing = missing_variable(app.client_id_env, client_id) or missing_variable(app.client_secret_env, secret)
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
        meaning, fix = AUTH_ERRORS[error]
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


async def probe_redirect(app: OAuthApp, environment: str, ctx: CheckContext) -> Result:
    entry = next((r for r in app.redirect_uris if r.environment == environment), None)
    if entry is None:
        known = ", ".join(r.environment for r in app.redirect_uris) or "none"
        return Result.errored(
            f"the manifest lists no {environment} redirect URI for [oauth_apps.{app.provider}] (it has: {known}): "
            "could not tell",
            remediation="Add { environment, uri } to the app's redirect_uris, or fix the check's 'environment'",
        )
    client_id = ctx.value(app.client_id_env)
    missing = missing_variable(app.client_id_env, client_id)
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
    meaning, fix = AUTH_ERRORS.get(error.code, (f"Google refuses the authorization request ({error.code})", ""))
    fix = fix.format(id_env=app.client_id_env) if fix else "read the evidence and the OAuth client's settings"
    return Result.failed(
        f"Google answers {error.code} for the {environment} redirect URI: {meaning}; {fix}",
        remediation=described,
        **evidence,
    )
