"""Kind ``oauth_microsoft``: the Microsoft (Entra ID) app and the Microsoft 365 developer tenant, asked of
Microsoft itself.

Five probes, each one check (``probe`` picks it), all unattended (no browser, no user):

* ``tenant``: the tenant's OpenID discovery document exists (AADSTS90002 otherwise);
* ``client``: a client-credentials grant against the tenant (never ``/common``) for
  ``https://graph.microsoft.com/.default``; the ``error_codes`` of a refusal say what is wrong;
* ``registration``: with that app token, Graph's ``applications(appId='…')``: redirect URIs against the
  manifest's, and the client secrets' expiry;
* ``scopes``: manifest hygiene, no network: ``offline_access`` unprefixed, Graph scopes in canonical casing;
* ``calendar``: the developer tenant's sample events, read with a test account's token from the token vault.

Each probe asks for what it needs itself (the registration probe requests its own app token): checks run
concurrently and independently, and an access token is never kept beyond the probe that asked for it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, model_validator

from checks.builtin.aadsts import AADSTS, Aadsts, lookup
from checks.builtin.sandbox_tokens import sandbox_credential
from checks.core.hookspecs import CheckContext, check_kind
from checks.core.manifest import OAuthApp
from checks.core.outbound import NoAnswer, json_body, request, server_error
from checks.core.redact import fingerprint
from checks.core.result import Condition, Result
from checks.core.status import Status, worst

if TYPE_CHECKING:
    from vault.store import CredentialInfo

__all__ = ["OAuthMicrosoftParams", "ScopeReview", "oauth_microsoft", "review_scopes"]

LOGIN = "https://login.microsoftonline.com"
DISCOVERY_URL = LOGIN + "/{tenant}/v2.0/.well-known/openid-configuration"
TOKEN_URL = LOGIN + "/{tenant}/oauth2/v2.0/token"
GRAPH_PREFIX = "https://graph.microsoft.com/"
GRAPH_DEFAULT_SCOPE = GRAPH_PREFIX + ".default"
APPLICATION_URL = GRAPH_PREFIX + "v1.0/applications(appId='{app_id}')"
APPLICATION_SELECT = "web,spa,publicClient,passwordCredentials,displayName"
EVENTS_URL = GRAPH_PREFIX + "v1.0/me/events"
PORTAL = "Azure Portal › App registrations"
SHARED_TENANTS = frozenset({"common", "organizations", "consumers"})
SECRET_WARN_DAYS = 30

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_AADSTS = re.compile(r"AADSTS(\d+)")
_OIDC_SCOPES = ("openid", "profile", "email", "offline_access")
_GRAPH_SCOPES = {
    name.lower(): name
    for name in (
        "User.Read", "User.ReadBasic.All", "User.Read.All", "User.ReadWrite", "Calendars.Read", "Calendars.ReadBasic",
        "Calendars.ReadWrite", "Calendars.Read.Shared", "Calendars.ReadWrite.Shared", "Mail.Read", "Mail.ReadBasic",
        "Mail.ReadWrite", "Mail.Send", "Mail.Read.Shared", "MailboxSettings.Read", "MailboxSettings.ReadWrite",
        "Contacts.Read", "Contacts.ReadWrite", "People.Read", "Files.Read", "Files.ReadWrite", "Files.Read.All",
        "Files.ReadWrite.All", "OnlineMeetings.Read", "OnlineMeetings.ReadWrite", "Tasks.Read", "Tasks.ReadWrite",
        "Presence.Read", "Application.Read.All", "Directory.Read.All",
    )
}  # fmt: skip
"""Microsoft Graph permission names in their canonical casing, keyed by lower case."""


class OAuthMicrosoftParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    probe: Literal["tenant", "client", "registration", "scopes", "calendar"]
    """Which question to ask Microsoft (see the module docstring)."""
    app: str = "microsoft"
    """Key of the app in the manifest's ``[oauth_apps]``."""
    tenant: str | None = None
    """``calendar``: the *vault* tenant of the test account (any when unset); not the Entra directory."""
    account: str | None = None
    """``calendar``: the test account (e.g. ``adelev@contoso.onmicrosoft.com``); the first one when unset."""
    min_events: int = Field(default=1, ge=1, le=1000)
    """``calendar``: how many events the test account's calendar must hold."""

    @model_validator(mode="after")
    def _calendar_only(self) -> OAuthMicrosoftParams:
        misplaced = [k for k in ("tenant", "account", "min_events") if k in self.model_fields_set]
        if misplaced and self.probe != "calendar":
            raise ValueError(f"{', '.join(repr(k) for k in misplaced)} belong to probe 'calendar'")
        return self


