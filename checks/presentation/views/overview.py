"""Where the release stands, as the overview page shows it: the verdict banner and the time left to the
decision point, the four area cards in the seed's words (NOT STARTED / PARTIAL / NEEDS VALIDATION / READY),
blockers (open gaps in blocking checks) grouped by item with what they block and their owner, open
escalations with their contacts, and each milestone's success criteria, ticked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from checks.core.manifest import Manifest
from checks.core.result import CheckResult
from checks.core.run import Decision, Run
from checks.core.status import Severity, Status
from checks.core.tally import Tally
from checks.core.verdict import area_state
from checks.presentation.views.checks_table import check_title

if TYPE_CHECKING:
    pass

_PRIORITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}


# ---------------------------------------------------------------------------------------- verdict


@dataclass(frozen=True)
class Banner:
    """The verdict banner: GO / CONDITIONAL / NO-GO, a one-line headline and the reasons in words."""

    decision: str
    """``GO``, ``CONDITIONAL``, ``NO-GO``, or ``NO RUN`` when nothing is recorded yet."""
    headline: str
    """E.g. ``3 of 12 blocking checks open`` (without the decision)."""
    reasons: list[str]
    """What decides: open blocking gaps, waived gaps (or that every blocking check passes)."""
    notes: list[str] = field(default_factory=list)
    """Major gaps, named but not blocking."""
    run_id: str | None = None
    started_at: datetime | None = None
    trigger: str = ""


_MAJOR = "Major (does not block)"


def banner(run: Run | None) -> Banner:
    """The banner for ``run``; without one, says how to make the first."""
    if run is None:
        return Banner("NO RUN", "no run recorded yet: press “Run checks now” or run `readiness check`", [])
    blocking = [r for r in run.results if r.severity is Severity.BLOCKING]
    passed = sum(1 for r in blocking if r.status.ok)
    decision = run.verdict.decision
    if decision is Decision.GO:
        headline = f"all {len(blocking)} blocking checks pass"
    elif decision is Decision.CONDITIONAL:
        headline = f"{len(blocking) - passed} blocking gap(s), every one covered by a waiver in force"
    else:
        open_ = sum(1 for r in blocking if not r.status.ok and not r.waived)
        headline = f"{open_} of {len(blocking)} blocking checks open"
    reasons = [r for r in run.verdict.reasons if not r.startswith(_MAJOR)]
    notes = [r.removeprefix(_MAJOR).lstrip(": ") for r in run.verdict.reasons if r.startswith(_MAJOR)]
    return Banner(decision.value, headline, reasons, notes, run.id, run.started_at, run.trigger)


def box_for_decision(decision: Decision | str) -> str:
    """The Streamlit box that announces a finished sweep: ``success`` only for GO, ``warning`` for
    CONDITIONAL, ``error`` for NO-GO (a green box must never say NO-GO)."""
    value = decision.value if isinstance(decision, Decision) else str(decision)
    return {Decision.GO.value: "success", Decision.CONDITIONAL.value: "warning"}.get(value, "error")


def box_for_status(status: Status) -> str:
    """The box for one check's fresh result: ``success`` only for pass, ``warning`` for warn, pending and
    skipped (met with a note, waiting, not checked), ``error`` for fail and error."""
    if status is Status.PASS:
        return "success"
    return "error" if status in (Status.FAIL, Status.ERROR) else "warning"


def blocking_count(run: Run | None) -> tuple[int, int]:
    """(passing, total) blocking checks of ``run``; (0, 0) without one."""
    if run is None:
        return 0, 0
    mine = [r for r in run.results if r.severity is Severity.BLOCKING]
    return sum(1 for r in mine if r.status.ok), len(mine)


@dataclass(frozen=True)
class TimeLeft:
    """Time from ``now`` to the decision point (taken as the start of its day, UTC)."""

    deadline: datetime
    seconds: float
    text: str
    """``3 days 14 hours left``, ``today``, ``passed 2 days ago``."""

    @property
    def overdue(self) -> bool:
        return self.seconds < 0 and self.text != "today"


def time_left(decision_point: date, now: datetime) -> TimeLeft:
    """How long until ``decision_point``, in words."""
    deadline = datetime(decision_point.year, decision_point.month, decision_point.day, tzinfo=UTC)
    now = now.astimezone(UTC)
    seconds = (deadline - now).total_seconds()
    if now.date() == decision_point:
        text = "today"
    elif seconds > 0:
        days, rest = divmod(int(seconds), 86400)
        hours = rest // 3600
        parts = [f"{days} day{'s' if days != 1 else ''}"] if days else []
        if hours or not days:
            parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
        text = " ".join(parts) + " left"
    else:
        days = (now.date() - decision_point).days
        text = f"passed {days} day{'s' if days != 1 else ''} ago"
    return TimeLeft(deadline, seconds, text)


# ------------------------------------------------------------------------------------------ areas


@dataclass(frozen=True)
class AreaCard:
    id: str
    title: str
    priority: str
    state: str
    """NOT STARTED, PARTIAL, NEEDS VALIDATION or READY."""
    passed: int
    total: int
    counts: dict[str, int] = field(default_factory=dict)
    """Status value -> number of the area's checks, worst first."""

    @property
    def tally(self) -> Tally:
        """Passed, pending, not checked, failing; without a run every check is not checked."""
        if not self.counts:
            return Tally(0, not_checked=self.total)
        return Tally.of(Status(s) for s, n in self.counts.items() for _ in range(n))

    @property
    def caption(self) -> str:
        """E.g. ``3 passed, 2 not checked, 2 failing of 7``."""
        return str(self.tally)


