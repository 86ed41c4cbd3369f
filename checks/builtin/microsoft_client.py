"""The ``client`` probe of ``oauth_microsoft``: an app-only Graph token from the client-credentials grant
against the tenant, or the Result that explains the refusal. The registration probe asks for its own."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from checks.builtin.microsoft_common import GRAPH_DEFAULT_SCOPE, PORTAL, TOKEN_URL
from checks.builtin.microsoft_errors import aad_error, refused
from checks.builtin.microsoft_tenant import configured_tenant
from checks.core.hookspecs import CheckContext
from checks.core.manifest import OAuthApp
from checks.core.outbound import json_body, request, server_error
from checks.core.redact import fingerprint
from checks.core.result import Result

__all__ = ["AppToken", "app_token"]


@dataclass(frozen=True)
class AppToken:
    token: str
    tenant: str
    client_id: str
    secret: str
    evidence: dict[str, Any]


async def app_token(app: OAuthApp, ctx: CheckContext) -> AppToken | Result:
    """An app-only Graph token from the client-credentials grant, or the Result that explains the refusal."""
    tenant = configured_tenant(app, ctx)
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
        return AppToken(token, tenant, client_id, secret, evidence)
    codes, error, description = aad_error(body, ctx)
    evidence.update(error=error, error_codes=codes, error_description=description)
    return refused(app, tenant, client_id, secret, codes, error, description, code, evidence)


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


def _missing(name: str, value: str | None, what: str, page: str) -> Result | None:
    if value:
        return None
    return Result.failed(
        f"{name} is not set: copy the {what} from {PORTAL} › your app › {page}",
        remediation=f"Set {name} in the process environment or the .env file next to the manifest",
        variable=name,
    )