@check_kind("oauth_microsoft", params=OAuthMicrosoftParams)
async def oauth_microsoft(params: OAuthMicrosoftParams, ctx: CheckContext) -> Result:
    """Asks Microsoft about the Entra ID app: ``tenant`` reads the tenant's OpenID discovery document
    (AADSTS90002: no such tenant); ``client`` runs a client-credentials grant for Graph's ``.default`` scope
    against the tenant and reads ``error_codes`` (700016 no such app, 7000215 wrong secret, often the
    secret's ID pasted for its Value, 7000222 expired secret, and each code of :mod:`checks.builtin.aadsts`:
    ``fail`` with the fix when Microsoft says what is wrong, ``error`` only when it cannot tell);
    ``registration`` reads the app through Graph to compare its redirect URIs with the manifest's and warn
    while a client secret has 30 or fewer whole days left;
    ``scopes`` checks the manifest's scopes (``offline_access`` unprefixed, canonical casing); ``calendar``
    reads the Microsoft 365 developer tenant's sample events with a test account's token from the vault."""
    try:
        if params.probe == "calendar":
            return await _calendar(params, ctx)
        app = ctx.manifest.oauth_apps.get(params.app)
        if app is None or app.provider != "microsoft":
            known = ", ".join(k for k, a in sorted(ctx.manifest.oauth_apps.items()) if a.provider == "microsoft")
            return Result.errored(
                f"the manifest has no Microsoft app [oauth_apps.{params.app}] (Microsoft apps: {known or 'none'}): "
                "could not tell",
                remediation="Fix the check's 'app' param or add the app (provider = \"microsoft\") to the manifest",
            )
        if params.probe == "scopes":
            return _scopes(app, params.app)
        if params.probe == "tenant":
            return await _tenant(app, ctx)
        if params.probe == "client":
            got = await _app_token(app, ctx)
            if isinstance(got, Result):
                return got
            return Result.passed(
                f"Microsoft issues app {got.client_id} a Graph token in tenant {got.tenant}: the client id and "
                "secret work",
                **got.evidence,
            )
        return await _registration(app, ctx)
    except NoAnswer as no:
        return no.result


# --- tenant: the OpenID discovery document --------------------------------------------------------------------


def _tenant_id(app: OAuthApp, ctx: CheckContext) -> str | Result:
    """The configured tenant, or why it is unusable (unset, a multi-tenant alias)."""
    name = app.tenant_id_env
    if not name:
        return Result.errored(
            f"[oauth_apps.{app.provider}] has no tenant_id_env: could not tell which tenant to ask",
            remediation='Add tenant_id_env = "MICROSOFT_TENANT_ID" to the app in the manifest',
        )
    tenant = ctx.value(name)
    if not tenant:
        return Result.failed(
            f"{name} is not set: copy the Directory (tenant) ID from {PORTAL} › your app › Overview",
            remediation=f"Set {name} in the process environment or the .env file next to the manifest",
            variable=name,
        )
    if tenant.lower() in SHARED_TENANTS:
        return Result.failed(
            f"{name} is {tenant!r}, a multi-tenant alias: client credentials need the tenant itself; set it to "
            f"the Directory (tenant) ID from {PORTAL} › your app › Overview",
            remediation="The app signs users in through /common or /organizations, but the probes (and any "
            "app-only call) must name the directory the app is registered in",
            variable=name,
            tenant=tenant,
        )
    return tenant