def area_cards(manifest: Manifest, run: Run | None) -> list[AreaCard]:
    """One card per manifest area, in manifest order; NOT STARTED with nothing passing when there is no run."""
    out = []
    for area in manifest.areas:
        mine = [r.status for r in run.results if r.area == area.id] if run is not None else []
        total = len(mine) if run is not None else sum(1 for c in manifest.all_checks if manifest.area_of(c) == area.id)
        counts = {s.value: sum(1 for m in mine if m is s) for s in Status if any(m is s for m in mine)}
        out.append(
            AreaCard(
                id=area.id,
                title=area.title,
                priority=area.priority,
                state=area_state(mine),
                passed=sum(1 for s in mine if s.ok),
                total=total,
                counts=counts,
            )
        )
    return out


# --------------------------------------------------------------------------------------- blockers


@dataclass(frozen=True)
class BlockerCheck:
    id: str
    title: str
    status: str
    summary: str
    remediation: str


@dataclass(frozen=True)
class Blocker:
    """One item with open (unwaived) gaps in its blocking checks."""

    item: str
    title: str
    priority: str
    blocks: list[str]
    """What the item blocks, e.g. ``["#65", "#66"]``."""
    owner: str
    """The owner contact's name."""
    owner_scope: str
    channel: str
    contingency: str
    checks: list[BlockerCheck]


def blockers(manifest: Manifest, run: Run | None) -> list[Blocker]:
    """Failing blocking checks not covered by a waiver, grouped by item: critical items first, then worst."""
    if run is None:
        return []
    gaps: dict[str, list[CheckResult]] = {}
    for r in run.results:
        if r.severity is Severity.BLOCKING and not r.status.ok and not r.waived:
            gaps.setdefault(r.item, []).append(r)
    order = {i.id: n for n, i in enumerate(manifest.items)}
    out = []
    for item_id, results in gaps.items():
        item = manifest.items_by_id.get(item_id)
        contact = manifest.contacts.get(item.owner) if item else None
        out.append(
            Blocker(
                item=item_id,
                title=item.title if item else item_id,
                priority=item.priority if item else "low",
                blocks=list(item.blocks) if item else [],
                owner=contact.name if contact else (item.owner if item else ""),
                owner_scope=contact.scope if contact else "",
                channel=contact.channel if contact else "",
                contingency=item.contingency if item else "",
                checks=[
                    BlockerCheck(
                        r.id, check_title(manifest, r.id), r.status.value, r.result.summary, r.result.remediation
                    )
                    for r in sorted(results, key=lambda r: (r.status.rank, r.id))
                ],
            )
        )
    return sorted(
        out,
        key=lambda b: (
            _PRIORITY_RANK.get(b.priority, 9),
            min(Status(c.status).rank for c in b.checks),
            order.get(b.item, len(order)),
        ),
    )


# ------------------------------------------------------------------------------------ escalations


@dataclass(frozen=True)
class OpenEscalation:
    rule: str
    title: str
    text: str
    item: str
    item_title: str
    since: datetime
    days_open: float
    contact: str
    contact_scope: str
    channel: str


def open_escalations(manifest: Manifest, run: Run | None, now: datetime) -> list[OpenEscalation]:
    """The run's escalations in force, oldest first, with the contact to call."""
    if run is None:
        return []
    rules = {e.id: e for e in manifest.escalations}
    out = []
    for hit in run.verdict.escalations:
        rule = rules.get(hit.rule)
        contact = manifest.contacts.get(rule.contact) if rule else None
        item = manifest.items_by_id.get(hit.item)
        out.append(
            OpenEscalation(
                rule=hit.rule,
                title=hit.title or (rule.title if rule else hit.rule),
                text=hit.text or (rule.text if rule else ""),
                item=hit.item,
                item_title=item.title if item else hit.item,
                since=hit.since,
                days_open=round((now - hit.since).total_seconds() / 86400, 1),
                contact=contact.name if contact else hit.contact,
                contact_scope=contact.scope if contact else "",
                channel=contact.channel if contact else "",
            )
        )
    return sorted(out, key=lambda e: e.since)


# --------------------------------------------------------------------------------------- criteria


@dataclass(frozen=True)
class CriterionLine:
    text: str
    met: bool
    checks: list[str]
    """Every check the criterion looks at."""
    open: list[str]
    """Those not passing (or not run)."""


@dataclass(frozen=True)
class MilestoneView:
    id: str
    title: str
    due: date | None
    criteria: list[CriterionLine]

    @property
    def met(self) -> int:
        return sum(1 for c in self.criteria if c.met)


def criteria_by_milestone(manifest: Manifest, run: Run | None) -> list[MilestoneView]:
    """Each milestone's success criteria, ticked from the run (none ticked without one)."""
    status = {r.id: r.status for r in run.results} if run is not None else {}
    ticked = {(c.milestone, c.text): c.met for c in run.verdict.criteria} if run is not None else {}
    out = []
    for ms in manifest.milestones:
        lines = []
        for crit in manifest.criteria:
            if crit.milestone != ms.id:
                continue
            ids = [c.id for c in manifest.match_checks(crit.checks)]
            open_ = [i for i in ids if i not in status or not status[i].ok]
            met = ticked.get((ms.id, crit.text), bool(status) and bool(ids) and not open_)
            lines.append(CriterionLine(crit.text, met, ids, open_))
        out.append(MilestoneView(ms.id, ms.title, ms.due, lines))
    return out
