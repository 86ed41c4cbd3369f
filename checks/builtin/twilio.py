"""Kind ``twilio``: the Twilio development account is active, and has the test phone numbers it needs.

Reads the account (``GET /2010-04-01/Accounts/{Sid}.json``) or its numbers (``.../IncomingPhoneNumbers.json``)
with HTTP Basic auth (Account SID, auth token), and reads Twilio's error codes: 20003 bad credentials,
20008 test credentials, 20404 no such account, 20403 and 20005 an account suspended or closed (settled with
Twilio: billing or support), 20429 too many requests (``error``: could not tell). The account resource
carries ``auth_token``: it is registered with the scrubber and never copied into evidence. Numbers are shown
by their last 4 digits.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from checks.core.hookspecs import CheckContext, check_kind
from checks.core.redact import fingerprint
from checks.core.result import Result

if TYPE_CHECKING:
    import httpx

__all__ = ["TwilioParams", "twilio"]

API = "https://api.twilio.com/2010-04-01"
CONSOLE = "Twilio Console › Account Info"
_SID = re.compile(r"AC[0-9a-fA-F]{32}")


class TwilioParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    probe: Literal["account", "numbers"] = "account"
    """``account``: the account is active (type Trial/Full in evidence); ``numbers``: it owns phone numbers."""
    sid_env: str = Field(default="TWILIO_ACCOUNT_SID", min_length=1)
    """Variable holding the Account SID (``AC`` + 32 hex); the Basic auth user name."""
    token_env: str = Field(default="TWILIO_AUTH_TOKEN", min_length=1)
    """Variable holding the auth token; the Basic auth password. Never shown."""
    min_numbers: int = Field(default=1, ge=0)
    """``numbers`` probe: how many phone numbers the sandbox's test data needs."""


@check_kind("twilio", params=TwilioParams)
async def twilio(params: TwilioParams, ctx: CheckContext) -> Result:
    """Calls Twilio's REST API with the Account SID and auth token (HTTP Basic): the ``account`` probe
    reads the account and passes when its status is active (type Trial or Full in the evidence), failing
    when it is suspended or closed; the ``numbers`` probe lists the account's phone numbers and passes
    with at least ``min_numbers``. Twilio's 401 (code 20003) fails as bad credentials, 403 code 20008 as
    test credentials, 404 code 20404 as no such account, code 20403 or 20005 as an account suspended or
    closed (settle it with Twilio); 429 (code 20429)/5xx after retries and non-JSON answers are errors.
    Never shows the auth token; numbers are masked to their last 4 digits."""
    from checks.core.outbound import NoAnswer, json_body, request  # the HTTP side loads when a check runs

    sid = (ctx.value(params.sid_env) or "").strip()
    token = ctx.secret(params.token_env)
    if not sid or not token:
        missing = [name for name, value in ((params.sid_env, sid), (params.token_env, token)) if not value]
        return Result.failed(
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: copy the Account SID and "
            f"Auth Token from {CONSOLE}",
            remediation=f"Set {' and '.join(missing)} in the process environment or the .env file",
            missing=missing,
            probe=params.probe,
        )
    if not _SID.fullmatch(sid):
        ctx.scrubber.add(sid)  # not shaped like a SID: it may be a pasted token, so never shown either
    evidence: dict[str, Any] = {
        "probe": params.probe,
        "account_sid": sid if _SID.fullmatch(sid) else fingerprint(sid),
        "token_fingerprint": fingerprint(token),
    }
    account = f"{API}/Accounts/{quote(sid, safe='')}"
    if params.probe == "account":
        url, what = f"{account}.json", "Twilio's Accounts API"
        query: dict[str, Any] = {}
    else:
        url, what = f"{account}/IncomingPhoneNumbers.json", "Twilio's IncomingPhoneNumbers API"
        query = {"PageSize": min(max(params.min_numbers, 50), 1000)}
    try:
        response = await request(ctx, "GET", url, what=what, auth=(sid, token), params=query, idempotent=True)
        if response.status_code == 200:
            data = json_body(response, what, url, ctx)
            if params.probe == "account":
                return _account(data, params, ctx, what, evidence)
            return _numbers(data, params, ctx, what, evidence)
    except NoAnswer as exc:
        return exc.result
    return _refused(response, params, ctx, what, url, sid, evidence)


