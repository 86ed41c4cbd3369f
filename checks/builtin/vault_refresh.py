"""Probe ``refresh`` of kind ``vault``: each credential's refresh health from its metadata (healthy, warning,
critical, expired, ``needs_reauth``, failing refreshes) and the age of its last successful refresh."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from checks.core.hookspecs import CheckContext
from checks.core.result import Result

if TYPE_CHECKING:
    from checks.builtin.vault import VaultParams
    from vault import Actor, CredentialInfo, Vault

__all__ = ["probe_refresh"]


_MAX_LISTED = 50
_RANK = {"needs_reauth": 0, "expired": 1, "critical": 2, "warning": 3, "failing": 4, "healthy": 5}
_FAILING = ("needs_reauth", "expired", "critical")


async def probe_refresh(params: VaultParams, store: Vault, actor: Actor, ctx: CheckContext) -> Result:
    from vault.errors import VaultError

    try:
        infos = await asyncio.to_thread(store.list, actor, params.tenant, params.provider)
    except VaultError as exc:
        return Result.errored(f"the vault refused to list credentials ({type(exc).__name__}: {exc}): could not tell")
    now = ctx.clock.now()
    live = [i for i in infos if i.state != "revoked"]
    scope = " ".join(p for p in (params.provider, f"tenant {params.tenant}" if params.tenant else None) if p)
    if not live:
        return Result.skipped(
            f"nothing to check: the vault holds no {scope + ' ' if scope else ''}credentials yet"
            + (f" ({len(infos)} revoked)" if infos else ""),
            remediation="Store a test account's tokens with `readiness vault put TENANT PROVIDER ACCOUNT < token.txt`",
            credentials=0,
            revoked=len(infos),
        )
    # oldest last successful refresh first (one never refreshed counts from when it was stored)
    live.sort(key=lambda i: i.last_refresh_at or i.created_at)
    rows = [_rate(i, now, params, ctx) for i in live]
    counts = {name: sum(1 for r in rows if r["health"] == name) for name in _RANK}
    evidence: dict[str, Any] = {
        "credentials": len(rows),
        "revoked": len(infos) - len(live),
        "counts": {k: v for k, v in counts.items() if v},
        "warn_minutes": params.warn_minutes,
        "critical_minutes": params.critical_minutes,
        "by_credential": rows[:_MAX_LISTED],
    }
    if len(rows) > _MAX_LISTED:
        evidence["more"] = len(rows) - _MAX_LISTED
    bad = sorted((r for r in rows if r["health"] != "healthy"), key=lambda r: _RANK[r["health"]])
    if not bad:
        return Result.passed(
            f"all {len(rows)} vault credential{'s' if len(rows) != 1 else ''} healthy (more than "
            f"{params.warn_minutes:g} minutes to expiry, no refresh failures); oldest last refresh: "
            f"{rows[0]['last_refresh_age'] or 'never'}",
            **evidence,
        )
    named = "; ".join(_phrase(r) for r in bad[:3]) + (f"; and {len(bad) - 3} more" if len(bad) > 3 else "")
    head = f"{len(bad)} of {len(rows)} vault credentials need attention: {named}"
    if any(r["health"] in _FAILING for r in bad):
        return Result.failed(head, remediation=_REMEDIATION, **evidence)
    return Result.warned(head, remediation=_REMEDIATION, **evidence)


_REMEDIATION = (
    "needs_reauth: the user must consent again, then `readiness vault put` the new tokens; expired or close to "
    "expiry: check the refresher runs (`readiness vault refresh`, `readiness watch`) and the provider's client "
    "id and secret are set; a credential without a refresh token must be re-authorized"
)


def _rate(info: CredentialInfo, now: datetime, params: VaultParams, ctx: CheckContext) -> dict[str, Any]:
    left = (info.expires_at - now) if info.expires_at is not None else None
    if info.state == "needs_reauth":
        health = "needs_reauth"
    elif left is not None and left <= timedelta(0):
        health = "expired"
    elif left is not None and left < timedelta(minutes=params.critical_minutes):
        health = "critical"
    elif left is not None and left < timedelta(minutes=params.warn_minutes):
        health = "warning"
    elif info.failures:
        health = "failing"
    else:
        health = "healthy"
    return {
        "tenant": info.tenant,
        "provider": info.provider,
        "account": info.account,
        "health": health,
        "state": info.state,
        "expires_at": info.expires_at.isoformat() if info.expires_at else None,
        "expires_in_s": round(left.total_seconds()) if left is not None else None,
        "has_refresh_token": info.has_refresh_token,
        "last_refresh_at": info.last_refresh_at.isoformat() if info.last_refresh_at else None,
        "last_refresh_age": _age(now - info.last_refresh_at) if info.last_refresh_at else None,
        "stored_age": _age(now - info.created_at),
        "failures": info.failures,
        "last_refresh_error": ctx.scrubber.clip(info.last_refresh_error, 200) if info.last_refresh_error else None,
        "next_attempt_at": info.next_attempt_at.isoformat() if info.next_attempt_at else None,
        "token_fingerprint": info.token_fingerprint,
    }


def _phrase(row: dict[str, Any]) -> str:
    who = f"{row['provider']} {row['account']} (tenant {row['tenant']})"
    left = row["expires_in_s"]
    no_refresh = "" if row["has_refresh_token"] else ", no refresh token"
    health = row["health"]
    if health == "needs_reauth":
        error = f": {row['last_refresh_error']}" if row["last_refresh_error"] else ""
        return f"{who} needs re-authorization{error}"
    if health == "expired":
        return f"{who} expired {_age(timedelta(seconds=-left))} ago{no_refresh}"
    if health in ("critical", "warning"):
        return f"{who} expires in {_age(timedelta(seconds=left))} ({health}){no_refresh}"
    return f"{who} refresh failing ({row['failures']} attempts: {row['last_refresh_error'] or 'no detail'})"


def _age(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"
