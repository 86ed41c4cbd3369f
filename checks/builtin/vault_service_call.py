"""Probe ``service`` of kind ``vault``, end to end: with a probe identity (``TOKEN_VAULT_PROBE_TOKEN``, a service
token of ``readiness vault service-token create``), the service is asked through :class:`vault.client.VaultClient`
as the platform's backend would: TLS verified (against ``TOKEN_VAULT_CA_FILE`` when set), ``/healthz``, then an
authorised metadata call (``GET /v1/credentials``), so a service that answers its health but refuses its callers
(a revoked identity, a broken database, a wrong CA) is not green."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from checks.core.hookspecs import CheckContext
from checks.core.result import Result

if TYPE_CHECKING:
    from checks.builtin.vault import VaultParams

__all__ = ["probe_service_call"]

_CREATE = "readiness vault service-token create readiness-probe --role viewer"


def _ask(base: str, token: str, ca_file: str | None, timeout: float) -> tuple[dict[str, Any], int]:
    from vault.client import VaultClient

    with VaultClient(base, token, verify=ca_file or True, timeout=timeout) as client:
        health = client.health()
        return health, len(client.list())


async def probe_service_call(
    params: VaultParams, ctx: CheckContext, base: str, token: str, evidence: dict[str, Any]
) -> Result:
    from vault.client import VaultServiceError

    ca_file = ctx.value(params.ca_file_env)
    evidence.update(authorised_call=True, ca_file=bool(ca_file))
    url = evidence["url"]
    try:
        health, visible = await asyncio.to_thread(_ask, base, token, ca_file, ctx.check.timeout_s or 10.0)
    except VaultServiceError as exc:
        evidence.update(code=exc.code, status_code=exc.status)
        shown = ctx.scrubber.clip(str(exc), 200)
        if exc.code == "tls":
            return Result.failed(
                f"TLS to the token vault service at {url} did not verify ({shown})",
                remediation=f"Serve a certificate for this host name; for a private CA set {params.ca_file_env} "
                "to its PEM file",
                **evidence,
            )
        if exc.code in ("unauthorized", "forbidden"):
            return Result.failed(
                f"the token vault service at {url} refused the probe identity ({exc.status} {exc.code}): "
                f"{params.probe_token_env} is unknown, expired, revoked or not allowed to list",
                remediation=f"Create a probe identity (`{_CREATE}`) and put its token in {params.probe_token_env}",
                **evidence,
            )
        return Result.errored(
            f"the token vault service at {url} did not complete the probe's calls ({shown}): could not tell",
            remediation="Look at the service's logs and its database; `/healthz` says whether the database answers",
            **evidence,
        )
    status = str(health.get("status", ""))
    evidence.update(health_status=ctx.scrubber.clip(status, 60), credentials_visible=visible)
    return Result.passed(
        f"the token vault service at {url} is healthy over {'TLS' if evidence['tls'] else 'loopback http'} and "
        f"answered the probe identity's metadata call ({visible} credential(s) visible)",
        **evidence,
    )
