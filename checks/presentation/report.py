"""The checkpoint report's model: the hand-written assessment (the seed) as data, as of one run.

A :class:`Report` holds the verdict, each area and item in the seed's words, the risks and escalations in
force, the open actions, the success criteria ticked from the results, and what changed since the previous
checkpoint (or a date). :mod:`checks.presentation.report_build` builds one from history (and freezes a
checkpoint); :mod:`checks.presentation.report_markdown` writes it with the seed's headings, for an issue
tracker; :mod:`checks.presentation.report_html` writes a self-contained page with the trend chart. What both
renderers share (the icons, :func:`day_text`, :data:`MANIFEST_CHANGED`) is here. Nothing here reads the
environment: results carry no secret, and neither does a report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from checks.core.run import CriterionResult, Decision, EscalationHit, Run
from checks.core.status import Severity, Status
from checks.core.tally import Tally

__all__ = [
    "MANIFEST_CHANGED",
    "AreaStatus",
    "Baseline",
    "Change",
    "Changes",
    "CheckLine",
    "CheckpointMark",
    "ItemStatus",
    "MilestoneCriteria",
    "Report",
    "Since",
    "day_text",
]

Since = Literal["checkpoint"] | date | None

DECISION_ICON = {Decision.GO: "🟢", Decision.CONDITIONAL: "🟡", Decision.NO_GO: "🔴"}
STATE_ICON = {"NOT STARTED": "🔴", "PARTIAL": "🟡", "NEEDS VALIDATION": "🟡", "READY": "🟢"}
ITEM_ICON = {"NOT STARTED": "❌", "PARTIAL": "⏳", "NEEDS VALIDATION": "⏳", "READY": "✅", "NOT CHECKED": "➖"}


# ------------------------------------------------------------------------------------------- the data


@dataclass(frozen=True)
class CheckLine:
    id: str
    title: str
    severity: Severity
    status: Status
    summary: str
    waived: bool


@dataclass(frozen=True)
class ItemStatus:
    """One prerequisite as of the run: its state in the seed's words and its checks' one-liners."""

    id: str
    title: str
    priority: str
    state: str
    """NOT STARTED, PARTIAL, NEEDS VALIDATION, READY, or NOT CHECKED (no check of it in the run)."""
    detail: str
    """What the state rests on, e.g. ``1 passed, 1 pending of 2; attested submitted by ...``."""
    green: bool
    """Every one of its checks passes (``pass`` or ``warn``)."""
    blocks: list[str]
    owner: str
    expected: str
    contingency: str
    mitigation: str
    details: list[tuple[str, str | list[str]]]
    """Manifest facts shown under the item: ``(label, text or list)``, e.g. the OAuth app's scopes."""
    checks: list[CheckLine]

    @property
    def icon(self) -> str:
        return ITEM_ICON[self.state]

    @property
    def words(self) -> str:
        """The status line after the icon, e.g. ``PARTIAL: 1 passed, 1 pending of 2``."""
        return f"{self.state}: {self.detail}"


@dataclass(frozen=True)
class AreaStatus:
    number: int
    id: str
    title: str
    priority: str
    state: str
    passed: int
    total: int
    impact: str
    timeline: str
    items: list[ItemStatus]
    tally: Tally = Tally(0)
    """Passed, pending, not checked and failing, e.g. ``3 passed, 2 not checked, 2 failing of 7``."""

    @property
    def icon(self) -> str:
        return STATE_ICON.get(self.state, "🔴")

    @property
    def priority_line(self) -> str:
        """E.g. ``HIGH PRIORITY (0 passed, 2 not checked, 3 failing of 5)``."""
        return f"{self.priority.upper()} PRIORITY ({self.tally})"

    @property
    def status_line(self) -> str:
        """The seed's form, e.g. ``NOT STARTED - HIGH PRIORITY (0 passed, 5 failing of 5)``."""
        return f"{self.state} - {self.priority_line}"


@dataclass(frozen=True)
class RiskStatus:
    id: str
    category: str
    title: str
    text: str
    mitigation: str
    contingency: str
    impact: str
    resolution: str
    in_force: bool
    """Some item of the risk is not green yet."""
    open_items: list[str]


