"""What the dashboard shows, as data: pure functions over the manifest, runs and history frames.

Nothing here imports Streamlit or reads the environment, the clock or the disk: every function that
depends on "now" takes it. The pages (``dashboard/``) only lay these out; :mod:`checks.presentation.plots` draws the
frames built here.

* the verdict banner and the time left to the decision point;
* the four area cards in the seed's words (NOT STARTED / PARTIAL / NEEDS VALIDATION / READY);
* blockers (open gaps in blocking checks) grouped by item, with what they block and their owner;
* open escalations with their contacts; each milestone's success criteria, ticked;
* the checks table, one check's last change and sparkline;
* the "current" run: the latest complete sweep with newer single-check re-runs laid over it;
* OAuth apps: attested lifecycle, redirect URIs per environment with their checks, the approval Gantt;
* trends: share of blocking checks passing, the area x time heatmap, time to green per item.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from checks.core.facts import Attestation, Waiver
from checks.core.manifest import Duration, Manifest, OAuthApp
from checks.core.redact import Scrubber
from checks.core.result import CheckResult
from checks.core.run import Decision, Run
from checks.core.status import Severity, Status
from checks.core.tally import Tally
from checks.core.verdict import area_state, decide

if TYPE_CHECKING:
    from checks.storage.history import Checkpoint, RunSummary

__all__ = [
    "AREA_STATES",
    "OAUTH_LIFECYCLE",
    "STATUS_LEVEL",
    "AreaCard",
    "Banner",
    "Blocker",
    "BlockerCheck",
    "CheckpointPoint",
    "CriterionLine",
    "GanttRow",
    "LastChange",
    "Lifecycle",
    "MilestoneView",
    "OpenEscalation",
    "RedirectRow",
    "Stage",
    "TimeLeft",
    "area_cards",
    "attestable_statuses",
    "banner",
    "blockers",
    "blocking_count",
    "blocking_share",
    "box_for_decision",
    "box_for_status",
    "check_table",
    "checkpoint_points",
    "criteria_by_milestone",
    "current_run",
    "expiring_credentials",
    "filter_checks",
    "gantt_rows",
    "heatmap_frame",
    "heatmap_freq",
    "item_results",
    "last_change",
    "oauth_lifecycle",
    "open_escalations",
    "pick_base_run",
    "redirect_rows",
    "scrub_json",
    "sparkline_points",
    "time_left",
    "time_to_green",
]

AREA_STATES = ("NOT STARTED", "PARTIAL", "NEEDS VALIDATION", "READY")
"""The seed's vocabulary, worst first (the heatmap's levels 0-3)."""

STATUS_LEVEL: Mapping[str, int] = {s.value: s.rank for s in Status}
"""Status as a height for sparklines: ``pass`` 5 ... ``error`` 0."""

OAUTH_LIFECYCLE = ("not_created", "created", "configured", "submitted", "approved")
"""An OAuth app's attested lifecycle; ``rejected`` ends it instead of ``approved``."""

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
                    BlockerCheck(r.id, _title(manifest, r.id), r.status.value, r.result.summary, r.result.remediation)
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


def _title(manifest: Manifest, check_id: str) -> str:
    spec = manifest.checks_by_id.get(check_id)
    return spec.title if spec is not None and spec.title else check_id


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


# ----------------------------------------------------------------------------------- current run


def pick_base_run(summaries: Sequence[RunSummary], n_checks: int) -> tuple[str | None, list[str]]:
    """From runs newest first: the newest complete sweep (at least ``n_checks`` results) and the ids of
    the partial runs (``--only``, "re-run this check") recorded after it, oldest first.

    With no complete sweep, the newest run is the base.
    """
    if not summaries:
        return None, []
    newer: list[str] = []
    for s in summaries:
        if s.total >= n_checks:
            return s.id, list(reversed(newer))
        newer.append(s.id)
    return summaries[0].id, []


