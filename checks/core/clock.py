"""Injectable time. Everything that depends on "now" takes a :class:`Clock`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "FixedClock", "SystemClock", "utc"]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


class FixedClock:
    """A clock that only moves when told to (tests, the demo's scripted weeks)."""

    def __init__(self, at: datetime) -> None:
        self._at = utc(at)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = utc(at)

    def advance(self, delta: timedelta) -> None:
        self._at += delta

    def __repr__(self) -> str:
        return f"FixedClock({self._at.isoformat()})"


def utc(value: datetime) -> datetime:
    """``value`` as aware UTC; a naive datetime is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
