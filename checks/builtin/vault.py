"""Kind ``vault``: the token vault's health, asked of the vault itself (issue #4, item 7).

Five probes, each one check (``probe`` picks it):

* ``selftest``: :func:`vault.selftest.run` on a scratch vault (known-answer AES-256-GCM, tamper and
  cross-tenant refusals, rotation, audit tamper detection, redaction);
* ``keys``: the key source loads, and the open vault knows its primary KEK (fingerprints only);
* ``audit``: the audit chain verifies (``Vault.verify_audit``), or the first broken entry is named;
* ``refresh``: each credential's refresh health from metadata: healthy, warning, critical, expired,
  ``needs_reauth``, failing refreshes, and the age of the last successful refresh;
* ``service``: ``GET {TOKEN_VAULT_URL}/healthz`` over TLS (http only on loopback); healthy is a JSON object
  with ``status`` ok/healthy/pass/up, anything else on a 2xx cannot tell (or fails, naming another status).

The vault comes from the sweep (``ctx.extras``, filled by :func:`checks.shell.sweep.vault_extras`): ``vault``,
an ``auditor`` actor in ``vault_auditor`` (else ``vault_actor``), and ``vault_problem`` when it could not
be opened. Evidence carries KEK fingerprints (``kek:…``) and metadata, never a key or a token.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from checks.core.hookspecs import CheckContext, check_kind
from checks.core.outbound import NoAnswer, display_url, request, server_error
from checks.core.result import Result

if TYPE_CHECKING:
    from vault import Actor, CredentialInfo, Vault

__all__ = ["VaultParams", "vault"]

KEY_ENV = "TOKEN_VAULT_ENCRYPTION_KEY"
PREVIOUS_KEYS_ENV = "TOKEN_VAULT_PREVIOUS_KEYS"
SOURCE_ENV = "TOKEN_VAULT_KEY_SOURCE"
NOT_CONFIGURED = "the vault is not configured for this sweep (set TOKEN_VAULT_DB_URL and a key)"
TLS_REQUIREMENT = "Network Security: TLS encryption for all token vault communications"
_MAX_LISTED = 50


class VaultParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    probe: Literal["selftest", "keys", "audit", "refresh", "service"]
    """Which question to ask the vault (see the module docstring)."""
    warn_minutes: float = Field(default=10, gt=0)
    """``refresh``: an active credential closer than this to expiry is a warning."""
    critical_minutes: float = Field(default=5, gt=0)
    """``refresh``: closer than this it is critical (fail): the refresher should have renewed it by now."""
    tenant: str | None = None
    """``refresh``: only this tenant's credentials (all when unset)."""
    provider: str | None = None
    """``refresh``: only this provider's credentials (all when unset)."""
    url_env: str = Field(default="TOKEN_VAULT_URL", min_length=1)
    """``service``: variable holding the token vault service's base URL."""
    health_path: str = "/healthz"
    """``service``: path of the health endpoint, appended to the base URL."""
    required: bool = True
    """``service``: fail when the URL is unset; when false, an unset URL passes (the vault is in-process)."""

    @model_validator(mode="after")
    def _consistent(self) -> VaultParams:
        if self.critical_minutes > self.warn_minutes:
            raise ValueError("'critical_minutes' must not exceed 'warn_minutes'")
        if not self.health_path.startswith("/"):
            raise ValueError("'health_path' must start with '/'")
        return self


@check_kind("vault", params=VaultParams)
async def vault(params: VaultParams, ctx: CheckContext) -> Result:
    """Asks the token vault about its own health: ``selftest`` runs the vault's self-test on a scratch vault
    and fails naming each failing check; ``keys`` loads the key source (TOKEN_VAULT_KEY_SOURCE, default
    TOKEN_VAULT_ENCRYPTION_KEY) and checks the vault knows its primary KEK fingerprint; ``audit`` verifies the
    HMAC-chained audit log and names the first broken entry; ``refresh`` rates every credential by time to
    expiry (warning under ``warn_minutes``, critical under ``critical_minutes``, expired) and fails on
    ``needs_reauth``, with the age of each last successful refresh; ``service`` GETs
    ``{TOKEN_VAULT_URL}/healthz``, which must be https off loopback, and passes only on a JSON object whose
    ``status`` is ok/healthy/pass/up (5xx, or a 2xx that is not such an answer: could not tell). Without an
    open vault the vault-reading probes are pending. Evidence holds fingerprints and metadata, never a key or a
    token."""
    if params.probe == "selftest":
        return await _selftest()
    if params.probe == "keys":
        return await _keys(ctx)
    if params.probe == "service":
        return await _service(params, ctx)
    opened = _opened(ctx)
    if isinstance(opened, Result):
        return opened
    store, actor = opened
    if params.probe == "audit":
        return await _audit(store, actor, ctx)
    return await _refresh(params, store, actor, ctx)


# --- the sweep's vault -----------------------------------------------------------------------------------------


def _opened(ctx: CheckContext) -> tuple[Vault, Actor] | Result:
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


# --- selftest --------------------------------------------------------------------------------------------------


async def _selftest() -> Result:
    from vault import selftest

    report = await asyncio.to_thread(selftest.run)
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


