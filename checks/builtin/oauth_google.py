"""Kind ``oauth_google``: the Google OAuth app and the Google Workspace sandbox, asked of Google itself.

Four probes, each one check (``probe`` picks it), all unattended (no browser, no user):

* ``client``: the token endpoint judges the client id and secret before the code, so a deliberately bogus
  code draws ``invalid_grant`` for a good pair and ``invalid_client`` otherwise;
* ``redirect``: the authorize endpoint, not followed, redirects to the sign-in page for a registered
  redirect URI and to ``/signin/oauth/error?authError=...`` (a protobuf, field 1 the error code) otherwise;
* ``apis``: the Service Usage API says whether each API is enabled; Business Profile also needs Google's
  approval (quota 0 and 429 RESOURCE_EXHAUSTED until then);
* ``calendar``: the sandbox's sample events, read with a test account's token from the token vault.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from checks.core.hookspecs import CheckContext, check_kind
from checks.core.result import Result

__all__ = ["OAuthGoogleParams", "oauth_google"]


class OAuthGoogleParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    probe: Literal["client", "redirect", "apis", "calendar"]
    """Which question to ask Google (see the module docstring)."""
    app: str = "google"
    """Key of the app in the manifest's ``[oauth_apps]``."""
    environment: str | None = None
    """``redirect``: which of the app's redirect URIs (``dev``, ``staging``, ``app``)."""
    access_token_env: str | None = None
    """``apis``: variable holding an access token allowed ``serviceusage.services.get`` and ``.use`` on the
    project (role Service Usage Consumer: the calls bill the project as quota project)."""
    service_account_env: str | None = None
    """``apis``: variable holding a service-account key (its JSON, or a path to the JSON file)."""
    project_env: str = "GOOGLE_CLOUD_PROJECT"
    """``apis``: variable holding the Google Cloud project id (or number) of the OAuth client."""
    tenant: str | None = None
    """``calendar``: the vault tenant of the test account (any tenant when unset)."""
    account: str | None = None
    """``calendar``: the test account (e.g. ``test@sandbox.example``); the first Google one when unset."""
    calendar_id: str = "primary"
    min_events: int = Field(default=1, ge=1, le=2500)

    @model_validator(mode="after")
    def _needs(self) -> OAuthGoogleParams:
        if self.probe == "redirect" and not self.environment:
            raise ValueError("probe 'redirect' needs 'environment' (one of the app's redirect_uris environments)")
        if self.probe != "apis" and (self.access_token_env or self.service_account_env):
            raise ValueError("'access_token_env' and 'service_account_env' belong to probe 'apis'")
        return self


@check_kind("oauth_google", params=OAuthGoogleParams)
async def oauth_google(params: OAuthGoogleParams, ctx: CheckContext) -> Result:
    """Asks Google about the OAuth app: ``client`` posts a bogus code to the token endpoint
    (``invalid_grant`` means the id and secret are good; ``invalid_client`` names a missing client or a
    wrong secret); ``redirect`` opens the authorize endpoint for one environment's redirect URI without
    following it and decodes Google's ``authError`` (``redirect_uri_mismatch``, ``invalid_client``,
    ``deleted_client``, ``invalid_scope``); ``apis`` asks the Service Usage API whether each API is
    enabled and whether Business Profile access is approved; ``calendar`` reads the Google Workspace
    sandbox's sample events with a test account's token from the vault."""
    # The probes (and the outbound HTTP they use) load when a check runs: `readiness validate` needs the params.
    from checks.builtin.google_apis import probe_apis
    from checks.builtin.google_calendar import probe_calendar
    from checks.builtin.google_client import probe_client, probe_redirect
    from checks.core.outbound import NoAnswer

    try:
        if params.probe == "calendar":
            return await probe_calendar(params, ctx)
        app = ctx.manifest.oauth_apps.get(params.app)
        if app is None:
            known = ", ".join(sorted(ctx.manifest.oauth_apps)) or "none"
            return Result.errored(
                f"the manifest has no [oauth_apps.{params.app}] (known: {known}): could not tell",
                remediation="Fix the check's 'app' param or add the app to the manifest",
            )
        if params.probe == "client":
            return await probe_client(app, ctx)
        if params.probe == "redirect":
            return await probe_redirect(app, params.environment or "", ctx)
        return await probe_apis(app, params, ctx)
    except NoAnswer as no:
        return no.result