async def _tenant(app: OAuthApp, ctx: CheckContext) -> Result:
    tenant = _tenant_id(app, ctx)
    if isinstance(tenant, Result):
        return tenant
    url = DISCOVERY_URL.format(tenant=quote(tenant, safe=""))
    what = "Microsoft's OpenID discovery endpoint"
    response = await request(ctx, "GET", url, what=what)
    code = response.status_code
    if code == 429 or code >= 500:
        return server_error(response, what, url, ctx)
    body = json_body(response, what, url, ctx)
    evidence: dict[str, Any] = {"tenant": tenant, "url": url, "status_code": code}
    issuer, token_endpoint = body.get("issuer"), body.get("token_endpoint")
    if code == 200 and isinstance(issuer, str) and isinstance(token_endpoint, str):
        found = _GUID.search(issuer)
        tenant_id = found.group(0) if found else None
        region = body.get("tenant_region_scope")
        evidence.update(
            issuer=issuer, tenant_id=tenant_id, tenant_region_scope=region, token_endpoint=token_endpoint,
            cloud_instance_name=body.get("cloud_instance_name"),
        )  # fmt: skip
        named = f" (Directory ID {tenant_id})" if tenant_id and tenant_id.lower() != tenant.lower() else ""
        where = f", region {region}" if region else ""
        return Result.passed(f"tenant {tenant}{named} exists{where}", **evidence)
    codes, error, description = _aad_error(body, ctx)
    evidence.update(error=error, error_codes=codes, error_description=description)
    if {90002, 900023} & set(codes):
        return _no_tenant(app, tenant, codes, evidence)
    return Result.errored(
        f"{what} answered {code} {_said(error, codes, description)}: could not tell whether tenant {tenant} exists",
        remediation="Read the evidence; look the code up at https://login.microsoftonline.com/error",
        **evidence,
    )


def _no_tenant(app: OAuthApp, tenant: str, codes: list[int], evidence: dict[str, Any]) -> Result:
    code = 90002 if 90002 in codes else 900023
    meaning = "knows no tenant" if code == 90002 else "does not accept as a tenant"
    fix = AADSTS[code].fix.format(tenant_env=app.tenant_id_env)  # the fix docs/checks.md shows for the code
    return Result.failed(
        f"Microsoft {meaning} {tenant} (AADSTS{code}): {fix}",
        remediation="Use the GUID (or a verified domain such as contoso.onmicrosoft.com) of the directory the app "
        "is registered in; a typo, another cloud (Azure Government, China) or a deleted tenant answers this way",
        **evidence,
    )


# --- client: the client-credentials grant ---------------------------------------------------------------------


@dataclass(frozen=True)
class _AppToken:
    token: str
    tenant: str
    client_id: str
    secret: str
    evidence: dict[str, Any]


async def _app_token(app: OAuthApp, ctx: CheckContext) -> _AppToken | Result:
    """An app-only Graph token from the client-credentials grant, or the Result that explains the refusal."""
    tenant = _tenant_id(app, ctx)
    if isinstance(tenant, Result):
        return tenant
    client_id, secret = ctx.value(app.client_id_env), ctx.secret(app.client_secret_env)
    missing = _missing(app.client_id_env, client_id, "Application (client) ID", "Overview") or _missing(
        app.client_secret_env, secret, "client secret's Value", "Certificates & secrets"
    )
    if missing:
        return missing
    assert client_id and secret
    url = TOKEN_URL.format(tenant=quote(tenant, safe=""))
    what = "Microsoft's token endpoint"
    form = {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": secret,
        "scope": GRAPH_DEFAULT_SCOPE,
    }
    # A client-credentials grant changes nothing at Microsoft (it only issues a token): safe to retry.
    response = await request(ctx, "POST", url, what=what, idempotent=True, data=form)
    code = response.status_code
    if code == 429 or code >= 500:
        return server_error(response, what, url, ctx)
    body = json_body(response, what, url, ctx)
    evidence: dict[str, Any] = {
        "tenant": tenant,
        "client_id": client_id,
        "client_secret": fingerprint(secret),
        "url": url,
        "status_code": code,
    }
    token = body.get("access_token")
    if code == 200 and isinstance(token, str) and token:
        ctx.scrubber.add(token)
        evidence.update(token_type=body.get("token_type"), expires_in=body.get("expires_in"), roles=_roles(token))
        return _AppToken(token, tenant, client_id, secret, evidence)
    codes, error, description = _aad_error(body, ctx)
    evidence.update(error=error, error_codes=codes, error_description=description)
    return _refused(app, tenant, client_id, secret, codes, error, description, code, evidence)


