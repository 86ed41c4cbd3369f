"""Probe ``service`` of kind ``vault``: ``GET {TOKEN_VAULT_URL}/healthz`` over TLS (http only on loopback);
healthy is a JSON object whose ``status`` is ok/healthy/pass/up. With a probe identity
(``TOKEN_VAULT_PROBE_TOKEN``) the whole service is verified instead: :mod:`checks.builtin.vault_service_call`."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import httpx

from checks.builtin.vault_service_call import probe_service_call
from checks.core.hookspecs import CheckContext
from checks.core.outbound import NoAnswer, display_url, request, server_error
from checks.core.result import Result

if TYPE_CHECKING:
    from checks.builtin.vault import VaultParams

__all__ = ["HEALTHY", "probe_service"]


TLS_REQUIREMENT = "Network Security: TLS encryption for all token vault communications"


async def probe_service(params: VaultParams, ctx: CheckContext) -> Result:
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
    token = ctx.secret(params.probe_token_env)
    if token:
        return await probe_service_call(params, ctx, base, token, evidence)
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
            f'object with "status": "ok"; got {_seen(response, ctx)}): could not tell',
            remediation="Check the URL reaches the token vault service and not a proxy, a sign-in page or another "
            'service; its health endpoint answers {"status": "ok"}',
            content_type=response.headers.get("content-type", ""),
            **evidence,
        )
    shown = ctx.scrubber.clip(status, 60)
    evidence["health_status"] = shown
    if status.strip().lower() in HEALTHY:
        return Result.passed(
            f"the token vault service answers {code} at {evidence['url']}: status {shown!r}", **evidence
        )
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
