"""Probes ``selftest``, ``keys`` and ``audit`` of kind ``vault``: the vault's cryptography on a scratch vault,
its key source against the KEKs the open vault knows (fingerprints only), and its HMAC-chained audit log."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from checks.builtin.vault_sweep import NOT_CONFIGURED
from checks.core.hookspecs import CheckContext
from checks.core.result import Result

if TYPE_CHECKING:
    from vault import Actor, Vault

__all__ = ["probe_audit", "probe_keys", "probe_selftest"]


KEY_ENV = "TOKEN_VAULT_ENCRYPTION_KEY"
PREVIOUS_KEYS_ENV = "TOKEN_VAULT_PREVIOUS_KEYS"
SOURCE_ENV = "TOKEN_VAULT_KEY_SOURCE"


# --- selftest --------------------------------------------------------------------------------------------------


def _run_selftest() -> Any:
    from vault import selftest  # SQLAlchemy and the store: imported in the worker, so the loop keeps serving

    return selftest.run()


async def probe_selftest() -> Result:
    report = await asyncio.to_thread(_run_selftest)
    evidence: dict[str, Any] = {
        "checks": len(report.results),
        "passed": [r.name for r in report.results if r.passed],
        "failed": [{"name": r.name, "detail": r.detail[:300]} for r in report.failed],
        "duration_ms": round(report.duration_ms, 1),
    }
    if report.ok:
        return Result.passed(
            f"the vault's self-test passed all {len(report.results)} checks (AES-256-GCM known answer, tamper and "
            "cross-tenant refusals, key rotation, audit tamper detection, redaction)",
            **evidence,
        )
    names = ", ".join(r.name for r in report.failed)
    first = report.failed[0]
    return Result.failed(
        f"the vault's self-test failed {len(report.failed)} of {len(report.results)} checks: {names} "
        f"({first.name}: {first.detail[:160]})",
        remediation="Run `readiness vault self-test` for every detail; a failing cryptography check means this "
        "machine's crypto library is broken: do not store tokens here until it passes",
        **evidence,
    )


# --- keys ------------------------------------------------------------------------------------------------------


async def probe_keys(ctx: CheckContext) -> Result:
    from vault.errors import KeyUnavailable, VaultError
    from vault.keys import key_source_from_spec

    spec = (ctx.value(SOURCE_ENV) or "").strip()
    key = ctx.secret(KEY_ENV)  # registered with the scrubber: never shown
    for previous in (ctx.secret(PREVIOUS_KEYS_ENV) or "").split(","):
        if previous.strip():
            ctx.scrubber.add(previous.strip())
    if spec in ("", "env") and not (key or "").strip():
        return Result.failed(
            f"{KEY_ENV} / {SOURCE_ENV} not configured: the token vault has no key-encryption key",
            remediation=f'Set {KEY_ENV} to base64 of 32 random bytes (python -c "import base64, os; '
            f'print(base64.b64encode(os.urandom(32)).decode())"), or point {SOURCE_ENV} at file:PATH or '
            "gcp:projects/P/secrets/S",
            key_source=spec or "env",
        )
    try:
        source = key_source_from_spec(spec or None, ctx.env)
        ring = await asyncio.to_thread(source.load)
    except KeyUnavailable as exc:
        return Result.failed(str(exc), remediation="Fix the key source as the message says", key_source=spec or "env")
    evidence: dict[str, Any] = {
        "key_source": source.name,
        "primary": ring.primary.fingerprint,
        "older": [k.fingerprint for k in ring.others],
    }
    db = ctx.extras.get("vault_db")
    if db:
        evidence["vault_db"] = db
    store, actor = ctx.extras.get("vault"), ctx.extras.get("vault_auditor") or ctx.extras.get("vault_actor")
    if store is None or actor is None:
        kind, problem = ctx.extras.get("vault_problem_kind"), ctx.extras.get("vault_problem")
        if kind == "not_initialised":
            return Result.skipped(
                f"not checked against the vault: key source {source.name} loads (primary {ring.primary.fingerprint}), "
                f"but {problem}",
                remediation="`readiness vault init` makes this key the vault's primary KEK",
                **evidence,
            )
        if kind == "key":
            return Result.failed(
                f"the vault refuses key source {source.name}: {problem}",
                remediation=f"Set {KEY_ENV} to the key the vault was initialised with (older keys go in "
                f"{PREVIOUS_KEYS_ENV}); compare fingerprints, never keys",
                **evidence,
            )
        if kind == "database":
            return Result.errored(
                f"key source {source.name} loads, but the vault could not be opened: {problem}: could not tell "
                "whether it knows this key",
                remediation="Fix TOKEN_VAULT_DB_URL (or the database) and run again",
                **evidence,
            )
        return Result.pending(
            f"key source {source.name} loads (primary {ring.primary.fingerprint}); {NOT_CONFIGURED}",
            remediation=(
                "Open the vault for the sweep (checks.shell.sweep.vault_extras) to check the vault knows this key"
            ),
            **evidence,
        )
    try:
        stats = await asyncio.to_thread(store.stats, actor)
    except VaultError as exc:
        return Result.errored(
            f"the vault refused to report its keys ({type(exc).__name__}: {exc}): could not tell", **evidence
        )
    offered = set(ring.fingerprints)
    pending = dict(stats.pending_rewrap)
    evidence.update(
        vault_primary=stats.primary_kek,
        pending_rewrap=pending,
        rotations_in_progress=list(stats.rotations_in_progress),
    )
    needed = {stats.primary_kek, *pending}
    missing = sorted(needed - offered)
    if not offered & needed:
        return Result.failed(
            f"key mismatch: the vault's primary KEK is {stats.primary_kek}, key source {source.name} offers "
            f"{', '.join(ring.fingerprints)}: wrong {KEY_ENV}?",
            remediation=f"Restore the key the vault was initialised with ({stats.primary_kek}); a new key goes in "
            f"{KEY_ENV} only with the old one in {PREVIOUS_KEYS_ENV}, then `readiness vault rewrap`",
            **evidence,
        )
    if missing:
        return Result.failed(
            f"key source {source.name} lacks {', '.join(missing)}, which still wrap data keys: those tenants' "
            f"tokens cannot be opened",
            remediation=f"Put the missing key back (e.g. in {PREVIOUS_KEYS_ENV}) and run `readiness vault rewrap`",
            **evidence,
        )
    if ring.primary.fingerprint != stats.primary_kek:
        return Result.warned(
            f"key source {source.name}'s primary {ring.primary.fingerprint} is not yet the vault's primary "
            f"({stats.primary_kek}): a KEK rotation is waiting",
            remediation="Run `readiness vault rewrap` (as an admin) to rewrap the data keys under the new primary",
            **evidence,
        )
    if pending or stats.rotations_in_progress:
        what = [f"{n} data key(s) under {fp}" for fp, n in sorted(pending.items())]
        what += [f"rotation {r} unfinished" for r in stats.rotations_in_progress]
        return Result.warned(
            f"key source {source.name} holds the vault's primary {stats.primary_kek}, but a rotation is not "
            f"complete: {'; '.join(what)}",
            remediation="Run `readiness vault rewrap` (as an admin); it resumes where it stopped",
            **evidence,
        )
    return Result.passed(
        f"key source {source.name} loads and its primary {ring.primary.fingerprint} is the vault's primary KEK",
        **evidence,
    )


# --- audit -----------------------------------------------------------------------------------------------------


async def probe_audit(store: Vault, actor: Actor, ctx: CheckContext) -> Result:
    from vault.errors import VaultError

    try:
        report = await asyncio.to_thread(store.verify_audit, actor)
    except VaultError as exc:
        return Result.errored(
            f"the vault refused to verify its audit chain ({type(exc).__name__}: {exc}): could not tell",
            remediation="The sweep's vault actor must be an unscoped auditor or admin",
        )
    evidence: dict[str, Any] = {"intact": report.ok, "checked": report.checked, "head_seq": report.head_seq}
    if report.ok:
        return Result.passed(
            f"the vault's audit chain verifies: {report.checked} entries, head seq {report.head_seq}", **evidence
        )
    evidence.update(first_bad_seq=report.first_bad_seq, reason=report.reason)
    return Result.failed(
        f"the vault's audit chain is broken at entry seq {report.first_bad_seq}: {report.reason}; "
        "an audit entry was edited, deleted or reordered",
        remediation="Treat it as a security incident: find who wrote to the vault database, restore it from a "
        "backup taken before the break, and rerun `readiness vault audit --verify`",
        **evidence,
    )