def _refused(
    app: OAuthApp,
    tenant: str,
    client_id: str,
    secret: str,
    codes: list[int],
    error: str,
    description: str,
    status_code: int,
    evidence: dict[str, Any],
) -> Result:
    secret_page = f"{PORTAL} › your app › Certificates & secrets"
    if {90002, 900023} & set(codes):
        return _no_tenant(app, tenant, codes, evidence)
    if 700016 in codes:
        return Result.failed(
            f"Microsoft knows no application {client_id} in tenant {tenant} (AADSTS700016): fix "
            f"{app.client_id_env}, or {app.tenant_id_env} if the app is registered in another tenant",
            remediation=f"Copy the Application (client) ID and the Directory (tenant) ID from {PORTAL} › your app › "
            "Overview; a multi-tenant app must also be consented to in the tenant asked",
            **evidence,
        )
    if 7000215 in codes:
        if _GUID.fullmatch(secret.strip()):
            why = "it holds a GUID, which is the secret's ID, not its Value"
        else:
            why = "often the secret's ID was pasted instead of its Value"
        return Result.failed(
            f"Microsoft refuses {app.client_secret_env} for app {client_id} (AADSTS7000215 invalid client secret): "
            f"{why}; copy the Value from {secret_page}",
            remediation="The Value is shown only once, when the secret is created: if it is hidden, add a new client "
            f"secret, copy its Value into {app.client_secret_env}, and delete the old one",
            **evidence,
        )
    if 7000222 in codes:
        return Result.failed(
            f"the client secret in {app.client_secret_env} for app {client_id} has expired (AADSTS7000222): create a "
            f"new one in {secret_page} and update {app.client_secret_env}",
            remediation="New client secret › choose an expiry › copy its Value (shown once); the registration probe "
            f"warns {SECRET_WARN_DAYS} days before the next one expires",
            **evidence,
        )
    known = lookup(codes)
    if known is not None:
        return _from_table(app, tenant, client_id, known, status_code, error, codes, description, evidence)
    return Result.errored(
        f"Microsoft's token endpoint answered {status_code} {_said(error, codes, description)}: could not tell "
        "whether the app's credentials work",
        remediation="Look the code up at https://login.microsoftonline.com/error and read the evidence",
        **evidence,
    )


def _from_table(
    app: OAuthApp,
    tenant: str,
    client_id: str,
    known: tuple[int, Aadsts],
    status_code: int,
    error: str,
    codes: list[int],
    description: str,
    evidence: dict[str, Any],
) -> Result:
    """A code of :data:`~checks.builtin.aadsts.AADSTS`: ``fail`` with its fix, or ``error`` when it cannot tell."""
    code, entry = known
    fix = entry.fix.format(
        client_id=client_id,
        tenant=tenant,
        client_id_env=app.client_id_env,
        secret_env=app.client_secret_env,
        tenant_env=app.tenant_id_env or "the tenant variable",
    )
    evidence["aadsts"] = {"code": code, "meaning": entry.meaning, "flow": entry.flow}
    if entry.status is Status.FAIL:
        return Result.failed(
            f"Microsoft refuses app {client_id} in tenant {tenant} (AADSTS{code}: {entry.meaning}): {fix}",
            remediation=f"Microsoft said: {_said(error, codes, description)}",
            **evidence,
        )
    return Result.errored(
        f"Microsoft's token endpoint answered {status_code} AADSTS{code} ({entry.meaning}): could not tell whether "
        f"the app's credentials work; {fix}",
        remediation=f"Microsoft said: {_said(error, codes, description)}",
        **evidence,
    )


def _aad_error(body: Mapping[str, Any], ctx: CheckContext) -> tuple[list[int], str, str]:
    """(``error_codes``, ``error``, scrubbed ``error_description``) of an identity-platform error body."""
    description = ctx.scrubber.clip(str(body.get("error_description") or ""), 500)
    raw = body.get("error_codes")
    listed = raw if isinstance(raw, list) else []
    codes = [int(c) for c in listed if isinstance(c, int) or (isinstance(c, str) and c.isdigit())]
    if not codes:
        codes = [int(c) for c in _AADSTS.findall(description)]
    return codes, str(body.get("error") or ""), description


def _said(error: str, codes: list[int], description: str) -> str:
    message = _AADSTS.sub("", description, count=1).lstrip(": ").split(" Trace ID:")[0].strip()[:200]
    code = f" AADSTS{codes[0]}" if codes else ""
    return f"{error or 'an error'}{code}" + (f" ({message})" if message else "")


