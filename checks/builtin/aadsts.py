"""What Microsoft's identity platform means by each ``AADSTS`` code a misconfigured app can draw, and the fix.

One table (:data:`AADSTS`), read by the ``oauth_microsoft`` kind and rendered in ``docs/checks.md``. The
rule: a code that says exactly what is wrong is ``fail`` with the fix; ``error`` only when it does not tell
us whether the app is right (throttling, a transient fault, a code about a *user's* sign-in, which the
unattended client-credentials probe never makes). Codes from Microsoft's published list
(learn.microsoft.com/entra/identity-platform/reference-error-codes).

Fixes are templates: ``{client_id}``, ``{tenant}``, ``{client_id_env}``, ``{secret_env}``, ``{tenant_env}``.
"""

# ruff: noqa: E501  (a table: one code a line reads better than wrapped)

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from checks.core.status import Status

__all__ = ["AADSTS", "Aadsts", "lookup"]

PORTAL = "Azure Portal › App registrations"
ENTERPRISE = "Microsoft Entra admin center › Enterprise applications"

Flow = Literal["client", "authorize", "user"]


@dataclass(frozen=True)
class Aadsts:
    """One code: its status, what it means (a short phrase) and the fix (a template)."""

    status: Status
    meaning: str
    fix: str
    flow: Flow = "client"
    """``client``: the client-credentials grant can draw it; ``authorize``: only a browser sign-in through
    the authorize endpoint; ``user``: a user's own sign-in (n/a to an unattended app probe: ``error``)."""


_NA = "this probe signs no user in (client-credentials grant): the code is about a user's sign-in, not the app"

AADSTS: Mapping[int, Aadsts] = {
    # -- the tenant
    90002: Aadsts(Status.FAIL, "tenant not found", f"fix {{tenant_env}}: copy the Directory (tenant) ID from {PORTAL} › your app › Overview"),
    900023: Aadsts(Status.FAIL, "invalid tenant identifier", f"fix {{tenant_env}}: a GUID or verified domain from {PORTAL} › your app › Overview"),
    50059: Aadsts(Status.FAIL, "no tenant named in the request", "set {tenant_env} to the tenant's GUID, not common or organizations"),
    50194: Aadsts(Status.FAIL, "the app is not multi-tenant", f"ask a tenant-specific endpoint ({{tenant_env}}), or set {PORTAL} › your app › Authentication › Supported account types to multitenant"),
    # -- the application and its service principal
    700016: Aadsts(Status.FAIL, "application not found in the tenant", f"fix {{client_id_env}} (Application (client) ID in {PORTAL} › Overview), or {{tenant_env}} if it is registered elsewhere"),
    7000112: Aadsts(Status.FAIL, "the application is disabled", f"enable it: {ENTERPRISE} › the app › Properties › Enabled for users to sign in = Yes"),
    7000229: Aadsts(Status.FAIL, "the app has no service principal in the tenant", "create it: `az ad sp create --id {client_id}` (or grant admin consent in the tenant)"),
    70002: Aadsts(Status.FAIL, "the client does not exist or is not enabled for this kind of account", f"check {PORTAL} › your app › Authentication › Supported account types"),
    700025: Aadsts(Status.FAIL, "the app is a public client, which may not present a secret", f"set {PORTAL} › your app › Authentication › Allow public client flows = No"),
    53003: Aadsts(Status.FAIL, "Conditional Access blocked the app", "ask the tenant admin to exclude the app's service principal from the Conditional Access policy (sign-in logs name it)"),
    # -- the credential
    7000215: Aadsts(Status.FAIL, "invalid client secret", f"copy the secret's Value (not its ID) into {{secret_env}} from {PORTAL} › your app › Certificates & secrets"),
    7000222: Aadsts(Status.FAIL, "the client secret has expired", f"add a new client secret in {PORTAL} › your app › Certificates & secrets and put its Value in {{secret_env}}"),
    7000218: Aadsts(Status.FAIL, "neither a client secret nor a client assertion was sent", "set {secret_env} to the client secret's Value"),
    700027: Aadsts(Status.FAIL, "the client assertion failed signature validation", f"upload the certificate whose key signs the assertion under {PORTAL} › your app › Certificates & secrets"),
    90014: Aadsts(Status.FAIL, "a required field is missing from the request", "set {client_id_env} and {secret_env} (neither may be blank)"),
    900144: Aadsts(Status.FAIL, "a required parameter is missing (client_id, scope, grant_type)", "set {client_id_env}; the parameter Microsoft names is missing"),
    # -- what the app asks for
    70011: Aadsts(Status.FAIL, "invalid scope", "ask for RESOURCE/.default in the client-credentials grant (https://graph.microsoft.com/.default)"),
    1002012: Aadsts(Status.FAIL, "the scope lacks /.default", "client credentials need the resource's /.default scope"),
    90009: Aadsts(Status.FAIL, "the app asks a token for itself by name", "name the resource by its GUID-based App ID URI (api://{client_id}/.default), or ask Graph"),
    500011: Aadsts(Status.FAIL, "the resource principal is not in the tenant", "check the scope's resource URI, and grant admin consent so the resource's service principal exists in {tenant}"),
    65001: Aadsts(Status.FAIL, "consent not granted", f"grant admin consent: {PORTAL} › your app › API permissions › Grant admin consent"),
    # -- the authorize endpoint (a browser sign-in)
    50011: Aadsts(Status.FAIL, "the reply (redirect) URI does not match the app's", f"add the redirect URI exactly under {PORTAL} › your app › Authentication › Web", "authorize"),
    700054: Aadsts(Status.FAIL, "response_type id_token is not enabled for the app", f"tick ID tokens under {PORTAL} › your app › Authentication › Implicit grant and hybrid flows", "authorize"),
    9002313: Aadsts(Status.ERROR, "invalid request, without saying which part", "read the error description; a stale or reused authorization code answers this way", "authorize"),
    # -- a user's sign-in: n/a to the app probe
    50034: Aadsts(Status.ERROR, "the user account does not exist", _NA, "user"),
    50126: Aadsts(Status.ERROR, "invalid user name or password", _NA, "user"),
    50076: Aadsts(Status.ERROR, "multi-factor authentication required", _NA, "user"),
    50079: Aadsts(Status.ERROR, "the user must enroll in multi-factor authentication", _NA, "user"),
    # -- throttling and faults: could not tell
    50196: Aadsts(Status.ERROR, "client request loop (throttled)", "wait and retry; the app asked for tokens too often"),
    50053: Aadsts(Status.ERROR, "sign-in locked or blocked (too many attempts, or a blocked IP)", "wait and retry later; check the tenant's sign-in logs"),
    90033: Aadsts(Status.ERROR, "a transient error (service unavailable)", "retry later"),
    90100: Aadsts(Status.ERROR, "a transient error", "retry later"),
}  # fmt: skip


def lookup(codes: list[int]) -> tuple[int, Aadsts] | None:
    """The first of ``codes`` the table knows, with its entry."""
    for code in codes:
        entry = AADSTS.get(code)
        if entry is not None:
            return code, entry
    return None
