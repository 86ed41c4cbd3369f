"""One retry policy for every call to a provider: the checks' outbound calls (``checks.core.outbound``) and the
refresher's token calls (``vault.refresh``).

Which answers are worth another try (:data:`RETRY_STATUSES`, a network failure) and how long to wait before
it: the provider's ``Retry-After`` when it gives one (RFC 9110 §10.2.3: delay-seconds or an HTTP-date),
never more than :data:`MAX_RETRY_AFTER`; otherwise exponential backoff with full jitter (uniform in
``[0, min(ceiling, base * 2^(attempt-1))]``). Built on tenacity's wait strategies, so a loop that sleeps
plugs :meth:`RetryPolicy.wait` into ``tenacity.Retrying``; one that schedules the next attempt elsewhere
(the refresher writes it to the database) asks :meth:`RetryPolicy.delay`.

Light on purpose: neither SQLAlchemy nor the vault's storage comes with it, so the engine's core may use it.
"""

from __future__ import annotations

import email.utils
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import tenacity

__all__ = [  # noqa: F822 (wait_full_jitter is made on first use: __getattr__)
    "DELAY_SECONDS",
    "MAX_RETRY_AFTER",
    "RETRY_STATUSES",
    "RetryPolicy",
    "retry_after",
    "wait_full_jitter",
]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
"""Answers worth another try: rate limited, or a server error that may pass."""
MAX_RETRY_AFTER = timedelta(days=1)
"""The longest ``Retry-After`` honoured: a provider asking for more gets this (a credential is not parked for
years by one answer)."""
DELAY_SECONDS = re.compile(r"[0-9]+")
"""Retry-After as delay-seconds: ASCII digits only (``str.isdigit`` also takes ``²``)."""


class _Random(Protocol):
    def random(self) -> float: ...


def retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A ``Retry-After`` header as a wait from ``now``: delay-seconds, or an HTTP-date (one without a zone is
    UTC); ``None`` when absent or unreadable. Never negative (a date in the past is 0), never more than
    :data:`MAX_RETRY_AFTER` (a 20-digit number of seconds is more than a ``timedelta`` holds)."""
    value = (value or "").strip()
    if not value:
        return None
    if DELAY_SECONDS.fullmatch(value):
        seconds = int(value)  # compared as an int first: it may be past what a timedelta holds
        return MAX_RETRY_AFTER if seconds >= MAX_RETRY_AFTER.total_seconds() else timedelta(seconds=seconds)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when
    return min(max(when - now, timedelta(0)), MAX_RETRY_AFTER)


@cache
def _wait_full_jitter() -> type[tenacity.wait_exponential]:
    """:data:`wait_full_jitter`, made on first use: tenacity (and what it imports, asyncio, tornado when installed)
    loads when something waits, not with every module that names a retry status."""
    import tenacity

    class wait_full_jitter(tenacity.wait_exponential):  # noqa: N801 (tenacity's naming)
        """tenacity's exponential wait (``multiplier * 2^(attempt-1)``, at most ``max``), scaled by a uniform draw
        from ``rng``: full jitter ("Exponential Backoff And Jitter", AWS Architecture Blog)."""

        def __init__(self, multiplier: float, max: float, rng: _Random) -> None:  # noqa: A002 (tenacity's name)
            super().__init__(multiplier=multiplier, max=max)
            self.rng = rng

        def __call__(self, retry_state: tenacity.RetryCallState) -> float:
            return float(super().__call__(retry_state)) * self.rng.random()

    wait_full_jitter.__module__, wait_full_jitter.__qualname__ = __name__, "wait_full_jitter"
    return wait_full_jitter


def __getattr__(name: str) -> Any:
    """``wait_full_jitter``, the tenacity wait strategy, is made when first asked for (PEP 562)."""
    if name == "wait_full_jitter":
        return _wait_full_jitter()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait before attempt ``n + 1``: the provider's ``Retry-After`` if it gave one, else the
    jittered backoff; never less than ``floor``, never more than ``cap`` for a ``Retry-After``."""

    base: timedelta
    """The first backoff's ceiling; each failure doubles it."""
    ceiling: timedelta | None = None
    """The backoff's largest ceiling (``None``: only the number of attempts bounds it)."""
    floor: timedelta = timedelta(0)
    cap: timedelta = MAX_RETRY_AFTER
    rng: _Random = field(default_factory=lambda: random.Random())

    def backoff_wait(self) -> tenacity.wait_exponential:
        """The backoff as a tenacity wait strategy (seconds): a ``wait_full_jitter``."""
        ceiling = self.ceiling.total_seconds() if self.ceiling is not None else float("inf")
        return _wait_full_jitter()(self.base.total_seconds(), ceiling, self.rng)  # type: ignore[arg-type]

    def backoff(self, attempt: int) -> timedelta:
        """The jittered backoff after ``attempt`` failed attempts (1 for the first), at least ``floor``."""
        import tenacity

        state = tenacity.RetryCallState(None, None, (), {})  # type: ignore[arg-type]
        state.attempt_number = max(attempt, 1)
        return max(self.floor, timedelta(seconds=self.backoff_wait()(state)))

    def honour(self, asked: timedelta | None) -> timedelta | None:
        """A ``Retry-After`` wait (:func:`retry_after`) within ``[floor, cap]``; ``None`` stays ``None``."""
        return None if asked is None else min(max(asked, self.floor), self.cap)

    def delay(self, attempt: int, asked: timedelta | None = None) -> timedelta:
        """The wait after ``attempt`` failed attempts: what ``Retry-After`` asked, else the backoff."""
        honoured = self.honour(asked)
        return honoured if honoured is not None else self.backoff(attempt)

    def wait(self, asked: Callable[[tenacity.RetryCallState], timedelta | None]) -> tenacity.wait.wait_base:
        """The policy as a tenacity wait strategy; ``asked(retry_state)`` reads the last answer's Retry-After."""
        import tenacity

        policy = self

        class _Wait(tenacity.wait.wait_base):
            def __call__(self, retry_state: tenacity.RetryCallState) -> float:
                return policy.delay(retry_state.attempt_number, asked(retry_state)).total_seconds()

        return _Wait()
