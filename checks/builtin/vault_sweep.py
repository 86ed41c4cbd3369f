"""The vault the sweep hands to kind ``vault`` (``ctx.extras``, filled by
:func:`checks.shell.sweep.vault_extras`) and a read-only actor, or the Result saying why there is none."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from checks.core.hookspecs import CheckContext
from checks.core.result import Result

if TYPE_CHECKING:
    from vault import Actor, Vault

__all__ = ["NOT_CONFIGURED", "opened_vault"]


NOT_CONFIGURED = "the vault is not configured for this sweep (set TOKEN_VAULT_DB_URL and a key)"


def opened_vault(ctx: CheckContext) -> tuple[Vault, Actor] | Result:
    """The open vault and a read-only actor, or the Result saying why there is none."""
    store = ctx.extras.get("vault")
    actor = ctx.extras.get("vault_auditor") or ctx.extras.get("vault_actor")
    db = ctx.extras.get("vault_db")
    evidence: dict[str, Any] = {"vault_db": db} if db else {}
    if store is not None and actor is not None:
        return store, actor
    if store is not None:
        return Result.pending(
            f"{NOT_CONFIGURED}: no vault actor was given to the sweep",
            remediation="Pass an auditor actor as extras['vault_auditor'] (checks.shell.sweep.vault_extras does)",
            **evidence,
        )
    problem, kind = ctx.extras.get("vault_problem"), ctx.extras.get("vault_problem_kind")
    if kind in ("key", "database"):
        return Result.errored(
            f"the vault could not be opened: {problem}: could not tell",
            remediation="The `keys` probe says more; fix the key or TOKEN_VAULT_DB_URL and run again",
            problem=kind,
            **evidence,
        )
    if kind == "not_initialised":
        return Result.pending(
            f"{problem}; nothing to check until then",
            remediation="Create the vault once with `readiness vault init` (same TOKEN_VAULT_DB_URL and key)",
            **evidence,
        )
    return Result.pending(
        NOT_CONFIGURED,
        remediation="Set TOKEN_VAULT_ENCRYPTION_KEY (or TOKEN_VAULT_KEY_SOURCE) and, unless the vault shares the "
        "history database, TOKEN_VAULT_DB_URL; then `readiness vault init`",
        **evidence,
    )