@dataclass(frozen=True)
class ActionStatus:
    id: str
    milestone: str
    title: str
    urgent: bool
    steps: list[str]
    open_items: list[str]
    owners: list[str]


@dataclass(frozen=True)
class MilestoneCriteria:
    id: str
    title: str
    due: date | None
    criteria: list[CriterionResult]


@dataclass(frozen=True)
class Change:
    check: str
    title: str
    item: str
    severity: Severity
    before: Status | None
    """None when the check was not in the baseline."""
    after: Status
    summary: str
    waived: bool = False
    """A waiver in force covers it now."""


@dataclass(frozen=True)
class Baseline:
    """What the report is compared with: a checkpoint's snapshot or the last run before a date."""

    label: str
    at: datetime
    verdict: str
    results: Mapping[str, tuple[Status, bool]]
    """Check id to (status, waived)."""
    checkpoint_id: int | None = None


@dataclass(frozen=True)
class Changes:
    since: str
    """``checkpoint``, an ISO date, or ``none``."""
    baseline: Baseline | None
    newly_green: list[Change] = field(default_factory=list)
    regressed: list[Change] = field(default_factory=list)
    newly_waived: list[Change] = field(default_factory=list)
    still_blocking: list[Change] = field(default_factory=list)
    note: str = ""
    """Why there is no baseline, when there is none."""


@dataclass(frozen=True)
class CheckpointMark:
    id: int
    at: datetime
    title: str
    run_id: str
    verdict: str
    blocking_passed: int
    blocking_total: int


@dataclass(frozen=True)
class Report:
    """Everything the seed's sections need, as of one run. Plain data: render it any way."""

    story: str
    title: str
    issue_url: str
    release_manager: str
    run: Run
    summary: str
    """The executive summary in words."""
    areas: list[AreaStatus]
    risks: list[RiskStatus]
    escalations: list[EscalationHit]
    escalation_rules: list[tuple[str, str, str]]
    """(title, text, contact name) of every rule watched."""
    contacts: list[tuple[str, str]]
    actions: list[ActionStatus]
    milestones: list[MilestoneCriteria]
    changes: Changes
    next_review: date
    next_review_title: str
    decision_point: date
    decision_text: str
    generated_at: datetime
    checkpoints: list[CheckpointMark]
    item_titles: dict[str, str]
    manifest_changed: bool = False
    """The run was made under another manifest (digest differs); items are described by the current one."""

    def _repr_html_(self) -> str:
        """Jupyter: the STATUS line, summary, areas, reasons and results (the full page: ``render_html``)."""
        from checks.presentation.notebook_html import report_html

        return report_html(self)

    @property
    def decision(self) -> Decision:
        return self.run.verdict.decision

    @property
    def reasons(self) -> list[str]:
        return list(self.run.verdict.reasons)

    @property
    def heading(self) -> str:
        return f"{self.story} Infrastructure Prerequisites Assessment"

    @property
    def assessment_date(self) -> date:
        return self.run.started_at.date()

    @property
    def blocking(self) -> tuple[int, int]:
        """(passing, total) blocking checks."""
        mine = [r for r in self.run.results if r.severity is Severity.BLOCKING]
        return sum(1 for r in mine if r.status.ok), len(mine)

    @property
    def decision_when(self) -> str:
        """How far the decision point is from when the report was made: ``in 7 days``, ``today``, ..."""
        days = (self.decision_point - self.generated_at.date()).days
        return "today" if days == 0 else (f"in {days} days" if days > 0 else f"passed {-days} days ago")

    @property
    def status_line(self) -> str:
        """E.g. ``NO-GO - 5 OF 8 BLOCKING CHECKS OPEN``."""
        passed, total = self.blocking
        if self.decision is Decision.GO:
            return f"GO - ALL {total} BLOCKING CHECKS PASS"
        if self.decision is Decision.CONDITIONAL:
            return f"CONDITIONAL - {total - passed} BLOCKING GAP(S) WAIVED"
        open_ = sum(1 for r in self.run.results if r.severity is Severity.BLOCKING and not r.status.ok and not r.waived)
        return f"NO-GO - {open_} OF {total} BLOCKING CHECKS OPEN"


def day_text(d: date) -> str:
    return f"{d:%b} {d.day}, {d.year}"


MANIFEST_CHANGED = "The manifest has changed since this run; items are described by the current one."
