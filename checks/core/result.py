"""What a check returns (:class:`Result`) and the same result placed in its check (:class:`CheckResult`).

Results are data: a check that times out or gets garbage returns an ``error`` Result with evidence;
it never raises into the sweep. Evidence never holds a secret: use :func:`checks.core.redact.fingerprint`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from checks.core.status import Severity, Status

__all__ = ["CheckResult", "Condition", "Result"]


@dataclass(frozen=True)
class Condition:
    """One assertion a check made, kept so a person sees which one failed."""

    name: str
    """What was asserted, e.g. ``[STATUS] == 200`` or ``$.status == "active"``."""
    passed: bool
    detail: str = ""
    """What was observed, e.g. ``got 503``. Never a secret."""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True)
class Result:
    """The outcome of running one check once."""

    status: Status
    summary: str
    """One line a person can act on: what is wrong and what to do next."""
    evidence: dict[str, Any] = field(default_factory=dict)
    """What was observed (status codes, error codes, fingerprints). JSON-serialisable, never a secret."""
    remediation: str = ""
    """How to fix it, when it is not obvious from the summary."""
    conditions: tuple[Condition, ...] = ()
    """Each assertion's own outcome."""
    duration_ms: float = 0.0
    """Wall time of the check, filled by the runner."""
    observed_at: datetime | None = None
    """When the check finished, filled by the runner from its clock."""

    @classmethod
    def passed(cls, summary: str, **evidence: Any) -> Result:
        return cls(Status.PASS, summary, evidence)

    @classmethod
    def failed(cls, summary: str, remediation: str = "", **evidence: Any) -> Result:
        return cls(Status.FAIL, summary, evidence, remediation)

    @classmethod
    def errored(cls, summary: str, remediation: str = "", **evidence: Any) -> Result:
        return cls(Status.ERROR, summary, evidence, remediation)

    @classmethod
    def pending(cls, summary: str, remediation: str = "", **evidence: Any) -> Result:
        return cls(Status.PENDING, summary, evidence, remediation)

    @classmethod
    def skipped(cls, summary: str, remediation: str = "", **evidence: Any) -> Result:
        """Not checked: e.g. ``not configured: set X to let this check ask Y`` (never counted as passing)."""
        return cls(Status.SKIPPED, summary, evidence, remediation)

    @classmethod
    def warned(cls, summary: str, remediation: str = "", **evidence: Any) -> Result:
        return cls(Status.WARN, summary, evidence, remediation)

    def with_timing(self, duration_ms: float, observed_at: datetime) -> Result:
        return replace(self, duration_ms=duration_ms, observed_at=observed_at)


@dataclass(frozen=True)
class CheckResult:
    """A :class:`Result` together with the check that produced it."""

    id: str
    item: str
    area: str
    kind: str
    severity: Severity
    result: Result
    waived: bool = False
    """A waiver in force covers this check (set by the verdict)."""

    @property
    def status(self) -> Status:
        return self.result.status

    def to_dict(self) -> dict[str, Any]:
        """The ``results[]`` element of the JSON contract (docs/cli.md)."""
        r = self.result
        return {
            "id": self.id,
            "item": self.item,
            "area": self.area,
            "kind": self.kind,
            "severity": self.severity.value,
            "status": r.status.value,
            "summary": r.summary,
            "evidence": r.evidence,
            "remediation": r.remediation,
            "duration_ms": round(r.duration_ms, 3),
            "waived": self.waived,
            "conditions": [c.to_dict() for c in r.conditions],
            "observed_at": r.observed_at.isoformat() if r.observed_at else None,
        }
