"""How many checks passed, wait, were not checked, or fail: one phrase for areas, items, reports and pages.

"Not checked" (``skipped``: not configured or a dependency failed; ``error``: tried and could not tell) is
never "passed": a check that could not look has not shown the prerequisite is met.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from checks.core.status import Status

__all__ = ["Tally"]


@dataclass(frozen=True)
class Tally:
    passed: int
    """``pass`` or ``warn``: met."""
    pending: int = 0
    """Waiting on someone outside."""
    not_checked: int = 0
    """``skipped`` or ``error``: the check could not look."""
    failing: int = 0
    """``fail``: looked, and the prerequisite is not met."""

    @classmethod
    def of(cls, statuses: Iterable[Status]) -> Tally:
        seen = list(statuses)
        return cls(
            passed=sum(1 for s in seen if s.ok),
            pending=sum(1 for s in seen if s is Status.PENDING),
            not_checked=sum(1 for s in seen if not s.checked),
            failing=sum(1 for s in seen if s is Status.FAIL),
        )

    @property
    def total(self) -> int:
        return self.passed + self.pending + self.not_checked + self.failing

    def __str__(self) -> str:
        """E.g. ``3 passed, 2 not checked, 2 failing of 7`` (buckets with none are left out, passed never)."""
        parts = [f"{self.passed} passed"]
        parts += [f"{n} {word}" for n, word in self._rest() if n]
        return f"{', '.join(parts)} of {self.total}"

    def _rest(self) -> list[tuple[int, str]]:
        return [(self.pending, "pending"), (self.not_checked, "not checked"), (self.failing, "failing")]
