"""The checkpoint report: the hand-written assessment (the seed) regenerated from history.

:func:`build_report` gathers the data, as of one run: the verdict, each area and item in the seed's
words, the risks and escalations in force, the open actions, the success criteria ticked from the
results, and what changed since the previous checkpoint (or a date). :func:`render_markdown` writes it
with the seed's headings, for an issue tracker; :func:`render_html` (in :mod:`checks.presentation.report_html`)
writes a self-contained page with the trend chart. :func:`record_checkpoint` freezes a run for the
weekly meeting. Nothing here reads the environment: results carry no secret, and neither does a report.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from checks.core.clock import SystemClock
from checks.core.errors import ReadinessError
from checks.core.manifest import Item, Manifest
from checks.core.result import CheckResult
from checks.core.run import CriterionResult, Decision, EscalationHit, Run
from checks.core.status import Severity, Status
from checks.core.tally import Tally
from checks.core.verdict import area_state
from checks.presentation.formats import STATUS_ICON, md_text

if TYPE_CHECKING:
    from checks.storage.history import Checkpoint, Store

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
    "build_report",
    "compare",
    "day_text",
    "record_checkpoint",
    "render_markdown",
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


# --------------------------------------------------------------------------------------- building


def build_report(
    manifest: Manifest,
    store: Store,
    *,
    run: Run | str | None = None,
    since: Since = "checkpoint",
    now: datetime | None = None,
) -> Report:
    """The report of ``run`` (a Run, a run id, or the latest run), compared with the previous checkpoint,
    with the last run before ``since`` when it is a date, or with nothing when it is None.

    Raises :class:`~checks.core.errors.ReadinessError` when there is no such run (or none at all).
    """
    now = now or SystemClock().now()
    the_run = _the_run(store, run)
    at = the_run.finished_at
    attestations = store.latest_attestations(at)
    checkpoints = store.checkpoints()
    results = {r.id: r for r in the_run.results}
    items = [_item(manifest, item, results, attestations) for item in manifest.items]
    by_id = {i.id: i for i in items}
    open_items = {i.id for i in items if not i.green}
    rel = manifest.release
    return Report(
        story=rel.story,
        title=rel.title,
        issue_url=rel.issue_url,
        release_manager=rel.release_manager,
        run=the_run,
        summary=_summary(manifest, the_run),
        areas=_areas(manifest, the_run, items),
        risks=[
            RiskStatus(
                r.id,
                r.category,
                r.title,
                r.text,
                r.mitigation,
                r.contingency,
                r.impact,
                r.resolution,
                in_force=bool(set(r.items) & open_items) or not r.items,
                open_items=[by_id[i].title for i in r.items if i in open_items],
            )
            for r in manifest.risks
        ],
        escalations=list(the_run.verdict.escalations),
        escalation_rules=[(e.title, e.text, manifest.contacts[e.contact].name) for e in manifest.escalations],
        contacts=[(c.name, c.scope) for c in manifest.contacts.values()],
        actions=[
            ActionStatus(
                a.id,
                a.milestone,
                a.title,
                a.urgent,
                list(a.steps),
                open_items=[by_id[i].title for i in a.items if i in open_items],
                owners=_unique(by_id[i].owner for i in a.items if i in open_items),
            )
            for a in manifest.actions
            if not a.items or set(a.items) & open_items
        ],
        milestones=[
            MilestoneCriteria(ms.id, ms.title, ms.due, [c for c in the_run.verdict.criteria if c.milestone == ms.id])
            for ms in manifest.milestones
        ],
        changes=_changes(manifest, store, the_run, since, checkpoints),
        next_review=_next_review(rel.next_review, now.date()),
        next_review_title=rel.next_review_title,
        decision_point=rel.decision_point,
        decision_text=rel.decision_text,
        generated_at=now,
        checkpoints=[_mark(cp) for cp in reversed(checkpoints) if cp.at <= max(at, now)],
        item_titles={i.id: i.title for i in manifest.items},
        manifest_changed=bool(
            the_run.manifest_digest and manifest.digest and the_run.manifest_digest != manifest.digest
        ),
    )


def _the_run(store: Store, run: Run | str | None) -> Run:
    if isinstance(run, Run):
        return run
    found = store.latest_run() if run is None else store.get_run(run)
    if found is None:
        if run is None:
            raise ReadinessError("no runs recorded yet: run `readiness check` first")
        raise ReadinessError(f"no run with id {run}; `readiness history` lists the recorded runs")
    return found


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _item(
    manifest: Manifest, item: Item, results: Mapping[str, CheckResult], attestations: Mapping[str, Any]
) -> ItemStatus:
    specs = [c for c in manifest.checks_for_items([item.id]) if c.id in results]
    mine = [results[c.id] for c in specs]
    statuses = [r.status for r in mine]
    state = area_state(statuses) if mine else "NOT CHECKED"
    words = str(Tally.of(statuses)) if mine else "none of its checks ran"
    gaps = [r for r in mine if not r.status.ok]
    if gaps and all(r.waived for r in gaps):
        words += "; every gap waived"
    att = attestations.get(item.id)
    if att is not None:
        words += f"; attested {att.status} by {att.by} on {att.since.date().isoformat()}"
    contact = manifest.contacts.get(item.owner)
    return ItemStatus(
        id=item.id,
        title=item.title,
        priority=item.priority,
        state=state,
        detail=words,
        green=bool(mine) and not gaps,
        blocks=list(item.blocks),
        owner=contact.name if contact else item.owner,
        expected=item.expected.text if item.expected else "",
        contingency=item.contingency,
        mitigation=item.mitigation,
        details=_details(manifest, item),
        checks=[
            CheckLine(
                c.id,
                c.title or c.id,
                c.severity,
                results[c.id].status,
                results[c.id].result.summary,
                results[c.id].waived,
            )
            for c in specs
        ],
    )


def _details(manifest: Manifest, item: Item) -> list[tuple[str, str | list[str]]]:
    """The seed's per-item facts, from the manifest: an OAuth app's APIs, URIs and scopes, else the description."""
    out: list[tuple[str, str | list[str]]] = []
    for app in manifest.oauth_apps.values():
        if app.item != item.id:
            continue
        approval = app.approval + (f" ({app.approval_duration.text})" if app.approval_duration else "")
        out += [("Required APIs", ", ".join(app.apis)), ("Setup Location", app.setup_location)]
        out += [("Approval Process", approval), ("Redirect URIs Needed", [f"`{u.uri}`" for u in app.redirect_uris])]
        out.append(("Scopes Required", [f"`{s}`" for s in app.scopes]))
        return [(k, v) for k, v in out if v]
    proxy = manifest.ghl_proxy
    if proxy is not None and proxy.item == item.id:
        return [(k, v) for k, v in [("Note", proxy.note), ("Required", proxy.required)] if v]
    return [("About", item.description)] if item.description else []


def _areas(manifest: Manifest, run: Run, items: list[ItemStatus]) -> list[AreaStatus]:
    summaries = {a.id: a for a in run.verdict.areas}
    out = []
    for n, area in enumerate(manifest.areas, start=1):
        s = summaries.get(area.id)
        out.append(
            AreaStatus(
                number=n,
                id=area.id,
                title=area.title,
                priority=area.priority,
                state=s.state if s else "NOT STARTED",
                passed=s.passed if s else 0,
                total=s.total if s else 0,
                tally=s.tally if s else Tally(0),
                impact=area.impact,
                timeline=area.timeline.text if area.timeline else "",
                items=[i for i in items if manifest.items_by_id[i.id].area == area.id],
            )
        )
    return out


def _summary(manifest: Manifest, run: Run) -> str:
    rel = manifest.release
    what = re.sub(r"^go/no-go\s+(for\s+)?", "", rel.decision_text, flags=re.IGNORECASE) or "the release"
    blocking = [r for r in run.results if r.severity is Severity.BLOCKING]
    gaps = [r for r in blocking if not r.status.ok]
    titles = _unique(
        manifest.items_by_id[r.item].title for r in gaps if not r.waived and r.item in manifest.items_by_id
    )
    waived = [r for r in gaps if r.waived]
    if run.verdict.decision is Decision.GO:
        text = f"All {len(blocking)} blocking checks pass: GO for {what}."
    elif run.verdict.decision is Decision.CONDITIONAL:
        text = (
            f"Every blocking gap ({len(gaps)}) is covered by a waiver in force: CONDITIONAL GO for {what}, "
            "on condition that each gap is closed before its waiver ends."
        )
    else:
        also = f" ({len(waived)} more waived)" if waived else ""
        text = (
            f"{len(gaps) - len(waived)} of {len(blocking)} blocking checks are not met{also}: NO-GO for {what} "
            f"until they are. Blocked on: {', '.join(titles)}."
        )
    areas = "; ".join(f"{a.title} {a.state} ({a.tally})" for a in run.verdict.areas)
    return f"{text} Areas: {areas}."


def _next_review(planned: date, today: date) -> date:
    """The manifest's review date, rolled forward by whole weeks once it has passed (a weekly checkpoint)."""
    if planned >= today:
        return planned
    return planned + timedelta(weeks=-(-(today - planned).days // 7))


def _mark(cp: Checkpoint) -> CheckpointMark:
    blocking = [r for r in cp.snapshot.get("results", []) if r.get("severity") == Severity.BLOCKING.value]
    passed = sum(1 for r in blocking if Status(r["status"]).ok)
    return CheckpointMark(cp.id, cp.at, cp.title, cp.run_id, str(cp.snapshot.get("verdict", "")), passed, len(blocking))


# ------------------------------------------------------------------------------------------ changes


def _changes(manifest: Manifest, store: Store, run: Run, since: Since, checkpoints: list[Checkpoint]) -> Changes:
    if since is None:
        return Changes("none", None, note="Not compared (no baseline asked for).")
    if since == "checkpoint":
        cp = _previous_checkpoint(store, run, checkpoints)
        if cp is None:
            return Changes("checkpoint", None, note="No earlier checkpoint: `readiness checkpoint` records one.")
        base = Baseline(
            label=f'checkpoint #{cp.id} "{cp.title}" of {cp.at.strftime("%Y-%m-%d %H:%M UTC")}',
            at=cp.at,
            verdict=str(cp.snapshot.get("verdict", "")),
            results={r["id"]: (Status(r["status"]), bool(r.get("waived"))) for r in cp.snapshot.get("results", [])},
            checkpoint_id=cp.id,
        )
        return compare(manifest, base, run.results, since="checkpoint")
    if not isinstance(since, date):
        raise ReadinessError(f"since: expected 'checkpoint', a date or None, got {since!r}")
    cut = datetime(since.year, since.month, since.day, tzinfo=UTC)
    before = _last_run_before(store, min(cut, run.started_at), exclude=run.id)
    if before is None:
        return Changes(since.isoformat(), None, note=f"No run recorded before {since.isoformat()}.")
    base = Baseline(
        label=f"the last run before {since.isoformat()} (`{before.id[:12]}`, {before.started_at:%Y-%m-%d %H:%M} UTC)",
        at=before.started_at,
        verdict=before.verdict.decision.value,
        results={r.id: (r.status, r.waived) for r in before.results},
    )
    return compare(manifest, base, run.results, since=since.isoformat())


def _previous_checkpoint(store: Store, run: Run, checkpoints: list[Checkpoint]) -> Checkpoint | None:
    """The newest checkpoint of a run recorded before ``run`` (checkpoints come newest first); by recording
    order, so a pinned clock (every run starting at one instant) still finds it."""
    seqs = store.run_seqs({cp.run_id for cp in checkpoints} | {run.id})
    for cp in checkpoints:
        if cp.run_id == run.id:
            continue
        if run.id in seqs and cp.run_id in seqs:
            if seqs[cp.run_id] < seqs[run.id]:
                return cp
            continue
        if cp.at <= run.started_at:
            return cp
        other = store.get_run(cp.run_id)  # recorded after this run started: was its run earlier?
        if other is not None and other.started_at < run.started_at:
            return cp
    return None


def _last_run_before(store: Store, cut: datetime, exclude: str) -> Run | None:
    import sqlalchemy as sa

    from checks.storage.schema import RunRecord

    stmt = (
        sa.select(RunRecord.id)
        .where(RunRecord.started_at < cut, RunRecord.id != exclude)
        .order_by(RunRecord.seq.desc())
        .limit(1)
    )
    with store.engine.connect() as conn:
        run_id = conn.scalar(stmt)
    return None if run_id is None else store.get_run(run_id)


def compare(
    manifest: Manifest, baseline: Baseline, results: list[CheckResult], *, since: str = "checkpoint"
) -> Changes:
    """What changed from ``baseline`` to ``results``: newly green, regressed, newly waived, still blocking.

    A regression is a check that passed and no longer does, or was pending and now fails. "Still blocking"
    is every open (unwaived) blocking gap that is not a regression.
    """
    green: list[Change] = []
    regressed: list[Change] = []
    waived: list[Change] = []
    blocking: list[Change] = []
    for r in results:
        before, was_waived = baseline.results.get(r.id, (None, False))
        spec = manifest.checks_by_id.get(r.id)
        title = spec.title if spec and spec.title else r.id
        change = Change(r.id, title, r.item, r.severity, before, r.status, r.result.summary, r.waived)
        worse = before is not None and (
            before.ok or (before is Status.PENDING and r.status in (Status.FAIL, Status.ERROR))
        )
        if r.status.ok and (before is None or not before.ok):
            green.append(change)
        elif not r.status.ok and worse:
            regressed.append(change)
        if r.waived and not was_waived:
            waived.append(change)
        if r.severity is Severity.BLOCKING and not r.status.ok and not r.waived and not worse:
            blocking.append(change)
    return Changes(since, baseline, green, regressed, waived, blocking)


# ---------------------------------------------------------------------------------------- checkpoint


def record_checkpoint(
    manifest: Manifest,
    store: Store,
    run: Run | str | None = None,
    title: str | None = None,
    now: datetime | None = None,
) -> Checkpoint:
    """Freeze ``run`` (default: the latest) with the waivers in force and the latest attestations.

    The snapshot keeps the run's manifest digest; ``title`` defaults to the manifest's review title and date.
    """
    now = now or SystemClock().now()
    the_run = _the_run(store, run)
    title = title or f"{manifest.release.next_review_title or 'Checkpoint'} {now.date().isoformat()}"
    cp_id = store.record_checkpoint(
        the_run.id, now, title, store.waivers(active_at=now), store.latest_attestations(now)
    )
    return next(cp for cp in store.checkpoints() if cp.id == cp_id)


# ------------------------------------------------------------------------------------------ markdown


def day_text(d: date) -> str:
    return f"{d:%b} {d.day}, {d.year}"


def _cell(text: str) -> str:
    return md_text(text)


def _change_line(c: Change, titles: Mapping[str, str]) -> str:
    before = f"{STATUS_ICON[c.before]} {c.before.value}" if c.before else "new"
    return (
        f"- **{titles.get(c.item, c.item)}** `{c.check}` ({c.severity.value}): {before} → "
        f"{STATUS_ICON[c.after]} {c.after.value}{' (waived)' if c.waived else ''}: {_cell(c.summary)}"
    )


MANIFEST_CHANGED = "The manifest has changed since this run; items are described by the current one."


def render_markdown(report: Report) -> str:
    """The report as GitHub-flavoured Markdown with the seed's sections and headings, in the seed's order."""
    r, run = report, report.run
    issue = r.issue_url.rstrip("/").rsplit("/", 1)[-1]
    story = f"[#{issue}]({r.issue_url}) " if r.issue_url and issue.isdigit() else ""
    out = [
        f"# {r.heading}",
        "",
        f"**Release Manager**: {r.release_manager}  ",
        f"**Assessment Date**: {r.assessment_date.isoformat()}  ",
        f"**Story**: {story}{r.story} — {r.title}  ",
        f"**Run**: `{run.id[:12]}` ({run.started_at:%Y-%m-%d %H:%M} UTC, {len(run.results)} checks)",
        "",
        *([f"> **Note**: {MANIFEST_CHANGED}", ""] if r.manifest_changed else []),
        "## Executive Summary",
        "",
        f"**STATUS: {DECISION_ICON[r.decision]} {r.status_line}**",
        "",
        _cell(r.summary),
        "",
    ]
    if r.reasons:
        out += ["**Reasons**:", ""] + [f"- {_cell(reason)}" for reason in r.reasons] + [""]
    out += ["## Detailed Assessment", ""]
    for a in r.areas:
        out += [f"### {a.number}. {a.title}", f"**Status**: {a.icon} {a.status_line}  ", f"**Impact**: {a.impact}  "]
        if a.timeline:
            out.append(f"**Timeline Required**: {a.timeline}")
        out[-1] = out[-1].rstrip()
        out.append("")
        for i in a.items:
            out += [f"#### {i.title}", f"- **Status**: {i.icon} {i.words}"]
            if i.blocks:
                out.append(f"- **Blocks**: {', '.join(i.blocks)}")
            out.append(f"- **Owner**: {i.owner}")
            for label, text in [("Expected Duration", i.expected), ("Mitigation", i.mitigation)]:
                if text:
                    out.append(f"- **{label}**: {text}")
            if i.contingency:
                out.append(f"- **Contingency**: {i.contingency}")
            for label, value in i.details:
                if isinstance(value, list):
                    out += [f"- **{label}**:"] + [f"  - {v}" for v in value]
                else:
                    out.append(f"- **{label}**: {_cell(value)}")
            if i.checks:
                out.append("- **Checks**:")
                for c in i.checks:
                    flag = " (waived)" if c.waived else ""
                    status = f"{STATUS_ICON[c.status]} {c.status.value}{flag}"
                    out.append(f"  - {status} `{c.id}` ({c.severity.value}): {_cell(c.summary)}")
            out.append("")
    out += ["## Risk Analysis", ""]
    for category, heading in [("critical_path", "Critical Path Risks"), ("dependency", "Dependency Risks")]:
        risks = [k for k in r.risks if k.category == category]
        if not risks:
            continue
        out += [f"### {heading}"]
        for n, k in enumerate(risks, start=1):
            state = "in force" if k.in_force else "retired: its items are green"
            text = f": {k.text}" if k.text else ""
            out.append(f"{n}. **{k.title}** ({state}){text}")
            for label, value in [
                ("Mitigation", k.mitigation),
                ("Contingency", k.contingency),
                ("Impact", k.impact),
                ("Resolution", k.resolution),
            ]:
                if value:
                    out.append(f"   - **{label}**: {value}")
            if k.open_items:
                out.append(f"   - **Open**: {', '.join(k.open_items)}")
            out.append("")
    out += ["## Escalations", "", "### In Force"]
    if r.escalations:
        for e in r.escalations:
            what = f": {e.text}" if e.text else ""
            item = r.item_titles.get(e.item, e.item)
            since = e.since.date().isoformat()
            out.append(f"- 🚨 **{e.title or e.rule}** ({item}) since {since}{what}; contact {e.contact}")
    else:
        out.append("None in force.")
    out += ["", "### Escalation Rules"] + [f"- **{t}**: {x} ({c})" for t, x, c in r.escalation_rules]
    out += ["", "### Escalation Contacts"] + [f"- **{n}**: {s}" for n, s in r.contacts] + [""]
    out += ["## Immediate Action Plan", ""]
    titles = {m.id: m for m in r.milestones}
    if not r.actions:
        out += ["Nothing open: every action's items are green.", ""]
    for ms_id in _unique(a.milestone for a in r.actions):
        ms = titles.get(ms_id)
        due = f" (due {day_text(ms.due)})" if ms and ms.due else ""
        out.append(f"### {ms.title if ms else ms_id}{due}")
        for n, act in enumerate([a for a in r.actions if a.milestone == ms_id], start=1):
            urgent = "URGENT - " if act.urgent else ""
            owners = f" (owner: {', '.join(act.owners)})" if act.owners else ""
            out.append(f"{n}. **{urgent}{act.title}**{owners}:")
            out += [f"   - {s}" for s in act.steps]
            if act.open_items:
                out.append(f"   - _Open_: {', '.join(act.open_items)}")
        out.append("")
    out += ["## Success Criteria", ""]
    for ms in r.milestones:
        out.append(f"### {ms.title}")
        out += [f"- [{'x' if c.met else ' '}] {c.text}" for c in ms.criteria]
        out.append("")
    out += _changes_md(r)
    review = f" - {r.next_review_title}" if r.next_review_title else ""
    out += [
        "---",
        "",
        f"**Next Review**: {day_text(r.next_review)}{review}  ",
        f"**Critical Decision Point**: {r.decision_text or 'Go/No-go'} "
        f"({day_text(r.decision_point)}, {r.decision_when})",
        "",
        f"*Assessment regenerated from run `{run.id[:12]}` on {r.generated_at:%Y-%m-%d %H:%M} UTC "
        f"for {r.release_manager}*",
    ]
    return "\n".join(out) + "\n"


def _changes_md(r: Report) -> list[str]:
    ch = r.changes
    heading = "Changes Since Last Checkpoint" if ch.since in ("checkpoint", "none") else f"Changes Since {ch.since}"
    out = [f"## {heading}", ""]
    if ch.baseline is None:
        return [*out, ch.note, ""]
    out += [f"Compared with {ch.baseline.label}: {ch.baseline.verdict} → {r.decision.value}.", ""]
    for title, changes in [
        ("Newly Green", ch.newly_green),
        ("Regressed", ch.regressed),
        ("Newly Waived", ch.newly_waived),
        ("Still Blocking", ch.still_blocking),
    ]:
        out.append(f"### {title}")
        out += [_change_line(c, r.item_titles) for c in changes] or ["None."]
        out.append("")
    return out