def _account(
    data: dict[str, Any], params: TwilioParams, ctx: CheckContext, what: str, evidence: dict[str, Any]
) -> Result:
    secret = data.get("auth_token")
    if isinstance(secret, str):
        ctx.scrubber.add(secret)  # Twilio echoes the primary token in the account resource
    status, kind, name = data.get("status"), data.get("type"), data.get("friendly_name")
    evidence.update(
        status=status,
        type=kind,
        friendly_name=ctx.scrubber.clip(name, 100) if isinstance(name, str) else None,
        date_created=data.get("date_created"),
        subaccount=bool(data.get("owner_account_sid")) and data.get("owner_account_sid") != data.get("sid"),
    )
    shown = evidence["friendly_name"]
    called = f"Twilio account {shown!r}" if shown else "The Twilio account"
    if status == "active" and kind == "Trial":
        return Result.passed(
            f"{called} is active (Trial: calls and messages reach verified numbers only; upgrade for more)",
            **evidence,
        )
    if status == "active":
        return Result.passed(f"{called} is active ({kind})", **evidence)
    if status == "suspended":
        return Result.failed(
            f"{called} is suspended: calls, messages and API access stop until it is reactivated; "
            "ask the account owner to settle it in Twilio Console › Billing or contact Twilio support",
            remediation="Twilio suspends accounts for unpaid balance, a depleted Trial or a compliance hold",
            **evidence,
        )
    if status == "closed":
        return Result.failed(
            f"{called} is closed and cannot be reopened: create a new account (or subaccount) and set "
            f"{params.sid_env} and {params.token_env} to its credentials",
            remediation=f"Copy the new Account SID and Auth Token from {CONSOLE}",
            **evidence,
        )
    return Result.errored(
        f"{what} answered 200 with account status {ctx.scrubber.clip(str(status), 40)!r}: could not tell whether "
        "it is usable",
        remediation="Look at the account in Twilio Console; the expected statuses are active, suspended, closed",
        **evidence,
    )


def _numbers(
    data: dict[str, Any], params: TwilioParams, ctx: CheckContext, what: str, evidence: dict[str, Any]
) -> Result:
    listed = data.get("incoming_phone_numbers")
    if not isinstance(listed, list):
        return Result.errored(
            f"{what} answered 200 without an incoming_phone_numbers list: could not tell",
            remediation="Check the URL reaches Twilio and not a proxy",
            keys=sorted(data)[:20],
            **evidence,
        )
    numbers = [_masked(item) for item in listed if isinstance(item, dict)]
    more = bool(data.get("next_page_uri"))
    count = len(numbers)
    voice = sum(1 for n in numbers if n["voice"])
    sms = sum(1 for n in numbers if n["sms"])
    evidence.update(count=count, more_pages=more, numbers=numbers[:20], voice_capable=voice, sms_capable=sms)
    shown = f"{'at least ' if more else ''}{count} phone number{'s' if count != 1 else ''}"
    if count < params.min_numbers:
        need = f" (the sandbox's test data needs at least {params.min_numbers})" if params.min_numbers > 1 else ""
        return Result.failed(
            f"The Twilio account has {'no phone numbers' if count == 0 else shown}{need}: buy a voice- and "
            "SMS-capable number in Twilio Console › Phone Numbers › Buy a number",
            remediation="A Trial account gets one free number; test SMS and calls need a number the account owns",
            **evidence,
        )
    if count and not (voice and sms):
        lacking = "SMS" if not sms else "voice"
        return Result.warned(
            f"The Twilio account has {shown}, none {lacking}-capable: buy a number with {lacking} in "
            "Twilio Console › Phone Numbers › Buy a number to test it",
            **evidence,
        )
    return Result.passed(f"The Twilio account has {shown} ({voice} voice, {sms} SMS)", **evidence)


