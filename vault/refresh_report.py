"""What a refresh run yields: :class:`RefreshOutcome` per claimed credential, :class:`RefreshReport` per run
(counts and outcomes, never a token), and what a claim carries from one step of the cycle to the next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vault.secret import Secret

__all__ = ["COUNTERS", "Claim", "PreparedRefresh", "RefreshOutcome", "RefreshReport"]

# Outcome names, and the report counter each one adds to.
COUNTERS = {
    "refreshed": "refreshed",
    "already_fresh": "skipped_already_fresh",
    "lost_lease": "skipped_already_fresh",
    "superseded": "skipped_already_fresh",
    "needs_reauth": "needs_reauth",
    "backed_off": "backed_off",
    "error": "errors",
}


@dataclass(frozen=True)
class RefreshOutcome:
    """What happened to one claimed credential. Never a token: ``fingerprint`` is the HMAC name."""

    credential_id: str
    tenant: str
    provider: str
    account: str
    result: str
    """``refreshed``; ``already_fresh``, ``lost_lease``, ``superseded`` (skipped: someone else did it);
    ``needs_reauth``; ``backed_off`` (429, 5xx, timeout, garbage); ``error`` (anything else)."""
    detail: str | None = None
    """A short, secret-free description of a failure."""
    status: int | None = None
    """The token endpoint's HTTP status, when it answered."""
    next_attempt_at: datetime | None = None
    fingerprint: str | None = None
    """``hmac:…`` of the new access token (``refreshed`` only)."""
    rotated: bool = False
    """The provider issued a new refresh token, and it was stored."""


@dataclass(frozen=True)
class RefreshReport:
    """One :meth:`Refresher.run_once`: counts and per-credential outcomes (no secrets)."""

    owner: str
    started_at: datetime
    finished_at: datetime
    refreshed: int = 0
    skipped_already_fresh: int = 0
    needs_reauth: int = 0
    backed_off: int = 0
    errors: int = 0
    outcomes: tuple[RefreshOutcome, ...] = ()

    @property
    def claimed(self) -> int:
        return len(self.outcomes)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (for ``readiness vault refresh --format json`` and the dashboard)."""
        return {
            "owner": self.owner,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "refreshed": self.refreshed,
            "skipped_already_fresh": self.skipped_already_fresh,
            "needs_reauth": self.needs_reauth,
            "backed_off": self.backed_off,
            "errors": self.errors,
            "outcomes": [
                {
                    "credential_id": o.credential_id,
                    "tenant": o.tenant,
                    "provider": o.provider,
                    "account": o.account,
                    "result": o.result,
                    "detail": o.detail,
                    "status": o.status,
                    "rotated": o.rotated,
                    "fingerprint": o.fingerprint,
                    "next_attempt_at": o.next_attempt_at.isoformat() if o.next_attempt_at else None,
                }
                for o in self.outcomes
            ],
        }


@dataclass(frozen=True)
class Claim:
    id: str
    tenant: str
    provider: str
    account: str

    def outcome(self, result: str, **kw: Any) -> RefreshOutcome:
        return RefreshOutcome(self.id, self.tenant, self.provider, self.account, result, **kw)


@dataclass
class PreparedRefresh:
    """A claimed credential re-read and still ours: what the call and the settle need."""

    version: int
    refresh_token: Secret
    scopes: list[str]
    fingerprint: str
    interrupted: str | None = None
    """The in-flight marker an earlier cycle left behind (it died or lost its lease mid-call), if any."""
