"""Building the checkpoint report from history.

:func:`build_report` gathers a :class:`~checks.presentation.report.Report` as of one run (areas and items in
the seed's words, risks, escalations, actions, criteria, and what changed since the previous checkpoint or a
date); :func:`compare` lists the changes between two sets of results; :func:`record_checkpoint` freezes a run
with the waivers and attestations in force for the weekly meeting.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from checks.core.clock import SystemClock
from checks.core.errors import ReadinessError
from checks.core.manifest import Item, Manifest
from checks.core.result import CheckResult
from checks.core.run import Decision, Run
from checks.core.status import Severity, Status
from checks.core.tally import Tally
from checks.core.verdict import area_state
from checks.presentation.report import (
    ActionStatus,
    AreaStatus,
    Baseline,
    Change,
    Changes,
    CheckLine,
    CheckpointMark,
    ItemStatus,
    MilestoneCriteria,
    Report,
    RiskStatus,
    Since,
)

if TYPE_CHECKING:
    from checks.storage.history import Checkpoint, Store

__all__ = ["build_report", "compare", "record_checkpoint"]


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
