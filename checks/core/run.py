"""A sweep's outcome as data: :class:`Run` and its :class:`Verdict`, and the JSON contract."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from checks.core.result import CheckResult
from checks.core.status import Status
from checks.core.tally import Tally

__all__ = ["AreaSummary", "CriterionResult", "Decision", "EscalationHit", "Run", "Verdict", "SCHEMA"]

SCHEMA = 1


class Decision(str, Enum):
    GO = "GO"
    """Every blocking check passes."""
    CONDITIONAL = "CONDITIONAL"
    """Every blocking gap is covered by a waiver in force."""
    NO_GO = "NO-GO"
    """Otherwise."""

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class AreaSummary:
    id: str
    title: str
    status: Status
    """The worst status among the area's checks."""
    passed: int
    """Checks met (``pass`` or ``warn``); never one that was skipped or errored."""
    total: int
    state: str
    """In the seed's words: NOT STARTED, PARTIAL, NEEDS VALIDATION or READY."""
    pending: int = 0
    not_checked: int = 0
    """Checks that could not look: ``skipped`` (not configured, a dependency failed) or ``error``."""

    @property
    def tally(self) -> Tally:
        """E.g. ``3 passed, 2 not checked, 2 failing of 7``."""
        failing = self.total - self.passed - self.pending - self.not_checked
        return Tally(self.passed, self.pending, self.not_checked, max(failing, 0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status.value,
            "passed": self.passed,
            "total": self.total,
            "state": self.state,
            "pending": self.pending,
            "not_checked": self.not_checked,
        }


@dataclass(frozen=True)
class EscalationHit:
    rule: str
    item: str
    since: datetime
    contact: str
    """The contact's display name."""
    title: str = ""
    text: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "item": self.item,
            "since": self.since.isoformat(),
            "contact": self.contact,
            "title": self.title,
            "text": self.text,
        }


@dataclass(frozen=True)
class CriterionResult:
    milestone: str
    text: str
    met: bool
    checks: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"milestone": self.milestone, "text": self.text, "met": self.met, "checks": self.checks}


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reasons: list[str]
    areas: list[AreaSummary] = field(default_factory=list)
    escalations: list[EscalationHit] = field(default_factory=list)
    criteria: list[CriterionResult] = field(default_factory=list)
    waived: list[str] = field(default_factory=list)
    """Ids of checks covered by a waiver in force."""

    def _repr_html_(self) -> str:
        """Jupyter: the banner (word and colour), the areas and the reasons."""
        from checks.presentation.notebook_html import verdict_html

        return verdict_html(self)


@dataclass(frozen=True)
class Run:
    """One sweep: every result and the verdict drawn from them."""

    id: str
    started_at: datetime
    finished_at: datetime
    manifest_digest: str
    results: list[CheckResult]
    verdict: Verdict
    trigger: str = "cli"

    @property
    def exit_code(self) -> int:
        """0 for GO or CONDITIONAL, 1 for NO-GO (the contract in docs/cli.md)."""
        return 1 if self.verdict.decision is Decision.NO_GO else 0

    def _repr_html_(self) -> str:
        """Jupyter: the go/no-go view of this sweep (verdict, areas, reasons, results)."""
        from checks.presentation.notebook_html import run_html

        return run_html(self)

    def to_json(self) -> dict[str, Any]:
        """The ``--format json`` object, every field documented in docs/cli.md (fields are only ever added)."""
        return {
            "schema": SCHEMA,
            "verdict": self.verdict.decision.value,
            "run_id": self.id,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "reasons": list(self.verdict.reasons),
            "areas": [a.to_dict() for a in self.verdict.areas],
            "results": [r.to_dict() for r in self.results],
            "escalations": [e.to_dict() for e in self.verdict.escalations],
            "criteria": [c.to_dict() for c in self.verdict.criteria],
            "manifest_digest": self.manifest_digest,
        }
