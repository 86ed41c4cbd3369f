"""Reading Microsoft's refusals: the identity platform's error body (``error_codes``, AADSTS numbers) and
what each code means for the app (with the table of :mod:`checks.builtin.aadsts`), and Graph's error body."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from checks.builtin.aadsts import AADSTS, Aadsts, lookup
from checks.builtin.microsoft_common import GUID, PORTAL, SECRET_WARN_DAYS
from checks.core.hookspecs import CheckContext
from checks.core.manifest import OAuthApp
from checks.core.result import Result
from checks.core.status import Status

__all__ = ["aad_error", "graph_error", "no_tenant", "refused", "said"]


_AADSTS = re.compile(r"AADSTS(\d+)")


def no_tenant(app: OAuthApp, tenant: str, codes: list[int], evidence: dict[str, Any]) -> Result:
    code = 90002 if 90002 in codes else 900023
    meaning = "knows no tenant" if code == 90002 else "does not accept as a tenant"
    fix = AADSTS[code].fix.format(tenant_env=app.tenant_id_env)  # the fix docs/checks.md shows for the code
    return Result.failed(
        f"Microsoft {meaning} {tenant} (AADSTS{code}): {fix}",
        remediation="Use the GUID (or a verified domain such as contoso.onmicrosoft.com) of the directory the app "
        "is registered in; a typo, another cloud (Azure Government, China) or a deleted tenant answers this way",
        **evidence,
    )


def refused(
    app: OAuthApp,
    tenant: str,
    client_id: str,
    secret: str,
    codes: list[int],
    error: str,
    description: str,
    status_code: int,
    evidence: dict[str, Any],
) -> Result:
    secret_page = f"{PORTAL} › your app › Certificates & secrets"
    if {90002, 900023} & set(codes):
        return no_tenant(app, tenant, codes, evidence)
    if 700016 in codes:
        return Result.failed(
            f"Microsoft knows no application {client_id} in tenant {tenant} (AADSTS700016): fix "
            f"{app.client_id_env}, or {app.tenant_id_env} if the app is registered in another tenant",
            remediation=f"Copy the Application (client) ID and the Directory (tenant) ID from {PORTAL} › your app › "
            "Overview; a multi-tenant app must also be consented to in the tenant asked",
            **evidence,
        )
    if 7000215 in codes:
        if GUID.fullmatch(secret.strip()):
            why = "it holds a GUID, which is the secret's ID, not its Value"
        else:
            why = "often the secret's ID was pasted instead of its Value"
        return Result.failed(
            f"Microsoft refuses {app.client_secret_env} for app {client_id} (AADSTS7000215 invalid client secret): "
            f"{why}; copy the Value from {secret_page}",
            remediation="The Value is shown only once, when the secret is created: if it is hidden, add a new client "
            f"secret, copy its Value into {app.client_secret_env}, and delete the old one",
            **evidence,
        )
    if 7000222 in codes:
        return Result.failed(
            f"the client secret in {app.client_secret_env} for app {client_id} has expired (AADSTS7000222): create a "
            f"new one in {secret_page} and update {app.client_secret_env}",
            remediation="New client secret › choose an expiry › copy its Value (shown once); the registration probe "
            f"warns {SECRET_WARN_DAYS} days before the next one expires",
            **evidence,
        )
    known = lookup(codes)
    if known is not None:
        return _from_table(app, tenant, client_id, known, status_code, error, codes, description, evidence)
    return Result.errored(
        f"Microsoft's token endpoint answered {status_code} {said(error, codes, description)}: could not tell "
        "whether the app's credentials work",
        remediation="Look the code up at https://login.microsoftonline.com/error and read the evidence",
        **evidence,
    )


def _from_table(
    app: OAuthApp,
    tenant: str,
    client_id: str,
    known: tuple[int, Aadsts],
    status_code: int,
    error: str,
    codes: list[int],
    description: str,
    evidence: dict[str, Any],
) -> Result:
    """A code of :data:`~checks.builtin.aadsts.AADSTS`: ``fail`` with its fix, or ``error`` when it cannot tell."""
    code, entry = known
    fix = entry.fix.format(
        client_id=client_id,
        tenant=tenant,
        client_id_env=app.client_id_env,
        secret_env=app.client_secret_env,
        tenant_env=app.tenant_id_env or "the tenant variable",
    )
    evidence["aadsts"] = {"code": code, "meaning": entry.meaning, "flow": entry.flow}
    if entry.status is Status.FAIL:
        return Result.failed(
            f"Microsoft refuses app {client_id} in tenant {tenant} (AADSTS{code}: {entry.meaning}): {fix}",
            remediation=f"Microsoft said: {said(error, codes, description)}",
            **evidence,
        )
    return Result.errored(
        f"Microsoft's token endpoint answered {status_code} AADSTS{code} ({entry.meaning}): could not tell whether "
        f"the app's credentials work; {fix}",
        remediation=f"Microsoft said: {said(error, codes, description)}",
        **evidence,
    )


def aad_error(body: Mapping[str, Any], ctx: CheckContext) -> tuple[list[int], str, str]:
    """(``error_codes``, ``error``, scrubbed ``error_description``) of an identity-platform error body."""
    description = ctx.scrubber.clip(str(body.get("error_description") or ""), 500)
    raw = body.get("error_codes")
    listed = raw if isinstance(raw, list) else []
    codes = [int(c) for c in listed if isinstance(c, int) or (isinstance(c, str) and c.isdigit())]
    if not codes:
        codes = [int(c) for c in _AADSTS.findall(description)]
    return codes, str(body.get("error") or ""), description


def said(error: str, codes: list[int], description: str) -> str:
    message = _AADSTS.sub("", description, count=1).lstrip(": ").split(" Trace ID:")[0].strip()[:200]
    code = f" AADSTS{codes[0]}" if codes else ""
    return f"{error or 'an error'}{code}" + (f" ({message})" if message else "")


def graph_error(body: Mapping[str, Any], ctx: CheckContext) -> tuple[str, str]:
    """(code, scrubbed message) of Graph's ``{"error": {"code", "message", ...}}``."""
    error = body.get("error")
    if not isinstance(error, dict):
        return "", ctx.scrubber.clip(str(error or ""), 300)
    return str(error.get("code") or ""), ctx.scrubber.clip(str(error.get("message") or ""), 300)