def _roles(token: str) -> list[str] | None:
    """The ``roles`` claim (application permissions) of a JWT access token; None when it is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    roles = claims.get("roles", []) if isinstance(claims, dict) else []
    return [str(r) for r in roles] if isinstance(roles, list) else None


# --- registration: the app as Graph holds it --------------------------------------------------------------------


async def _registration(app: OAuthApp, ctx: CheckContext) -> Result:
    got = await _app_token(app, ctx)
    if isinstance(got, Result):
        if got.status is Status.ERROR:
            return got
        return Result.errored(
            f"cannot read the app registration without an app token: {got.summary}",
            remediation=got.remediation,
            **got.evidence,
        )
    url = APPLICATION_URL.format(app_id=quote(got.client_id, safe="-"))
    what = "Microsoft Graph"
    evidence: dict[str, Any] = {"tenant": got.tenant, "client_id": got.client_id, "roles": got.evidence["roles"]}
    headers = {"Authorization": f"Bearer {got.token}"}
    try:
        response = await request(ctx, "GET", url, what=what, params={"$select": APPLICATION_SELECT}, headers=headers)
    finally:
        headers = {}
    code = response.status_code
    evidence["status_code"] = code
    if code == 429 or code >= 500:
        return _with_evidence(server_error(response, what, url, ctx), evidence)
    body = json_body(response, what, url, ctx)
    if code == 200:
        return _judge_registration(body, app, got.secret, ctx, evidence)
    error, message = _graph_error(body, ctx)
    evidence.update(error_code=error, error_message=message)
    if code == 403:
        return Result.errored(
            f"could not tell: the app may not read its own registration (403 {error}); grant Application.Read.All "
            "(admin consent) to let this check compare redirect URIs and secret expiry",
            remediation=f"{PORTAL} › your app › API permissions › Add a permission › Microsoft Graph › Application "
            "permissions › Application.Read.All › Grant admin consent. Meanwhile compare Authentication › Redirect "
            "URIs and Certificates & secrets by hand",
            **evidence,
        )
    if code == 404:
        return Result.errored(
            f"could not tell: Graph finds no application {got.client_id} in tenant {got.tenant} (404 {error}); the "
            f"app is registered in another (home) tenant; point {app.tenant_id_env} at it to let this check compare "
            "redirect URIs and secret expiry",
            remediation="A multi-tenant app's registration lives in its home tenant; the tenant asked holds only "
            "its service principal",
            **evidence,
        )
    return Result.errored(
        f"{what} answered {code} {error} ({message[:200]}): could not tell what the registration holds",
        remediation="Read the evidence and retry; 401 here means Graph refused a token Microsoft had just issued",
        **evidence,
    )


def _judge_registration(
    body: Mapping[str, Any], app: OAuthApp, secret: str, ctx: CheckContext, evidence: dict[str, Any]
) -> Result:
    web, spa, public = _uris(body, "web"), _uris(body, "spa"), _uris(body, "publicClient")
    wanted = {r.uri for r in app.redirect_uris}
    registered = [*web, *spa]
    evidence.update(
        display_name=body.get("displayName"),
        redirect_uris={"web": web, "spa": spa, "publicClient": public},
        extra_redirect_uris=[u for u in dict.fromkeys([*registered, *public]) if u not in wanted],
    )
    problems: list[Result] = []
    conditions: list[Condition] = []
    missing = [r for r in app.redirect_uris if r.uri not in registered]
    for r in app.redirect_uris:
        detail = "missing" if r in missing else ("web" if r.uri in web else "spa only")
        conditions.append(Condition(f"{r.environment} redirect URI {r.uri} registered", r not in missing, detail))
    if missing:
        evidence["missing_redirect_uris"] = {r.environment: r.uri for r in missing}
        listed = ", ".join(f"the {r.environment} redirect URI {r.uri}{_near_miss(r.uri, registered)}" for r in missing)
        problems.append(
            Result.failed(
                f"the app registration lacks {listed}: add {'it' if len(missing) == 1 else 'them'} under "
                f"Authentication › Web › Redirect URIs in {PORTAL}",
                remediation="Each environment's callback must be registered exactly (scheme, host, path, no trailing "
                "slash) under the Web platform; Microsoft answers AADSTS50011 at sign-in otherwise",
            )
        )
    for r in app.redirect_uris:
        if r.uri in spa and r.uri not in web:
            problems.append(
                Result.warned(
                    f"the {r.environment} redirect URI {r.uri} is registered for a single-page application, not Web: "
                    "move it to Authentication › Web (a server callback that redeems the code with the client "
                    "secret is refused for SPA URIs, AADSTS9002327)",
                )
            )
    secret_problems, secret_phrase = _judge_secrets(body, app, secret, ctx, evidence, conditions)
    problems.extend(secret_problems)
    if not problems:
        names = ", ".join(r.environment for r in app.redirect_uris)
        uris = f"all {len(app.redirect_uris)} redirect URIs ({names})" if app.redirect_uris else "no redirect URIs"
        shown = body.get("displayName") or evidence["client_id"]
        summary = f"the app registration {shown} lists {uris}; {secret_phrase}"
        return Result(Status.PASS, summary, evidence, "", tuple(conditions))
    status = worst(p.status for p in problems)
    first = next(p for p in problems if p.status is status)
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return Result(status, first.summary + more, evidence, first.remediation, tuple(conditions))


def _judge_secrets(
    body: Mapping[str, Any],
    app: OAuthApp,
    secret: str,
    ctx: CheckContext,
    evidence: dict[str, Any],
    conditions: list[Condition],
) -> tuple[list[Result], str]:
    """Client secrets' expiry: the problems, and a phrase for a passing summary.

    The secret in use is the one whose ``hint`` (its first three characters, which Graph shows anyone who may
    read the app) the configured secret starts with, when exactly one does; otherwise the soonest-expiring
    unexpired secret is judged. The hint is compared here and never shown."""
    now = ctx.clock.now()
    secrets: list[tuple[dict[str, Any], datetime, str]] = []
    for cred in body.get("passwordCredentials") or []:
        if not isinstance(cred, dict):
            continue
        try:
            end = datetime.fromisoformat(str(cred.get("endDateTime")))
        except ValueError:
            continue
        days = int((end - now).total_seconds() // 86400)
        shown = {"keyId": cred.get("keyId"), "displayName": cred.get("displayName"), "endDateTime": end.isoformat()}
        secrets.append(({**shown, "days_left": days}, end, str(cred.get("hint") or "")))
    evidence["client_secrets"] = [s[0] for s in secrets]
    if not secrets:
        return [], "it holds no client secret to judge (certificate credentials?)"
    matches = [s for s in secrets if len(s[2]) >= 3 and secret.startswith(s[2])]
    live = sorted((s for s in secrets if s[1] > now), key=lambda s: s[1])
    page = f"{PORTAL} › your app › Certificates & secrets"
    renew = f"Add a new client secret in {page}, put its Value in {app.client_secret_env}, then delete the old one"
    if len(matches) == 1:
        info, end, _ = matches[0]
        evidence["secret_in_use"] = {"keyId": info["keyId"], "identified_by": "hint"}
        what = f"the client secret in use ({info['displayName'] or info['keyId']})"
    elif not live:
        conditions.append(Condition("a client secret is unexpired", False, f"{len(secrets)} expired"))
        failed = Result.failed(
            f"every client secret of the app has expired ({len(secrets)}): create a new one in {page} and update "
            f"{app.client_secret_env}",
            remediation=renew,
        )
        return [failed], ""
    else:
        info, end, _ = live[0]
        evidence["secret_in_use"] = None
        what = f"the soonest-expiring client secret ({info['displayName'] or info['keyId']})"
    days, date = info["days_left"], end.date().isoformat()
    evidence["secret_days_left"] = days
    ok = end > now and days > SECRET_WARN_DAYS
    conditions.append(Condition(f"{what} valid over {SECRET_WARN_DAYS} days", ok, f"{days} days left"))
    if end <= now:
        return [Result.failed(f"{what} expired on {date}: create a new one in {page}", remediation=renew)], ""
    if days <= SECRET_WARN_DAYS:
        unsure = "" if evidence["secret_in_use"] else f" (if it is the one in {app.client_secret_env})"
        warned = Result.warned(
            f"{what} expires in {days} days ({date}): create a new one in {page} and update "
            f"{app.client_secret_env} before then{unsure}",
            remediation=renew,
        )
        return [warned], ""
    return [], f"{what} expires in {days} days ({date})"


def _uris(body: Mapping[str, Any], platform: str) -> list[str]:
    section = body.get(platform)
    uris = section.get("redirectUris") if isinstance(section, dict) else None
    return [str(u) for u in uris] if isinstance(uris, list) else []


def _near_miss(uri: str, registered: list[str]) -> str:
    key = uri.lower().rstrip("/")
    near = next((u for u in registered if u.lower().rstrip("/") == key), None)
    return f" (registered as {near}: the URI must match exactly)" if near else ""


def _graph_error(body: Mapping[str, Any], ctx: CheckContext) -> tuple[str, str]:
    """(code, scrubbed message) of Graph's ``{"error": {"code", "message", ...}}``."""
    error = body.get("error")
    if not isinstance(error, dict):
        return "", ctx.scrubber.clip(str(error or ""), 300)
    return str(error.get("code") or ""), ctx.scrubber.clip(str(error.get("message") or ""), 300)


