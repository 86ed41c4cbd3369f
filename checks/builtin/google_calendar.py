"""The ``calendar`` probe of ``oauth_google``: the Google Workspace sandbox's sample events, read with a test
account's token from the token vault."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from checks.builtin.google_common import CALENDAR_EVENTS_URL
from checks.builtin.google_errors import google_error
from checks.builtin.sandbox_tokens import sandbox_credential, with_evidence
from checks.core.hookspecs import CheckContext
from checks.core.outbound import NoAnswer, json_body, request, server_error
from checks.core.result import Result

if TYPE_CHECKING:
    from checks.builtin.oauth_google import OAuthGoogleParams
    from vault.store import CredentialInfo

__all__ = ["probe_calendar"]


async def probe_calendar(params: OAuthGoogleParams, ctx: CheckContext) -> Result:
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
        return with_evidence(no.result, evidence)
    finally:
        headers = {}
        tokens.wipe()
    code = response.status_code
    evidence["status_code"] = code
    if code == 429 or code >= 500:
        return with_evidence(server_error(response, what, url, ctx), evidence)
    try:
        body = json_body(response, what, url, ctx)
    except NoAnswer as no:
        return with_evidence(no.result, evidence)
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
    status, message, reason = google_error(body)
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