def current_run(
    manifest: Manifest,
    base: Run,
    rechecks: Sequence[Run],
    *,
    now: datetime,
    waivers: Iterable[Waiver] = (),
    attestations: Mapping[str, Attestation] | None = None,
    status_since: Mapping[str, tuple[Status, datetime]] | None = None,
) -> Run:
    """``base`` with the results of newer partial runs laid over it (newest wins), decided again.

    A single re-run check is recorded as a run of one; shown alone it would read as a verdict on one check.
    Without rechecks, ``base`` is returned as is.
    """
    if not rechecks:
        return base
    merged = {r.id: r for r in base.results}
    for run in rechecks:
        for r in run.results:
            merged[r.id] = r
    order = {c.id: n for n, c in enumerate(manifest.all_checks)}
    results = sorted(merged.values(), key=lambda r: order.get(r.id, len(order)))
    verdict, results = decide(
        manifest, results, now=now, waivers=waivers, attestations=attestations, status_since=status_since
    )
    last = rechecks[-1]
    return replace(
        base,
        results=results,
        verdict=verdict,
        finished_at=max(base.finished_at, last.finished_at),
        trigger=f"{base.trigger} + {len(rechecks)} re-run(s)",
    )


# ----------------------------------------------------------------------------------------- checks


CHECK_COLUMNS = [
    "id",
    "title",
    "item",
    "area",
    "kind",
    "severity",
    "status",
    "waived",
    "summary",
    "observed_at",
    "last_changed",
]