# --- scopes: manifest hygiene -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScopeReview:
    """What :func:`review_scopes` found: the scopes as they should be written and each fix, in words."""

    suggested: list[str]
    fixes: list[str]
    unchecked: list[str]
    """Scopes of other APIs, or Graph permissions this module does not know: left as written."""


def review_scopes(scopes: list[str]) -> ScopeReview:
    """OpenID Connect scopes (``offline_access``, ``openid``, ...) unprefixed and lower case; Graph permissions
    in their canonical casing (``Calendars.ReadWrite``), prefixed or not as written; ``offline_access`` present."""
    suggested: list[str] = []
    oidc_fixes: list[str] = []
    case_fixes: list[str] = []
    unchecked: list[str] = []
    for raw in scopes:
        scope = raw.strip()
        prefixed = scope.lower().startswith(GRAPH_PREFIX)
        name = scope[len(GRAPH_PREFIX) :] if prefixed else scope
        if name.lower() in _OIDC_SCOPES:
            right = name.lower()
            if right == "offline_access" and prefixed:
                oidc_fixes.append(f"write offline_access, not {scope}: the prefixed form yields no refresh token")
            elif prefixed:
                oidc_fixes.append(f"write {right}, not {scope}: OpenID Connect scopes go unprefixed")
            elif name != right:
                oidc_fixes.append(f"write {right}, not {scope}")
        elif name.lower() in _GRAPH_SCOPES:
            right = (GRAPH_PREFIX if prefixed else "") + _GRAPH_SCOPES[name.lower()]
            if right != scope:
                case_fixes.append(f"write {right}, not {scope} (Graph's canonical casing)")
        else:
            right = scope
            unchecked.append(scope)
        if right not in suggested:
            suggested.append(right)
    if "offline_access" not in suggested:
        oidc_fixes.append("add offline_access: without it Microsoft issues no refresh token")
        suggested.append("offline_access")
    return ScopeReview(suggested, oidc_fixes + case_fixes, unchecked)


