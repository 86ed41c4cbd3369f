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
  With a probe identity (``TOKEN_VAULT_PROBE_TOKEN``) the service is verified end to end through
  ``vault.client``: TLS, health and an authorised metadata call.

The vault comes from the sweep (``ctx.extras``, filled by :func:`checks.shell.sweep.vault_extras`): ``vault``,
an ``auditor`` actor in ``vault_auditor`` (else ``vault_actor``), and ``vault_problem`` when it could not
be opened. Evidence carries KEK fingerprints (``kek:…``) and metadata, never a key or a token.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from checks.core.hookspecs import CheckContext, check_kind
from checks.core.result import Result

__all__ = ["VaultParams", "vault"]


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
    probe_token_env: str = Field(default="TOKEN_VAULT_PROBE_TOKEN", min_length=1)
    """``service``: variable holding a probe identity's service token; when set, the probe calls the service
    through ``vault.client`` (TLS, health, an authorised metadata call), not only its health endpoint."""
    ca_file_env: str = Field(default="TOKEN_VAULT_CA_FILE", min_length=1)
    """``service``: variable holding the CA bundle (PEM) the service's certificate is verified against."""

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
    # The probes (and the outbound HTTP they use) load when a check runs: `readiness validate` needs the params.
    from checks.builtin.vault_integrity import probe_audit, probe_keys, probe_selftest
    from checks.builtin.vault_refresh import probe_refresh
    from checks.builtin.vault_service import probe_service
    from checks.builtin.vault_sweep import opened_vault

    if params.probe == "selftest":
        return await probe_selftest()
    if params.probe == "keys":
        return await probe_keys(ctx)
    if params.probe == "service":
        return await probe_service(params, ctx)
    opened = opened_vault(ctx)
    if isinstance(opened, Result):
        return opened
    store, actor = opened
    if params.probe == "audit":
        return await probe_audit(store, actor, ctx)
    return await probe_refresh(params, store, actor, ctx)