def _masked(item: dict[str, Any]) -> dict[str, Any]:
    """A number as ``…0142`` with its capabilities; never the whole number or its friendly name."""
    digits = re.sub(r"\D", "", str(item.get("phone_number") or ""))
    caps = item.get("capabilities")
    caps = {str(k).lower(): bool(v) for k, v in caps.items()} if isinstance(caps, dict) else {}
    return {
        "number": f"…{digits[-4:]}" if digits else "?",
        "voice": caps.get("voice", False),
        "sms": caps.get("sms", False),
    }


def _refused(
    response: httpx.Response,
    params: TwilioParams,
    ctx: CheckContext,
    what: str,
    url: str,
    sid: str,
    evidence: dict[str, Any],
) -> Result:
    """Any answer but 200: Twilio's error code decides."""
    from checks.core.outbound import server_error

    status = response.status_code
    if status == 429 or status >= 500:
        return server_error(response, what, url, ctx)
    body = _twilio_error(response)
    code, message = body.get("code"), ctx.scrubber.clip(str(body.get("message") or ""), 200)
    evidence.update(status_code=status, twilio_code=code, twilio_message=message, more_info=body.get("more_info"))
    both = f"{params.sid_env} and {params.token_env}"
    settle = (
        "someone must settle it with Twilio: the account owner checks Twilio Console › Billing (a balance to pay, "
        "a depleted Trial) or contacts Twilio support (a compliance hold)"
    )
    if code == 20403:
        return Result.failed(
            f"Twilio answered {status} code 20403 (Forbidden): the account is suspended or closed; {settle}",
            remediation="Twilio answers 20403 for every request of an account it suspended or closed; only the "
            "account owner and Twilio support can lift it (a closed account cannot be reopened: create a new one "
            f"and set {both})",
            **evidence,
        )
    if code == 20005:
        return Result.failed(
            f"Twilio answered {status} code 20005: the account is not active (suspended or closed); {settle}",
            remediation=f"Once it is reactivated nothing changes here; for a new account set {both}",
            **evidence,
        )
    if status == 401:
        hint = ""
        if not sid.startswith("AC"):
            start = "SK" if sid.startswith("SK") else "neither AC"
            hint = (
                f"; {params.sid_env} starts with {start}"
                f"{' (an API key SID)' if start == 'SK' else ''}, but the Account SID starts with AC"
            )
        return Result.failed(
            f"Twilio refused the credentials (401, code {code}): bad credentials, or the account is suspended or "
            f"closed{hint}; copy the Account SID "
            f"and Auth Token from {CONSOLE} into {both}",
            remediation="Twilio also answers 20003 when the token was rotated, when test credentials are used "
            "for the live account, or when the account is suspended or closed",
            **evidence,
        )
    if status == 403 and code == 20008:
        return Result.failed(
            f"Twilio answered 403 code 20008: {both} are the account's Test Credentials, which cannot read the "
            f"account or list its numbers; use the live Account SID and Auth Token from {CONSOLE}",
            remediation="Test credentials only buy magic numbers and send test messages and calls; "
            "keep them for those tests, not for this check",
            **evidence,
        )
    if status == 404 and code == 20404:
        return Result.failed(
            f"Twilio has no account {evidence['account_sid']} (404, code 20404): copy the Account SID "
            f"from {CONSOLE} into {params.sid_env}",
            remediation="A subaccount's resources are read with its own SID; check it was not deleted",
            **evidence,
        )
    return Result.errored(
        f"{what} answered {status}{f' (code {code}: {message})' if code else ''}: could not tell",
        remediation=f"See {body.get('more_info') or 'https://www.twilio.com/docs/errors'}",
        body_excerpt=ctx.scrubber.clip(response.text, 200),
        **evidence,
    )


def _twilio_error(response: httpx.Response) -> dict[str, Any]:
    """Twilio's ``{"code", "message", "more_info", "status"}`` error body, or ``{}``."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
