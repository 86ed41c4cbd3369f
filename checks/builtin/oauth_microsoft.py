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

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from checks.core.hookspecs import CheckContext, check_kind
from checks.core.result import Result

__all__ = ["OAuthMicrosoftParams", "oauth_microsoft"]


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
    # The probes (and the outbound HTTP they use) load when a check runs: `readiness validate` needs the params.
    from checks.builtin.microsoft_calendar import probe_calendar
    from checks.builtin.microsoft_client import app_token
    from checks.builtin.microsoft_registration import probe_registration
    from checks.builtin.microsoft_scopes import probe_scopes
    from checks.builtin.microsoft_tenant import probe_tenant
    from checks.core.outbound import NoAnswer

    try:
        if params.probe == "calendar":
            return await probe_calendar(params, ctx)
        app = ctx.manifest.oauth_apps.get(params.app)
        if app is None or app.provider != "microsoft":
            known = ", ".join(k for k, a in sorted(ctx.manifest.oauth_apps.items()) if a.provider == "microsoft")
            return Result.errored(
                f"the manifest has no Microsoft app [oauth_apps.{params.app}] (Microsoft apps: {known or 'none'}): "
                "could not tell",
                remediation="Fix the check's 'app' param or add the app (provider = \"microsoft\") to the manifest",
            )
        if params.probe == "scopes":
            return probe_scopes(app, params.app)
        if params.probe == "tenant":
            return await probe_tenant(app, ctx)
        if params.probe == "client":
            got = await app_token(app, ctx)
            if isinstance(got, Result):
                return got
            return Result.passed(
                f"Microsoft issues app {got.client_id} a Graph token in tenant {got.tenant}: the client id and "
                "secret work",
                **got.evidence,
            )
        return await probe_registration(app, ctx)
    except NoAnswer as no:
        return no.result
