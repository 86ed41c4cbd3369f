"""Who is calling the vault service, and how often: the bearer token read and checked
(:class:`Authenticator`, over :class:`vault.service_tokens.ServiceTokens`), and per-key token buckets
(:class:`RateLimiter`) for identities and for unauthenticated clients."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from vault.service_tokens import ServiceIdentity, ServiceTokens, Unauthenticated, token_hash

__all__ = ["Authenticator", "RateLimiter", "bearer"]


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header (None when absent or another scheme)."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


class Authenticator:
    """Maps a bearer token to its :class:`ServiceIdentity`. A token checked in the last ``cache_ttl`` seconds
    is not looked up again (keyed by its hash; the token itself is not kept): a revocation or an expiry takes
    effect on every replica within that time. ``cache_ttl=0`` looks every request up."""

    def __init__(
        self, tokens: ServiceTokens, *, cache_ttl: float = 1.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.tokens = tokens
        self.cache_ttl = cache_ttl
        self._monotonic = monotonic
        self._cache: dict[str, tuple[ServiceIdentity, float]] = {}
        self._lock = threading.Lock()

    def identify(self, token: str | None) -> ServiceIdentity:
        key = token_hash(token) if token else ""
        if self.cache_ttl > 0 and key:
            with self._lock:
                hit = self._cache.get(key)
            if hit is not None and hit[1] > self._monotonic():
                identity = hit[0]
                state = identity.state(self.tokens.vault.clock.now())
                if state != "active":
                    raise Unauthenticated(state, f"the service token of {identity.name!r} is {state}")
                return identity
        identity = self.tokens.authenticate(token)
        if self.cache_ttl > 0:
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[key] = (identity, self._monotonic() + self.cache_ttl)
        return identity


class RateLimiter:
    """Token buckets: ``rate`` requests a second per key, bursts of up to ``burst``."""

    def __init__(self, rate: float, burst: int, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._monotonic = monotonic
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float | None:
        """Spend one request of ``key``'s bucket: ``None`` when allowed, else the seconds until one is."""
        now = self._monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return None
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > 50_000:  # unauthenticated clients are keyed by address: keep it bounded
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60}
            return (1.0 - tokens) / self.rate
