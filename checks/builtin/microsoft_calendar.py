"""The ``calendar`` probe of ``oauth_microsoft``: the Microsoft 365 developer tenant's sample events, read
with a test account's token from the token vault."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from checks.builtin.microsoft_common import EVENTS_URL
from checks.builtin.microsoft_errors import graph_error
from checks.builtin.sandbox_tokens import sandbox_credential, with_evidence
from checks.core.hookspecs import CheckContext
from checks.core.outbound import NoAnswer, json_body, request, server_error
from checks.core.result import Result

if TYPE_CHECKING:
    from checks.builtin.oauth_microsoft import OAuthMicrosoftParams
    from vault.store import CredentialInfo

__all__ = ["probe_calendar"]


async def probe_calendar(params: OAuthMicrosoftParams, ctx: CheckContext) -> Result:
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
            return with_evidence(server_error(response, what, EVENTS_URL, ctx), evidence)
        body = json_body(response, what, EVENTS_URL, ctx)
    except NoAnswer as no:
        return with_evidence(no.result, evidence)
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
    error, message = graph_error(body, ctx)
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
