"""The credential of the ``apis`` probe of ``oauth_google``: an access token as given, or one minted from a
service-account key with the JWT bearer grant.

google-auth (a well-kept library) reads the key and signs the assertion; the token request itself goes
through ``checks.core.outbound`` like every provider call (stand-ins, timeouts, size caps, the scrubber),
so google-auth makes no HTTP call of its own."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checks.builtin.google_common import TOKEN_URL
from checks.core.hookspecs import CheckContext
from checks.core.outbound import json_body, request, server_error
from checks.core.result import Result

if TYPE_CHECKING:
    from checks.builtin.oauth_google import OAuthGoogleParams

__all__ = ["service_usage_token"]


JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


async def service_usage_token(params: OAuthGoogleParams, ctx: CheckContext) -> str | Result:
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
    """An RS256-signed JWT asking for a cloud-platform token, as google-auth's service-account flow sends,
    signed by google-auth's RSA signer (``kid`` the key's id when it has one)."""
    from google.auth import crypt, jwt

    key_id = info.get("private_key_id") or None
    signer = crypt.RSASigner.from_string(str(info["private_key"]), key_id)  # type: ignore[no-untyped-call]
    claims = {
        "iss": info["client_email"],
        "scope": "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/business.manage",
        "aud": audience,
        "iat": now,
        "exp": now + 3600,
    }
    try:
        encoded: bytes = jwt.encode(signer, claims)  # type: ignore[no-untyped-call]
    except TypeError as exc:  # a PEM of another key type loads, then cannot sign RS256
        raise ValueError("the service-account key is not an RSA key") from exc
    return encoded.decode()
