"""Where the refresher sends each provider's refresh grant: the token URLs, :class:`ProviderEndpoint` (client
id and secret), the endpoints configured in the environment, and the rewrite to the local stand-ins."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from vault.secret import Secret

__all__ = [
    "GHL_TOKEN_URL",
    "GOOGLE_TOKEN_URL",
    "MICROSOFT_TOKEN_URL",
    "USER_AGENT",
    "ProviderEndpoint",
    "endpoints_from_env",
    "standins_rewriter",
]

GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
MICROSOFT_TOKEN_URL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
GHL_TOKEN_URL = "https://services.leadconnectorhq.com/oauth/token"
USER_AGENT = "readiness-vault-refresher/1"


@dataclass(frozen=True, eq=False, repr=False)
class ProviderEndpoint:
    """Where and as whom to refresh one provider's tokens.

    ``client_id`` stays plain text: it is public (every authorization URL carries it) and the providers'
    errors name it. ``client_secret`` is a :class:`Secret`. ``token_url`` is the real provider URL; the
    refresher passes it through its ``url_rewriter`` (stand-ins) before use.
    """

    token_url: str
    client_id: str
    client_secret: Secret
    send_scope: bool = False
    """Send the credential's scopes with the refresh (Microsoft wants them; Google and GHL do not)."""

    @classmethod
    def google(cls, client_id: str, client_secret: Secret | str) -> ProviderEndpoint:
        return cls(GOOGLE_TOKEN_URL, client_id, _secret(client_secret))

    @classmethod
    def microsoft(cls, tenant: str, client_id: str, client_secret: Secret | str) -> ProviderEndpoint:
        """``tenant``: the directory (GUID or domain) the app is registered in, not ``common``."""
        if not tenant.strip():
            raise ValueError("a Microsoft token endpoint needs the tenant: set MICROSOFT_TENANT_ID")
        return cls(
            MICROSOFT_TOKEN_URL.format(tenant=tenant.strip()), client_id, _secret(client_secret), send_scope=True
        )

    @classmethod
    def ghl(cls, client_id: str, client_secret: Secret | str) -> ProviderEndpoint:
        return cls(GHL_TOKEN_URL, client_id, _secret(client_secret))

    def __repr__(self) -> str:
        return f"ProviderEndpoint({self.token_url!r}, client_id={self.client_id!r}, client_secret=Secret(***))"


def _secret(value: Secret | str) -> Secret:
    return value if isinstance(value, Secret) else Secret(value)


def endpoints_from_env(environ: Mapping[str, str] | None = None) -> dict[str, ProviderEndpoint]:
    """The endpoints whose client id and secret are set: ``google`` (GOOGLE_OAUTH_CLIENT_ID/_SECRET),
    ``microsoft`` (MICROSOFT_OAUTH_CLIENT_ID/_SECRET and MICROSOFT_TENANT_ID), ``ghl``
    (GHL_OAUTH_CLIENT_ID/_SECRET). Keys are the provider names credentials are stored under."""
    env = os.environ if environ is None else environ

    def pair(prefix: str) -> tuple[str, str] | None:
        cid, secret = env.get(f"{prefix}_CLIENT_ID", "").strip(), env.get(f"{prefix}_CLIENT_SECRET", "")
        return (cid, secret) if cid and secret else None

    found: dict[str, ProviderEndpoint] = {}
    if google := pair("GOOGLE_OAUTH"):
        found["google"] = ProviderEndpoint.google(*google)
    if (microsoft := pair("MICROSOFT_OAUTH")) and env.get("MICROSOFT_TENANT_ID", "").strip():
        found["microsoft"] = ProviderEndpoint.microsoft(env["MICROSOFT_TENANT_ID"], *microsoft)
    if ghl := pair("GHL_OAUTH"):
        found["ghl"] = ProviderEndpoint.ghl(*ghl)
    return found


def standins_rewriter(base: str | None) -> Callable[[str], str]:
    """The ``READINESS_STANDINS_URL`` rule: ``https://HOST/PATH`` -> ``{base}/HOST/PATH`` (identity if unset)."""
    if not base:
        return lambda url: url
    root = base.rstrip("/")

    def rewrite(url: str) -> str:
        parts = urlsplit(url)
        query = f"?{parts.query}" if parts.query else ""
        return f"{root}/{parts.netloc}{parts.path or '/'}{query}"

    return rewrite
