"""The test account's credential for a sandbox probe (Workspace, Microsoft 365 calendars), from the vault.

Shared by the calendar probes of ``oauth_google`` and ``oauth_microsoft``: find the account's active
credential through the vault handed to kinds in ``ctx.extras`` (see :func:`checks.shell.sweep.vault_extras`),
or say, as a Result, why there is none to use; and keep the credential's evidence on a result that ends the
probe early (:func:`with_evidence`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from checks.core.hookspecs import CheckContext
from checks.core.result import Result

if TYPE_CHECKING:
    from vault.store import CredentialInfo

__all__ = ["sandbox_credential", "with_evidence"]


async def sandbox_credential(
    ctx: CheckContext,
    *,
    provider: str,
    label: str,
    sandbox: str,
    where: str,
    consent: str,
    tenant: str | None,
    account: str | None,
) -> tuple[Any, Any, CredentialInfo] | Result:
    """``(vault, actor, info)`` for the first active ``provider`` credential of ``tenant``/``account``,
    or the Result to return: ``pending`` while there is no vault, actor or credential, ``fail`` when the
    credential exists but is not active, ``error`` when the vault refuses to list. ``label`` names the
    provider for people ("Google"), ``sandbox`` the sandbox ("Google Workspace"), ``where`` where the account is
    re-authorized ("sandbox workspace") and ``consent`` where it consented ("sandbox workspace")."""
    from vault.errors import VaultError

    vault, actor = ctx.extras.get("vault"), ctx.extras.get("vault_actor")
    who = " ".join(x for x in (f"tenant {tenant}" if tenant else "", f"account {account}" if account else "") if x)
    put_hint = (
        f"run `readiness vault put` with provider {provider}"
        + (f", tenant {tenant}" if tenant else "")
        + (f", account {account}" if account else "")
        + f" and the test account's tokens (from its consent in the {consent})"
    )
    if vault is None or actor is None:
        missing = "no vault is open for this sweep" if vault is None else "no vault actor is configured"
        return Result.pending(
            f"waiting for a test account's token in the vault ({missing}): {put_hint}",
            remediation="Open the vault for the sweep (TOKEN_VAULT_DB_URL, TOKEN_VAULT_KEY_SOURCE) and store the "
            f"{sandbox} test account's tokens",
            vault=vault is not None,
        )
    try:
        infos = await asyncio.to_thread(vault.list, actor, tenant, provider)
    except VaultError as exc:
        return Result.errored(f"the vault refused to list credentials ({type(exc).__name__}: {exc}): could not tell")
    found = [i for i in infos if account is None or i.account == account]
    usable = [i for i in found if i.state == "active"]
    if usable:
        return vault, actor, usable[0]
    if found:
        info = found[0]
        return Result.failed(
            f"the test account {info.account}'s {label} credential is {info.state}: re-authorize it in the "
            f"{where} and store the new tokens",
            remediation=put_hint,
            credential_id=info.id,
            state=info.state,
            last_refresh_error=info.last_refresh_error,
        )
    return Result.pending(
        f"waiting for a test account's token in the vault (no {label} credential{' for ' + who if who else ''}): "
        f"{put_hint}",
        tenant=tenant,
        account=account,
    )


def with_evidence(result: Result, evidence: Mapping[str, Any]) -> Result:
    """The result with the probe's evidence under its own (its own keys win)."""
    return replace(result, evidence={**evidence, **result.evidence})
