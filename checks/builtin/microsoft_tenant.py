"""The ``tenant`` probe of ``oauth_microsoft``: the configured tenant (never a multi-tenant alias) and its
OpenID discovery document."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from checks.builtin.microsoft_common import DISCOVERY_URL, GUID, PORTAL, SHARED_TENANTS
from checks.builtin.microsoft_errors import aad_error, no_tenant, said
from checks.core.hookspecs import CheckContext
from checks.core.manifest import OAuthApp
from checks.core.outbound import json_body, request, server_error
from checks.core.result import Result

__all__ = ["configured_tenant", "probe_tenant"]


def configured_tenant(app: OAuthApp, ctx: CheckContext) -> str | Result:
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


async def probe_tenant(app: OAuthApp, ctx: CheckContext) -> Result:
    tenant = configured_tenant(app, ctx)
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
        found = GUID.search(issuer)
        tenant_id = found.group(0) if found else None
        region = body.get("tenant_region_scope")
        evidence.update(
            issuer=issuer, tenant_id=tenant_id, tenant_region_scope=region, token_endpoint=token_endpoint,
            cloud_instance_name=body.get("cloud_instance_name"),
        )  # fmt: skip
        named = f" (Directory ID {tenant_id})" if tenant_id and tenant_id.lower() != tenant.lower() else ""
        where = f", region {region}" if region else ""
        return Result.passed(f"tenant {tenant}{named} exists{where}", **evidence)
    codes, error, description = aad_error(body, ctx)
    evidence.update(error=error, error_codes=codes, error_description=description)
    if {90002, 900023} & set(codes):
        return no_tenant(app, tenant, codes, evidence)
    return Result.errored(
        f"{what} answered {code} {said(error, codes, description)}: could not tell whether tenant {tenant} exists",
        remediation="Read the evidence; look the code up at https://login.microsoftonline.com/error",
        **evidence,
    )