def _scopes(app: OAuthApp, key: str) -> Result:
    if not app.scopes:
        return Result.warned(
            f"[oauth_apps.{key}] lists no scopes: add the Graph permissions the app asks for, and offline_access",
            remediation='e.g. scopes = ["https://graph.microsoft.com/Calendars.ReadWrite", "offline_access"]',
        )
    review = review_scopes(list(app.scopes))
    evidence: dict[str, Any] = {
        "scopes": list(app.scopes),
        "fixes": review.fixes,
        "suggested": review.suggested,
        "unchecked": review.unchecked,
    }
    if not review.fixes:
        return Result.passed(f"[oauth_apps.{key}] scopes are canonical: {' '.join(app.scopes)}", **evidence)
    count = f"{len(review.fixes)} scope fix{'es' if len(review.fixes) > 1 else ''}"
    return Result.warned(
        f"{count} in [oauth_apps.{key}]: " + "; ".join(review.fixes),
        remediation=f"In the manifest's [oauth_apps.{key}], write scopes = {json.dumps(review.suggested)}. Graph "
        "matches permission names case-insensitively on the wire, but the manifest should use the canonical form "
        "Azure Portal shows, so reviews and diffs compare like with like",
        **evidence,
    )


# --- calendar: the Microsoft 365 developer tenant ---------------------------------------------------------------


