"""The ``registration`` probe of ``oauth_microsoft``: the app as Graph holds it, read with the app's own token:
its redirect URIs against the manifest's, and its client secrets' expiry."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from checks.builtin.microsoft_client import app_token
from checks.builtin.microsoft_common import APPLICATION_SELECT, APPLICATION_URL, PORTAL, SECRET_WARN_DAYS
from checks.builtin.microsoft_errors import graph_error
from checks.builtin.sandbox_tokens import with_evidence
from checks.core.hookspecs import CheckContext
from checks.core.manifest import OAuthApp
from checks.core.outbound import json_body, request, server_error
from checks.core.result import Condition, Result
from checks.core.status import Status, worst

__all__ = ["probe_registration"]


async def probe_registration(app: OAuthApp, ctx: CheckContext) -> Result:
    got = await app_token(app, ctx)
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
        return with_evidence(server_error(response, what, url, ctx), evidence)
    body = json_body(response, what, url, ctx)
    if code == 200:
        return _judge_registration(body, app, got.secret, ctx, evidence)
    error, message = graph_error(body, ctx)
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
