"""The values the :class:`~vault.store.Vault` hands out and reads: credential metadata, rotation reports,
dashboard counts, the clock, and the rule that schedules a credential's refresh."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from vault.models import utc

__all__ = ["Clock", "CredentialInfo", "RotationReport", "SystemClock", "VaultStats", "refresh_due"]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    """The wall clock (``checks.core.clock.FixedClock`` or any object with ``now()`` also fits)."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


# ----------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class CredentialInfo:
    """One credential's metadata, as :meth:`Vault.list` returns it: never a token or a ciphertext."""

    id: str
    tenant: str
    provider: str
    account: str
    scopes: tuple[str, ...]
    state: str
    """``active``, ``revoked`` or ``needs_reauth``."""
    expires_at: datetime | None
    has_refresh_token: bool
    token_fingerprint: str
    """``hmac:…`` of the access token: the same value names it in the audit log."""
    dek_version: int
    refresh_due_at: datetime | None
    last_refresh_at: datetime | None
    last_refresh_error: str | None
    failures: int
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class RotationReport:
    """What one run of :meth:`Vault.rotate_kek` or :meth:`Vault.rotate_dek` did."""

    kind: str
    """``kek`` or ``dek``."""
    target: str
    """The primary KEK's fingerprint, or ``tenant@vN`` for a DEK rotation."""
    total: int
    """Rows that still needed rewriting when this run started (an earlier, interrupted run did the rest)."""
    rewritten: int
    """Rows this run rewrapped (KEK: data keys and the audit key) or re-sealed (DEK: credentials)."""
    remaining: int
    """Rows not at the target when the run finished: 0 means complete."""
    retired: tuple[str, ...] = ()
    """DEK versions this run retired, ``tenant@v1``."""
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def complete(self) -> bool:
        return self.remaining == 0


@dataclass(frozen=True)
class VaultStats:
    """Counts for dashboards: metadata only."""

    at: datetime
    tenants: int
    credentials: int
    by_state: dict[str, int]
    by_provider: dict[str, int]
    by_provider_state: dict[str, dict[str, int]]
    expiring_soon: int
    """Active credentials that expire within the window (and have not yet)."""
    expired: int
    """Active credentials already past ``expires_at``."""
    refresh_failing: int
    """Credentials whose last refresh attempts failed (``failures > 0``)."""
    primary_kek: str
    pending_rewrap: dict[str, int] = field(default_factory=dict)
    """Older KEK fingerprint -> data keys still wrapped under it (a KEK rotation is due)."""
    rotations_in_progress: tuple[str, ...] = ()
    """``kek`` and/or ``dek:<tenant>`` for rotations interrupted or running."""


def refresh_due(now: datetime, expires_at: datetime | None) -> datetime | None:
    """When a credential should be refreshed: 10 minutes before expiry, or at 80 % of a shorter lifetime."""
    if expires_at is None:
        return None
    expires_at = utc(expires_at)
    lifetime = expires_at - utc(now)
    if lifetime <= timedelta(0):
        return expires_at
    return expires_at - min(timedelta(minutes=10), lifetime / 5)