async def _keys(ctx: CheckContext) -> Result:
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


async def _audit(store: Vault, actor: Actor, ctx: CheckContext) -> Result:
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


# --- refresh ---------------------------------------------------------------------------------------------------

_RANK = {"needs_reauth": 0, "expired": 1, "critical": 2, "warning": 3, "failing": 4, "healthy": 5}
_FAILING = ("needs_reauth", "expired", "critical")


async def _refresh(params: VaultParams, store: Vault, actor: Actor, ctx: CheckContext) -> Result:
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


# --- service ---------------------------------------------------------------------------------------------------


async def _service(params: VaultParams, ctx: CheckContext) -> Result:
    base = (ctx.value(params.url_env) or "").strip()
    if not base:
        if not params.required:
            return Result.passed(
                f"{params.url_env} is not set: no token vault service to probe (the vault is used in-process)",
                configured=False,
            )
        return Result.failed(
            f"{params.url_env} is not set: set it to the token vault service's https URL",
            remediation=f"Set {params.url_env} in the environment or the .env file; set required = false in the "
            "check's params when the vault runs in-process only",
            configured=False,
        )
    try:
        parsed = httpx.URL(base)
    except (httpx.InvalidURL, ValueError):
        parsed = None
    shown = display_url(base, ctx.scrubber)
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        return Result.failed(
            f"{params.url_env} is not an http(s) URL ({shown}): set it to the token vault service's https URL",
            url=shown,
        )
    loopback = _is_loopback(parsed.host)
    evidence: dict[str, Any] = {"url": shown, "tls": parsed.scheme == "https", "loopback": loopback}
    if parsed.scheme != "https" and not loopback:
        return Result.failed(
            f'{params.url_env} is plain http to {parsed.host}: the seed requires "{TLS_REQUIREMENT}"; use an https URL',
            remediation="Serve the token vault service over TLS (a valid certificate for its host name) and set "
            f"{params.url_env} to its https:// URL; plain http is allowed on loopback only",
            **evidence,
        )
    url = base.rstrip("/") + params.health_path
    evidence["url"] = display_url(url, ctx.scrubber)
    what = "the token vault service's health endpoint"
    try:
        response = await request(ctx, "GET", url, what=what, provider=False)
    except NoAnswer as exc:
        return exc.result
    code = response.status_code
    evidence.update(status_code=code, body_excerpt=ctx.scrubber.clip(response.text, 200))
    if code == 429 or code >= 500:  # a 503 may mean "unhealthy" as well as "overloaded": could not tell
        unknown = server_error(response, what, url, ctx)
        fix = unknown.remediation if code == 429 else _SICK
        return replace(unknown, remediation=fix, evidence={**evidence, **unknown.evidence})
    if 200 <= code < 300:
        return _health_answer(response, ctx, evidence)
    return Result.failed(
        f"the token vault service answered {code} at {evidence['url']}: check {params.url_env} and health_path",
        remediation=f"The health endpoint should answer 2xx without credentials at {params.health_path}",
        **evidence,
    )


_SICK = "The service answers but fails (a 503 may mean unhealthy or overloaded): look at its logs and dependencies"
HEALTHY = frozenset({"ok", "healthy", "pass", "up"})
"""``status`` values of a healthy answer (case-insensitive): ours, the IETF health-check draft's, Spring's."""


def _health_answer(response: httpx.Response, ctx: CheckContext, evidence: dict[str, Any]) -> Result:
    """Judge a 2xx: a JSON object whose ``status`` is one of :data:`HEALTHY` passes; another ``status`` fails
    naming it; anything else (HTML, invalid JSON, no ``status``) cannot tell: a 200 alone proves nothing."""
    code = response.status_code
    try:
        data = response.json()
    except ValueError:  # invalid JSON, or not text at all
        data = None
    status = data.get("status") if isinstance(data, dict) else None
    if not isinstance(status, str):
        return Result.errored(
            f"the token vault service answered {code} at {evidence['url']} but not a health answer (expected a JSON "
            f"object with \"status\": \"ok\"; got {_seen(response, ctx)}): could not tell",
            remediation="Check the URL reaches the token vault service and not a proxy, a sign-in page or another "
            "service; its health endpoint answers {\"status\": \"ok\"}",
            content_type=response.headers.get("content-type", ""),
            **evidence,
        )
    shown = ctx.scrubber.clip(status, 60)
    evidence["health_status"] = shown
    if status.strip().lower() in HEALTHY:
        return Result.passed(f"the token vault service answers {code} at {evidence['url']}: status {shown!r}",
                             **evidence)
    return Result.failed(
        f"the token vault service reports status {shown!r} at {evidence['url']}: it is up but not healthy",
        remediation="Look at the service's logs and its dependencies (database, key source)",
        **evidence,
    )


def _seen(response: httpx.Response, ctx: CheckContext) -> str:
    """What came back, for a summary: a content type and the start of the body, scrubbed, then cut."""
    kind = response.headers.get("content-type", "") or "no content type"
    body = " ".join(ctx.scrubber.clip(response.text, 60).split())
    return f"{kind}, {body!r}" if body else f"{kind}, an empty body"


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