async def _calendar(params: OAuthMicrosoftParams, ctx: CheckContext) -> Result:
    found = await sandbox_credential(
        ctx,
        provider="microsoft",
        label="Microsoft",
        sandbox="Microsoft 365",
        where="developer tenant",
        consent="Microsoft 365 developer tenant",
        tenant=params.tenant,
        account=params.account,
    )
    if isinstance(found, Result):
        return found
    return await _read_events(params, ctx, *found)


async def _read_events(
    params: OAuthMicrosoftParams, ctx: CheckContext, vault: Any, actor: Any, info: CredentialInfo
) -> Result:
    from vault.errors import VaultError

    what = "Microsoft Graph"
    query = {"$top": str(max(params.min_events, 10)), "$select": "subject,start,end"}
    evidence: dict[str, Any] = {
        "tenant": info.tenant,
        "account": info.account,
        "credential_id": info.id,
        "token_fingerprint": info.token_fingerprint,
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
        headers = {"Authorization": f"Bearer {tokens.access_token.reveal()}", "Prefer": 'outlook.timezone="UTC"'}
        response = await request(ctx, "GET", EVENTS_URL, what=what, params=query, headers=headers)
        code = response.status_code
        evidence["status_code"] = code
        if code == 429 or code >= 500:
            return _with_evidence(server_error(response, what, EVENTS_URL, ctx), evidence)
        body = json_body(response, what, EVENTS_URL, ctx)
    except NoAnswer as no:
        return _with_evidence(no.result, evidence)
    finally:
        headers = {}
        tokens.wipe()
    if code == 200:
        value = body.get("value")
        count = len(value) if isinstance(value, list) else 0
        evidence["events"] = count
        if count >= params.min_events:
            return Result.passed(
                f"Microsoft 365 developer tenant reachable: the calendar of {info.account} has {count} event(s) "
                f"(at least {params.min_events} wanted)",
                **evidence,
            )
        return Result.failed(
            f"the calendar of {info.account} has {count} event(s), fewer than {params.min_events}: add the sample "
            "calendar events to the developer tenant",
            remediation="Create the sample events the test plan needs in the test account's calendar (Outlook on the "
            "web, or POST /me/events in Graph Explorer)",
            **evidence,
        )
    error, message = _graph_error(body, ctx)
    evidence.update(error_code=error, error_message=message)
    if code == 401:
        return Result.failed(
            f"Microsoft Graph refuses {info.account}'s token (401 {error or 'InvalidAuthenticationToken'}): it expired "
            "or was revoked; let the refresher renew it or re-authorize the account",
            remediation="`readiness vault refresh` renews it when a refresh token is stored (it needs offline_access); "
            "otherwise re-run the consent for the test account and `readiness vault put` the new tokens",
            **evidence,
        )
    if code == 400 and "delegated" in message:
        return Result.failed(
            f"the vault holds an app-only token for {info.account}: /me/events needs the test account's own "
            "(delegated) token; store the tokens from the account's consent",
            remediation="Sign in as the test account through the app's consent (authorization code flow) and "
            "`readiness vault put` the tokens it returns, not a client-credentials token",
            **evidence,
        )
    if code == 403:
        return Result.failed(
            f"Microsoft Graph forbids reading {info.account}'s calendar (403 {error}): consent to Calendars.Read or "
            "Calendars.ReadWrite for the test account",
            remediation="Re-run the consent with the app's Graph calendar scope and store the new tokens",
            **evidence,
        )
    if code == 404:
        return Result.failed(
            f"Microsoft Graph finds no calendar for {info.account} (404 {error}): give the test account an Exchange "
            "Online mailbox (a Microsoft 365 license in the developer tenant)",
            **evidence,
        )
    return Result.errored(f"{what} answered {code} {error}: could not tell", **evidence)


# --- shared -----------------------------------------------------------------------------------------------------


def _with_evidence(result: Result, evidence: Mapping[str, Any]) -> Result:
    return replace(result, evidence={**evidence, **result.evidence})


def _missing(name: str, value: str | None, what: str, page: str) -> Result | None:
    if value:
        return None
    return Result.failed(
        f"{name} is not set: copy the {what} from {PORTAL} › your app › {page}",
        remediation=f"Set {name} in the process environment or the .env file next to the manifest",
        variable=name,
    )
