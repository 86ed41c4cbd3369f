"""Result status, worst first, and severity."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

__all__ = ["Severity", "Status", "worst"]


class Status(str, Enum):
    """What a check found. Declared worst first; ``rank`` 0 is the worst."""

    ERROR = "error"
    """Could not tell: the probe itself failed (timeout, 500, garbage answer)."""
    FAIL = "fail"
    """The prerequisite is not met."""
    PENDING = "pending"
    """Waiting on someone outside the team (e.g. Google's OAuth verification)."""
    WARN = "warn"
    """Met, with something to fix soon (a secret expiring, a scope spelled oddly)."""
    SKIPPED = "skipped"
    """Not checked: a check it depends on did not pass, or what it needs to look is not configured."""
    PASS = "pass"
    """The prerequisite is met."""

    @property
    def rank(self) -> int:
        return _ORDER.index(self)

    @property
    def ok(self) -> bool:
        """Passing for a dependency: ``pass`` or ``warn``."""
        return self in (Status.PASS, Status.WARN)

    @property
    def checked(self) -> bool:
        """The check looked: not ``skipped`` (not configured, or a dependency failed) nor ``error`` (could not
        tell). A check that did not look is never counted as passing."""
        return self not in (Status.SKIPPED, Status.ERROR)

    def __str__(self) -> str:
        return self.value


_ORDER = list(Status)


def worst(statuses: Iterable[Status]) -> Status:
    """The worst of ``statuses``; ``pass`` when there are none."""
    return min(statuses, key=lambda s: s.rank, default=Status.PASS)


class Severity(str, Enum):
    """How much a failing check matters to the verdict."""

    BLOCKING = "blocking"
    """Decides the verdict: GO needs every blocking check to pass."""
    MAJOR = "major"
    """Named in the reasons, does not change the verdict."""
    MINOR = "minor"
    """Shown, never a reason."""

    def __str__(self) -> str:
        return self.value