def check_table(manifest: Manifest, run: Run | None, changed: Mapping[str, datetime] | None = None) -> pd.DataFrame:
    """One row per result of ``run``, worst status first, then in manifest order; ``last_changed`` from
    ``changed`` (check -> since)."""
    changed = changed or {}
    rows = []
    if run is not None:
        order = {c.id: n for n, c in enumerate(manifest.all_checks)}
        for r in sorted(run.results, key=lambda r: (r.status.rank, order.get(r.id, len(order)))):
            rows.append(
                {
                    "id": r.id,
                    "title": _title(manifest, r.id),
                    "item": r.item,
                    "area": r.area,
                    "kind": r.kind,
                    "severity": r.severity.value,
                    "status": r.status.value,
                    "waived": r.waived,
                    "summary": r.result.summary,
                    "observed_at": r.result.observed_at,
                    "last_changed": changed.get(r.id),
                }
            )
    frame = pd.DataFrame(rows, columns=CHECK_COLUMNS)
    for name in ("observed_at", "last_changed"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame


def filter_checks(
    frame: pd.DataFrame,
    areas: Iterable[str] = (),
    statuses: Iterable[str] = (),
    severities: Iterable[str] = (),
) -> pd.DataFrame:
    """Rows whose area, status and severity are among those given (an empty selection keeps all)."""
    keep = pd.Series(True, index=frame.index)
    for column, wanted in (("area", areas), ("status", statuses), ("severity", severities)):
        values = list(wanted)
        if values:
            keep &= frame[column].isin(values)
    return frame[keep].reset_index(drop=True)


@dataclass(frozen=True)
class LastChange:
    status: str
    since: datetime
    """Start of the current unbroken streak of ``status`` (the run's start)."""
    previous: str | None
    """The status before the streak, None when the check never had another."""
    runs: int
    """Runs in the streak."""


def last_change(history: pd.DataFrame) -> LastChange | None:
    """When a check last changed status, from its :func:`~checks.storage.history.check_frame` (oldest first)."""
    if history.empty:
        return None
    statuses = history["status"].tolist()
    times = history["started_at"].tolist()
    current = statuses[-1]
    n = len(statuses) - 1
    while n > 0 and statuses[n - 1] == current:
        n -= 1
    previous = statuses[n - 1] if n > 0 else None
    return LastChange(str(current), pd.Timestamp(times[n]).to_pydatetime(), previous, len(statuses) - n)


def sparkline_points(history: pd.DataFrame, limit: int = 60) -> pd.DataFrame:
    """The last ``limit`` results of one check: ``started_at``, ``status``, ``level`` (pass 5 ... error 0)."""
    tail = history.tail(limit)
    return pd.DataFrame(
        {
            "started_at": tail["started_at"].to_numpy(),
            "status": tail["status"].astype(str).to_numpy(),
            "level": tail["status"].map(STATUS_LEVEL).fillna(0).astype(int).to_numpy(),
        }
    )


def scrub_json(value: Any, scrubber: Scrubber) -> Any:
    """``value`` (evidence) with every string passed through ``scrubber``: a second guard before a page."""
    if isinstance(value, str):
        return scrubber(value)
    if isinstance(value, Mapping):
        return {str(k): scrub_json(v, scrubber) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_json(v, scrubber) for v in value]
    return value


def item_results(manifest: Manifest, item: str, run: Run | None) -> list[CheckResult]:
    """The run's results for the checks of ``item``, in manifest order."""
    if run is None:
        return []
    ids = {c.id for c in manifest.checks_for_items([item])}
    return [r for r in run.results if r.id in ids]


def attestable_statuses(manifest: Manifest, item: str) -> list[str]:
    """Statuses worth attesting for ``item``: its OAuth lifecycle, what its manual checks and escalation
    rules react to, in that order, without repeats."""
    out: list[str] = []
    if any(app.item == item for app in manifest.oauth_apps.values()):
        out += [*OAUTH_LIFECYCLE, "rejected"]
    for check in manifest.all_checks:
        if check.kind != "manual" or (check.params.get("attest") or check.item) != item:
            continue
        for key in ("pending_on", "warn_on", "pass_on"):
            out += [str(s) for s in check.params.get(key, [])]
    for rule in manifest.escalations:
        if item in rule.items:
            out += rule.when.attested
    return list(dict.fromkeys(out))


# ---------------------------------------------------------------------------------------- OAuth


@dataclass(frozen=True)
class Stage:
    status: str
    reached: bool
    since: date | None = None
    """When the state began (the attestation's effective date, else when it was recorded)."""
    by: str = ""
    note: str = ""


@dataclass(frozen=True)
class Lifecycle:
    key: str
    provider: str
    title: str
    item: str
    current: str
    """The latest attested status, ``not_created`` when nothing is attested."""
    since: date | None
    stages: list[Stage]
    history: list[Attestation]


def oauth_lifecycle(manifest: Manifest, key: str, attestations: Sequence[Attestation]) -> Lifecycle:
    """The attested lifecycle of ``[oauth_apps.<key>]``: not_created → created → (configured) → submitted →
    approved, or rejected. A later stage marks the earlier ones reached even when never attested."""
    app = manifest.oauth_apps[key]
    mine = sorted((a for a in attestations if a.item == app.item), key=lambda a: (a.at, a.id or 0))
    first: dict[str, Attestation] = {}
    for a in mine:
        first.setdefault(a.status, a)
    current = mine[-1].status if mine else "not_created"
    end = "rejected" if current == "rejected" else "approved"
    order = [s for s in OAUTH_LIFECYCLE if s != "approved"] + [end]
    if "configured" not in first:
        order.remove("configured")
    reached_at = max((order.index(s) for s in first if s in order), default=0)
    stages = []
    for n, status in enumerate(order):
        att = first.get(status)
        stages.append(
            Stage(
                status=status,
                reached=n <= reached_at,
                since=att.since.date() if att else None,
                by=att.by if att else "",
                note=att.note if att else "",
            )
        )
    return Lifecycle(
        key=key,
        provider=app.provider,
        title=app.title,
        item=app.item,
        current=current,
        since=mine[-1].since.date() if mine else None,
        stages=stages,
        history=mine,
    )


@dataclass(frozen=True)
class RedirectRow:
    environment: str
    uri: str
    check: str | None
    """The check that probes this URI (kind with ``params.environment``), if the manifest has one."""
    status: str | None
    summary: str


def redirect_rows(manifest: Manifest, key: str, run: Run | None) -> list[RedirectRow]:
    """Each redirect URI of the app with the status of the check probing it, when there is one."""
    app = manifest.oauth_apps[key]
    results = {r.id: r for r in run.results} if run is not None else {}
    out = []
    for ru in app.redirect_uris:
        spec = next(
            (
                c
                for c in manifest.checks_for_items([app.item])
                if c.params.get("environment") == ru.environment and c.params.get("app", key) == key
            ),
            None,
        )
        result = results.get(spec.id) if spec is not None else None
        out.append(
            RedirectRow(
                environment=ru.environment,
                uri=ru.uri,
                check=spec.id if spec is not None else None,
                status=result.status.value if result is not None else None,
                summary=result.result.summary if result is not None else ("not run yet" if spec else "no probe"),
            )
        )
    return out


@dataclass(frozen=True)
class GanttRow:
    app: str
    """The app's title: the Gantt's row."""
    phase: str
    start: datetime
    finish: datetime
    kind: str
    """``expected`` (the manifest's duration), ``attested`` (both ends attested) or ``ongoing`` (ends now)."""
    detail: str = ""


def _days(duration: Duration, bound: float) -> timedelta:
    factor = {"hours": 1 / 24, "days": 1.0, "business_days": 7 / 5, "weeks": 7.0}[duration.unit]
    return timedelta(days=bound * factor)


def _app_duration(manifest: Manifest, app: OAuthApp) -> Duration | None:
    item = manifest.items_by_id.get(app.item)
    return app.approval_duration or (item.expected if item else None)


def gantt_rows(manifest: Manifest, attestations: Sequence[Attestation], now: datetime) -> list[GanttRow]:
    """Per OAuth app: setup (created → submitted), approval (submitted → approved/rejected, or ongoing) from
    the attestations, and the expected approval window from the manifest, counted from the submission (or
    from ``now`` as a projection while not submitted)."""
    rows: list[GanttRow] = []
    for app in manifest.oauth_apps.values():
        mine = sorted((a for a in attestations if a.item == app.item), key=lambda a: (a.at, a.id or 0))
        created = next((a.since for a in mine if a.status in ("created", "configured", "submitted")), None)
        submitted = next((a.since for a in mine if a.status == "submitted"), None)
        decided = next(
            (a for a in mine if a.status in ("approved", "rejected") and (submitted is None or a.since >= submitted)),
            None,
        )
        if created is not None:
            end = submitted or (decided.since if decided else None)
            rows.append(
                GanttRow(
                    app.title,
                    "setup",
                    created,
                    end or now,
                    "attested" if end else "ongoing",
                    "created → submitted" if end else "created, not yet submitted",
                )
            )
        if submitted is not None:
            end = decided.since if decided else None
            rows.append(
                GanttRow(
                    app.title,
                    "approval",
                    submitted,
                    end or now,
                    "attested" if end else "ongoing",
                    f"submitted → {decided.status}" if decided else "submitted, waiting for approval",
                )
            )
        duration = _app_duration(manifest, app)
        if duration is not None:
            anchor = submitted or now
            rows.append(
                GanttRow(
                    app.title,
                    "expected approval",
                    anchor + _days(duration, duration.min),
                    anchor + _days(duration, duration.max),
                    "expected",
                    f"{duration.text} after submission" + ("" if submitted else " (if submitted now)"),
                )
            )
    return rows


# ---------------------------------------------------------------------------------------- trends


@dataclass(frozen=True)
class CheckpointPoint:
    at: datetime
    title: str
    share: float
    """Blocking checks passing in the checkpoint's snapshot, percent."""
    verdict: str


def blocking_share(runs: pd.DataFrame) -> pd.DataFrame:
    """From :func:`~checks.storage.history.runs_frame`: ``started_at``, ``share`` (% of blocking checks passing),
    ``verdict``, for runs with any blocking check."""
    keep = runs[runs["blocking_total"] > 0]
    return pd.DataFrame(
        {
            "started_at": keep["started_at"].to_numpy(),
            "share": (100.0 * keep["blocking_passed"] / keep["blocking_total"]).astype(float).to_numpy(),
            "verdict": keep["verdict"].astype(str).to_numpy(),
        }
    )


def checkpoint_points(checkpoints: Sequence[Checkpoint]) -> list[CheckpointPoint]:
    """Each checkpoint (oldest first) with the share of blocking checks passing in its snapshot."""
    out = []
    for cp in sorted(checkpoints, key=lambda c: c.at):
        results = cp.snapshot.get("results", [])
        blocking = [r for r in results if r.get("severity") == Severity.BLOCKING.value]
        if not blocking:
            continue
        passed = sum(1 for r in blocking if Status(r["status"]).ok)
        out.append(CheckpointPoint(cp.at, cp.title, 100.0 * passed / len(blocking), str(cp.snapshot.get("verdict"))))
    return out


_OK_VALUES = [s.value for s in Status if s.ok]


def heatmap_freq(first: datetime, last: datetime) -> str:
    """A bucket size for the heatmap that keeps it readable: hours over a few days, days up to four months,
    weeks beyond."""
    span = last - first
    if span <= timedelta(days=3):
        return "h"
    return "D" if span <= timedelta(days=120) else "7D"


def heatmap_frame(results: pd.DataFrame, manifest: Manifest, freq: str = "D") -> pd.DataFrame:
    """Area x time in the seed's words, from :func:`~checks.storage.history.results_frame`.

    One row per time bucket (``freq``, a pandas offset alias) and area, from the bucket's last run:
    ``bucket``, ``area``, ``title``, ``state``, ``level`` (0 NOT STARTED ... 3 READY), ``passed``, ``total``.
    """
    columns = ["bucket", "area", "title", "state", "level", "passed", "total"]
    if results.empty:
        return pd.DataFrame(columns=columns)
    status = results["status"]
    frame = pd.DataFrame(
        {
            "run_id": results["run_id"],
            "started_at": results["started_at"],
            "area": results["area"],
            "ok": status.isin(_OK_VALUES),
            "waiting": status.isin([Status.PENDING.value, Status.SKIPPED.value]),
            "pending": status == Status.PENDING.value,
        }
    )
    per = frame.groupby(["run_id", "area"], sort=False).agg(
        started_at=("started_at", "first"),
        passed=("ok", "sum"),
        total=("ok", "size"),
        waiting=("waiting", "sum"),
        pending=("pending", "sum"),
    )
    per = per.reset_index()
    gaps = per["total"] - per["passed"]
    level = pd.Series(1, index=per.index)  # PARTIAL
    level[(per["passed"] == 0) & (per["pending"] == 0)] = 0
    level[(gaps > 0) & (gaps == per["waiting"])] = 2
    level[gaps == 0] = 3
    per["level"] = level
    per["bucket"] = per["started_at"].dt.floor(freq)
    per = per.sort_values("started_at", kind="stable").drop_duplicates(["bucket", "area"], keep="last")
    titles = {a.id: a.title for a in manifest.areas}
    rank = {a.id: n for n, a in enumerate(manifest.areas)}
    per["title"] = per["area"].map(lambda a: titles.get(a, a))
    per["state"] = per["level"].map(lambda n: AREA_STATES[int(n)])
    per["order"] = per["area"].map(lambda a: rank.get(a, len(rank)))
    per = per.sort_values(["order", "bucket"], kind="stable")
    out = per[columns].reset_index(drop=True)
    out["passed"] = out["passed"].astype("int64")
    out["total"] = out["total"].astype("int64")
    out["level"] = out["level"].astype("int64")
    return out


def time_to_green(results: pd.DataFrame, manifest: Manifest, now: datetime) -> pd.DataFrame:
    """Per item, from :func:`~checks.storage.history.results_frame`: how long it took (or is taking) to turn green.

    Columns: ``item``, ``title``, ``area``, ``first_seen`` (its first run), ``green_since`` (the start of its
    current green streak, NaT when not green now), ``green`` (bool), ``days`` (first seen to green, or to
    ``now`` while not green). An item is green in a run when all its checks pass (``pass`` or ``warn``).
    Manifest order.
    """
    columns = ["item", "title", "area", "first_seen", "green_since", "green", "days"]
    if results.empty:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(
        {
            "run_id": results["run_id"],
            "started_at": results["started_at"],
            "item": results["item"],
            "ok": results["status"].isin(_OK_VALUES),
        }
    )
    per = (
        frame.groupby(["run_id", "item"], sort=False)
        .agg(started_at=("started_at", "first"), green=("ok", "all"))
        .reset_index()
        .sort_values("started_at", kind="stable")
    )
    first_seen = per.groupby("item")["started_at"].min()
    latest = per.groupby("item")["green"].last()
    last_red = per[~per["green"]].groupby("item")["started_at"].max()
    after = per.merge(last_red.rename("last_red"), left_on="item", right_index=True, how="left")
    after = after[after["green"] & (after["last_red"].isna() | (after["started_at"] > after["last_red"]))]
    green_since = after.groupby("item")["started_at"].min()
    rows = []
    now_ts = pd.Timestamp(now)
    for item in manifest.items:
        if item.id not in first_seen.index:
            continue
        seen = first_seen[item.id]
        green = bool(latest[item.id])
        since = green_since.get(item.id) if green else pd.NaT
        end = since if green else now_ts
        rows.append(
            {
                "item": item.id,
                "title": item.title,
                "area": item.area,
                "first_seen": seen,
                "green_since": since,
                "green": green,
                "days": max(0.0, (end - seen).total_seconds() / 86400),
            }
        )
    out = pd.DataFrame(rows, columns=columns)
    for name in ("first_seen", "green_since"):
        out[name] = pd.to_datetime(out[name], utc=True)
    out["green"] = out["green"].astype(bool)
    out["days"] = out["days"].astype(float)
    return out


def expiring_credentials(creds: pd.DataFrame, now: datetime, within: timedelta = timedelta(hours=24)) -> pd.DataFrame:
    """Active credentials (a frame with ``state`` and ``expires_at``) expiring within ``within`` of ``now``,
    soonest first; already expired ones included."""
    if creds.empty:
        return creds
    at = pd.to_datetime(creds["expires_at"], utc=True)
    keep = (creds["state"] == "active") & at.notna() & (at <= pd.Timestamp(now + within))
    return creds[keep].assign(expires_at=at[keep]).sort_values("expires_at").reset_index(drop=True)
